/**
 * The two ways a bench measures, both bounded in count and in time:
 * `time()` asks mitata for the cost of one call; `drive()` runs a load loop and counts.
 */
import { do_not_optimize, measure } from 'mitata';

export { do_not_optimize };

export interface Timing {
  name: string;
  /** Mean nanoseconds per call, over samples with the two fastest and slowest trimmed. */
  avgNs: number;
  p50Ns: number;
  p99Ns: number;
  /** Calls made (mitata batches fast calls 4,096 to a sample). */
  calls: number;
}

/**
 * Caps on one `time()`: a warm-up of `warmUpCalls` calls or `warmUpMs`, whichever ends first
 * (so the JIT has settled before sampling starts), then sampling until `minCpuMs` of samples
 * or `maxSamples`, whichever comes first (and at least 12 samples).
 */
export const TIME_LIMITS = { warmUpCalls: 20_000, warmUpMs: 200, minCpuMs: 600, maxSamples: 100_000 } as const;

// Without --expose-gc mitata falls back to allocating 1 GiB to provoke a collection; skip it.
const gc = typeof globalThis.gc === 'function' ? () => globalThis.gc!() : false;

/** Nanoseconds per call of `fn` (sync or async). */
export async function time(name: string, fn: () => unknown, opts: { minCpuMs?: number } = {}): Promise<Timing> {
  await drive(async () => fn(), { count: TIME_LIMITS.warmUpCalls, maxMs: TIME_LIMITS.warmUpMs });
  const s = await measure(fn, {
    min_cpu_time: (opts.minCpuMs ?? TIME_LIMITS.minCpuMs) * 1e6,
    max_samples: TIME_LIMITS.maxSamples,
    gc,
  });
  return { name, avgNs: s.avg, p50Ns: s.p50, p99Ns: s.p99, calls: s.ticks };
}

export interface Drive {
  iterations: number;
  elapsedNs: number;
}

/**
 * Awaits `step(i)` one after another until `count` iterations or `maxMs` have passed,
 * whichever comes first. The clock is read every 64 iterations so that reading it costs
 * next to nothing.
 */
export async function drive(step: (i: number) => Promise<unknown>, limit: { count: number; maxMs: number }): Promise<Drive> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(limit.maxMs) * 1_000_000n;
  let i = 0;
  while (i < limit.count) {
    await step(i);
    i++;
    if ((i & 63) === 0 && process.hrtime.bigint() >= deadline) break;
  }
  return { iterations: i, elapsedNs: Number(process.hrtime.bigint() - start) };
}
