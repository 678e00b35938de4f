/**
 * Nanosecond timestamps live here and nowhere else. They are `bigint`: exact for the whole
 * int64 range OTLP uses, and cheap enough on the hot path (bench/core/timestamps.bench.ts
 * compares it with a millisecond-plus-remainder pair).
 */

const NS_PER_MS = 1_000_000n;
const hrtimeOrigin = process.hrtime.bigint();
const wallOrigin = BigInt(Date.now()) * NS_PER_MS;

/** The current time in nanoseconds since the Unix epoch, monotonic within a process. */
export function nowUnixNano(): bigint {
  return wallOrigin + (process.hrtime.bigint() - hrtimeOrigin);
}

/** Milliseconds since the epoch (a JS Date's unit) to nanoseconds. */
export function millisToNanos(ms: number): bigint {
  const whole = Math.trunc(ms);
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6));
}

/** Nanoseconds to whole milliseconds, truncating (Prometheus sample timestamps). */
export function nanosToMillis(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}

/** Nanoseconds to seconds as a float (for durations and `_created`). */
export function nanosToSeconds(ns: bigint): number {
  return Number(ns) / 1e9;
}
