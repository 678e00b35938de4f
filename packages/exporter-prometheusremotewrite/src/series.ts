/** What the exporter sends: Prometheus series as `@skein/prometheus-translation` produces them. */

import type { PromType, TimeSeries } from '@skein/prometheus-translation';

export type { BucketSpan, Label, NativeHistogram, PromType, Sample } from '@skein/prometheus-translation';

/** A series as the translation produces it: labels sorted and unique, samples in order. */
export type RemoteSeries = TimeSeries;

/** Metadata type numbers: the same in 1.0's MetricMetadata and 2.0's Metadata. */
export const PROM_TYPE_NUMBER: Readonly<Record<PromType, number>> = {
  unknown: 0,
  counter: 1,
  gauge: 2,
  histogram: 3,
  gaugehistogram: 4,
  summary: 5,
  info: 6,
  stateset: 7,
};

/** Samples plus native histograms: the unit of batching, queue capacity and the sample counters. */
export function sampleCount(series: readonly RemoteSeries[]): number {
  let n = 0;
  for (const s of series) n += s.samples.length + s.histograms.length;
  return n;
}
