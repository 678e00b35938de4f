/**
 * OTLP exponential histogram points to Prometheus native histograms. The two index buckets
 * differently: OTLP bucket `i` holds (base^i, base^(i+1)], Prometheus bucket `i` holds
 * (base^(i-1), base^i], so a bucket's Prometheus index is its OTLP index + 1.
 */
import type { ExponentialBuckets, ExponentialHistogramDataPoint } from '@skein/core';
import { nanosToMillis } from '@skein/core';
import { STALE_NAN } from './stale.ts';
import type { BucketSpan, NativeHistogram } from './types.ts';

/** The schemas Prometheus accepts. */
export const MIN_SCHEMA = -4;
export const MAX_SCHEMA = 8;
/** Used when the point does not set one (OTLP's 0 reads as "unset"), as the spec says. */
export const DEFAULT_ZERO_THRESHOLD = 1e-128;

/**
 * Absolute counts to spans and deltas: each run of consecutive non-empty buckets is a span whose
 * offset is the gap since the previous span (for the first, the index of its first bucket);
 * deltas are each count minus the previous non-empty count, the first from zero. With
 * `scaleDown` > 0 every 2^scaleDown neighbouring OTLP buckets are merged first.
 */
export function bucketsToSpans(buckets: ExponentialBuckets, scaleDown: number): { spans: BucketSpan[]; deltas: number[] } {
  const spans: BucketSpan[] = [];
  const deltas: number[] = [];
  const counts = buckets.bucketCounts;
  let prevCount = 0;
  let lastIndex = 0; // the Prometheus index of the last bucket written
  // The Prometheus index of OTLP bucket `i` once merged down (floor division by 2^scaleDown).
  const target = (i: number) => ((buckets.offset + i) >> scaleDown) + 1;
  let i = 0;
  while (i < counts.length) {
    const index = target(i);
    let count = 0;
    while (i < counts.length && target(i) === index) count += counts[i++]!;
    if (count === 0) continue;
    const span = spans[spans.length - 1];
    if (span !== undefined && index === lastIndex + 1) {
      span.length++;
    } else {
      spans.push({ offset: span === undefined ? index : index - lastIndex - 1, length: 1 });
    }
    deltas.push(count - prevCount);
    prevCount = count;
    lastIndex = index;
  }
  return { spans, deltas };
}

/**
 * The native histogram of one cumulative point, or undefined when its scale is below what
 * Prometheus takes (scales above 8 are merged down to 8). A stale point has sum STALE_NAN,
 * count 0 and no buckets, the form Prometheus gives its own stale histograms.
 */
export function toNativeHistogram(p: ExponentialHistogramDataPoint, stale: boolean): NativeHistogram | undefined {
  if (p.scale < MIN_SCHEMA) return undefined;
  const schema = Math.min(p.scale, MAX_SCHEMA);
  const zeroThreshold = p.zeroThreshold > 0 ? p.zeroThreshold : DEFAULT_ZERO_THRESHOLD;
  const timestampMs = nanosToMillis(p.timeUnixNano);
  if (stale) {
    return {
      timestampMs,
      count: 0,
      sum: STALE_NAN,
      schema,
      zeroThreshold,
      zeroCount: 0,
      negativeSpans: [],
      negativeDeltas: [],
      positiveSpans: [],
      positiveDeltas: [],
      resetHint: 0,
    };
  }
  const scaleDown = p.scale - schema;
  const positive = bucketsToSpans(p.positive, scaleDown);
  const negative = bucketsToSpans(p.negative, scaleDown);
  return {
    timestampMs,
    count: p.count,
    sum: p.sum ?? 0,
    schema,
    zeroThreshold,
    zeroCount: p.zeroCount,
    negativeSpans: negative.spans,
    negativeDeltas: negative.deltas,
    positiveSpans: positive.spans,
    positiveDeltas: positive.deltas,
    // Telling Prometheus "no reset" when there was one corrupts its counter-reset detection;
    // UNKNOWN lets it decide, which is always safe.
    resetHint: 0,
  };
}
