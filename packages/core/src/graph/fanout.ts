import type { Consumer, RequestContext } from '../consumer.ts';
import { ConsumerError, isRetryable, permanentError, retryableError } from '../errors.ts';
import { cloneBatch } from '../metrics/iterate.ts';
import type { MetricsBatch } from '../metrics/model.ts';

/** Combines the refusals of several consumers into one: permanent if any was. */
export function combineRefusals(errors: unknown[]): ConsumerError {
  if (errors.length === 1 && errors[0] instanceof ConsumerError) return errors[0];
  const messages = errors.map((e) => (e instanceof Error ? e.message : String(e)));
  const message = messages.join('; ');
  if (errors.every(isRetryable)) {
    const waits = errors.map((e) => (e instanceof ConsumerError ? (e.retryAfterMs ?? 0) : 0));
    const retryAfterMs = Math.max(...waits) || undefined;
    const first = errors.find((e) => e instanceof ConsumerError) as ConsumerError | undefined;
    return retryableError(message, { retryAfterMs, reason: first?.reason });
  }
  const first = errors.find((e) => !isRetryable(e)) as ConsumerError;
  return permanentError(message, { reason: first.reason });
}

/**
 * Sends each batch to every consumer. Consumers that only read share the batch; each
 * consumer that mutates gets its own copy, except that when all of them mutate the last
 * one takes the original. Resolves when all accepted; otherwise rejects with the combined
 * refusal (the others may still have accepted: delivery is at least once).
 */
export function fanout(consumers: readonly Consumer[]): Consumer {
  if (consumers.length === 1) return consumers[0]!;
  const mutates = consumers.map((c) => c.mutatesData === true);
  const allMutate = mutates.every(Boolean);
  return {
    mutatesData: mutates.some(Boolean),
    async consume(batch: MetricsBatch, ctx: RequestContext): Promise<void> {
      const last = consumers.length - 1;
      const calls = consumers.map((c, i) => {
        const own = mutates[i] && !(allMutate && i === last) ? cloneBatch(batch) : batch;
        return c.consume(own, ctx);
      });
      const results = await Promise.allSettled(calls);
      const errors = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
      if (errors.length > 0) throw combineRefusals(errors);
    },
  };
}
