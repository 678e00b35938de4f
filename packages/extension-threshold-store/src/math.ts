/**
 * The threshold methods, on scores sorted ascending. Every sum runs in sorted order, so two
 * replicas holding the same scores compute the same bits whatever order the scores came in.
 */

export type ThresholdMethod = 'percentile' | 'stddev' | 'mad';

export const THRESHOLD_METHODS: readonly ThresholdMethod[] = ['percentile', 'stddev', 'mad'];

/** How a cluster's threshold is computed from its active scores. */
export interface ThresholdParams {
  method: ThresholdMethod;
  /** Multiplier of σ (`stddev`) or of 1.4826·MAD (`mad`). */
  k: number;
  /** Percentile, 0–100 (`percentile`). */
  p: number;
  /** Active nodes needed before a cluster has a threshold (the quorum). */
  statisticalMin: number;
}

export const DEFAULT_PARAMS: Readonly<ThresholdParams> = Object.freeze({ method: 'mad', k: 3, p: 5, statisticalMin: 10 });

/** Makes MAD a consistent estimator of σ for normally distributed scores. */
export const MAD_SCALE = 1.4826;

/** The threshold of `sorted` (ascending, at least one score) under `params`. */
export function thresholdOf(sorted: Float64Array, params: ThresholdParams): number {
  switch (params.method) {
    case 'percentile':
      return percentileOf(sorted, params.p);
    case 'stddev':
      return stddevThreshold(sorted, params.k);
    case 'mad':
      return madThreshold(sorted, params.k);
  }
}

/** The p-th percentile, interpolating linearly between the closest ranks (numpy's default, R type 7). */
export function percentileOf(sorted: Float64Array, p: number): number {
  const h = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function medianOf(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** mean − k·σ, with σ the population standard deviation (the fleet is all the nodes, not a sample). */
export function stddevThreshold(sorted: Float64Array, k: number): number {
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const d = sorted[i]! - mean;
    squares += d * d;
  }
  return mean - k * Math.sqrt(squares / n);
}

/** median − k·1.4826·MAD, MAD being the median of the absolute deviations from the median. */
export function madThreshold(sorted: Float64Array, k: number): number {
  const median = medianOf(sorted);
  return median - k * MAD_SCALE * medianDeviation(sorted, median);
}

/**
 * The median of |x − median| in O(n) without sorting again: below the median the deviations
 * grow walking left, above it walking right, so two sorted runs merge up to the middle.
 */
export function medianDeviation(sorted: Float64Array, median: number): number {
  const n = sorted.length;
  let split = 0;
  while (split < n && sorted[split]! < median) split++;
  let left = split - 1;
  let right = split;
  const want = n >> 1;
  let previous = 0;
  for (let taken = 0; ; taken++) {
    const dl = left >= 0 ? median - sorted[left]! : Infinity;
    const dr = right < n ? sorted[right]! - median : Infinity;
    const d = dl <= dr ? dl : dr;
    if (dl <= dr) left--;
    else right++;
    if (taken === want) return n % 2 === 1 ? d : (previous + d) / 2;
    previous = d;
  }
}
