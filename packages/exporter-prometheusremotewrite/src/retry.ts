/** When to try a failed request again. */

/**
 * The wait before retry number `attempt` (0 for the first): `min × 2^attempt`, capped at `max`,
 * of which the upper half is random ("equal jitter"), so shards that failed together do not
 * retry together, and every wait is at least half the un-jittered one.
 */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const full = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 52));
  return full / 2 + (random() * full) / 2;
}

/**
 * A `Retry-After` value in milliseconds from `nowMs`: delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`); a date in the past is 0. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** 5xx and 429 are worth retrying; every other 4xx will fail again (the remote-write spec). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}
