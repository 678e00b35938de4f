/**
 * The threshold methods. Two replicas holding the same scores must compute the same bits
 * whatever order the scores came in, so every result is a function of the multiset alone:
 * order statistics are exact, and sums are exact sums rounded once (`exactSum`).
 *
 * `thresholdOfScores` is what the store runs: O(n) selection on the scores as they lie, not a
 * sort. The functions on sorted scores (`thresholdOf`, `percentileOf`, `madThreshold`, …) give
 * the same results and are kept for callers that hold a sorted array.
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

/**
 * mean − k·σ, with σ the population standard deviation (the fleet is all the nodes, not a
 * sample). The scores need not be sorted: both sums are exact.
 */
export function stddevThreshold(scores: Float64Array, k: number): number {
  return stddevInPlace(Float64Array.from(scores), k);
}

/** `stddevThreshold`, overwriting `scores` with their squared deviations. */
function stddevInPlace(scores: Float64Array, k: number): number {
  const n = scores.length;
  const mean = exactSum(scores) / n;
  for (let i = 0; i < n; i++) {
    const d = scores[i]! - mean;
    scores[i] = d * d;
  }
  return mean - k * Math.sqrt(exactSum(scores) / n);
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

/**
 * The threshold of `scores` (at least one, in any order) under `params`, equal to
 * `thresholdOf` on the same scores sorted. O(n): the scores are reordered in place by
 * selection (and, for `mad`, overwritten by their deviations).
 */
export function thresholdOfScores(scores: Float64Array, params: ThresholdParams): number {
  const n = scores.length;
  switch (params.method) {
    case 'percentile': {
      const h = ((n - 1) * params.p) / 100;
      const lo = Math.floor(h);
      const low = selectInPlace(scores, lo);
      // Past `lo` every score is at least `low`: the next rank is their minimum.
      const high = lo + 1 < n ? minOf(scores, lo + 1, n) : low;
      return low + (h - lo) * (high - low);
    }
    case 'stddev':
      return stddevInPlace(scores, params.k);
    case 'mad': {
      const median = medianInPlace(scores);
      for (let i = 0; i < n; i++) scores[i] = Math.abs(scores[i]! - median);
      return median - params.k * MAD_SCALE * medianInPlace(scores);
    }
  }
}

/** The median of `a` (reordered in place). */
function medianInPlace(a: Float64Array): number {
  const n = a.length;
  const mid = n >> 1;
  const upper = selectInPlace(a, mid);
  return n % 2 === 1 ? upper : (maxOf(a, 0, mid) + upper) / 2;
}

function minOf(a: Float64Array, from: number, to: number): number {
  let m = a[from]!;
  for (let i = from + 1; i < to; i++) if (a[i]! < m) m = a[i]!;
  return m;
}

function maxOf(a: Float64Array, from: number, to: number): number {
  let m = a[from]!;
  for (let i = from + 1; i < to; i++) if (a[i]! > m) m = a[i]!;
  return m;
}

/**
 * The value of rank `k` (0-based) of `a`, reordering `a` so that what lies before `k` is no
 * greater and what lies after is no smaller. Quickselect with a median-of-three pivot and a
 * partition that splits runs of equal scores evenly; a range that will not shrink (scores
 * arranged against the pivot rule) is sorted instead, so the worst case is O(n log n).
 */
export function selectInPlace(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let budget = 2 * Math.ceil(Math.log2(a.length + 1)) + 4;
  while (hi > lo) {
    if (--budget < 0) {
      a.subarray(lo, hi + 1).sort();
      return a[k]!;
    }
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    // Now a[lo..j] <= pivot, a[i..hi] >= pivot, and anything between equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * The sum of `values`, exactly rounded: the same bits whatever their order. The running sum is
 * kept as non-overlapping partial sums that are together exact (each addition's rounding error
 * becomes a partial of its own); at the end they are added from the largest down, with the
 * one correction that rounding half-way cases needs. Scores rarely need more than two or three
 * partials, so this costs a few additions per value.
 */
export function exactSum(values: Float64Array): number {
  let partials = new Float64Array(32);
  let n = 0;
  for (let v = 0; v < values.length; v++) {
    let x = values[v]!;
    let kept = 0;
    for (let j = 0; j < n; j++) {
      let y = partials[j]!;
      if (Math.abs(x) < Math.abs(y)) {
        const t = x;
        x = y;
        y = t;
      }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[kept++] = lo;
      x = hi;
    }
    if (kept === partials.length) {
      const grown = new Float64Array(2 * kept);
      grown.set(partials);
      partials = grown;
    }
    partials[kept] = x;
    n = kept + 1;
  }
  if (n === 0) return 0;
  let hi = partials[--n]!;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n]!;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  // `hi + lo` is exact; when `lo` is half an ulp of `hi` and the partials below point the
  // same way, the true sum is past half-way and rounds the other way.
  if (n > 0 && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}
