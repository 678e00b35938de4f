/**
 * The ways a bench measures, all bounded in count and in time: `time()` asks mitata for the
 * cost of one call; `compare()` times several calls against a baseline in interleaved rounds;
 * `drive()` runs a load loop and counts.
 */
import { do_not_optimize, measure } from 'mitata';

export { do_not_optimize };

export interface Timing {
  name: string;
  /** Mean nanoseconds per call, over samples with the two fastest and slowest trimmed. */
  avgNs: number;
  p50Ns: number;
  p99Ns: number;
  /** Calls made (calls under 65 µs are timed 1,024 to a sample). */
  calls: number;
}

/**
 * Caps on one `time()`: a warm-up of `warmUpCalls` calls or `warmUpMs`, whichever ends first
 * (so the JIT has settled before sampling starts), then sampling until `minCpuMs` of samples
 * or `maxSamples`, whichever comes first (and at least 12 samples).
 */
export const TIME_LIMITS = { warmUpCalls: 20_000, warmUpMs: 200, minCpuMs: 600, maxSamples: 100_000, callsPerSample: 1024 } as const;

// Without --expose-gc mitata falls back to allocating 1 GiB to provoke a collection; skip it.
const gc = typeof globalThis.gc === 'function' ? () => globalThis.gc!() : false;

function warmUp(fn: () => unknown): Promise<Drive> {
  return drive(async () => fn(), { count: TIME_LIMITS.warmUpCalls, maxMs: TIME_LIMITS.warmUpMs });
}

async function sample(name: string, fn: () => unknown, minCpuMs: number): Promise<Timing> {
  const s = await measure(fn, {
    min_cpu_time: minCpuMs * 1e6,
    max_samples: TIME_LIMITS.maxSamples,
    // Calls under 65 µs are timed in batches; mitata's 4,096 a batch makes 12 samples of a
    // 10 µs call take half a second.
    batch_samples: TIME_LIMITS.callsPerSample,
    gc,
  });
  return { name, avgNs: s.avg, p50Ns: s.p50, p99Ns: s.p99, calls: s.ticks };
}

/** Nanoseconds per call of `fn` (sync or async). */
export async function time(name: string, fn: () => unknown, opts: { minCpuMs?: number } = {}): Promise<Timing> {
  await warmUp(fn);
  return sample(name, fn, opts.minCpuMs ?? TIME_LIMITS.minCpuMs);
}

/** `compare()` runs `rounds` rounds of `minCpuMs` per function (after the usual warm-up). */
export const COMPARE_LIMITS = { rounds: 5, minCpuMs: 150 } as const;

export interface Compared {
  /** Per function, in order: its round with the median p50 (`calls` counts every round). */
  timings: Timing[];
  /** Per function: the median over rounds of its p50 ÷ the baseline's p50 in the same round. */
  ratios: number[];
}

/**
 * Times each function against the first (the baseline) in interleaved rounds, baseline, a,
 * b, baseline, a, b, …, and takes each ratio within a round. On a shared machine load comes
 * and goes; this way it spoils a round, not the figure.
 */
export async function compare(fns: { name: string; fn: () => unknown }[], opts: { rounds?: number; minCpuMs?: number } = {}): Promise<Compared> {
  const rounds = opts.rounds ?? COMPARE_LIMITS.rounds;
  for (const f of fns) await warmUp(f.fn);
  const runs: Timing[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) runs[i]!.push(await sample(fns[i]!.name, fns[i]!.fn, opts.minCpuMs ?? COMPARE_LIMITS.minCpuMs));
  }
  const timings = runs.map((ts) => {
    const mid = [...ts].sort((a, b) => a.p50Ns - b.p50Ns)[ts.length >> 1]!;
    return { ...mid, calls: ts.reduce((n, t) => n + t.calls, 0) };
  });
  const ratios = runs.map((ts) => median(ts.map((t, r) => t.p50Ns / runs[0]![r]!.p50Ns)));
  return { timings, ratios };
}

export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
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
