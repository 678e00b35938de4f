/**
 * `@skein/prometheus-translation`: OTLP-shaped batches to Prometheus time series, shared by the
 * `prometheus` (pull) and `prometheusremotewrite` exporters so both name, label and type data
 * the same way.
 */
export type {
  BucketSpan,
  Label,
  NativeHistogram,
  PromType,
  Sample,
  TimeSeries,
  TranslateOptions,
  TranslateResult,
} from './types.ts';
export { translate, DropReason, ATTRIBUTES_KEY } from './translate.ts';
export { STALE_NAN, isStaleNaN } from './stale.ts';
export { sanitizeMetricName, sanitizeLabelName, buildMetricName, prometheusUnit } from './names.ts';
