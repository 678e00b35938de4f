/**
 * What the translation produces: Prometheus time series in the shape of the remote-write
 * messages, with the metadata of each series' family beside it, so the remote-write encoder and
 * the pull exporter's text writer read the same thing.
 */

export interface Label {
  name: string;
  value: string;
}

export interface Sample {
  timestampMs: number;
  /** A stale marker is STALE_NAN; test it with isStaleNaN, never with `===` or Number.isNaN alone. */
  value: number;
}

export interface BucketSpan {
  /** Gap to the previous span's last bucket (for the first span: the index of its first bucket). */
  offset: number;
  length: number;
}

/**
 * A native histogram: the remote-write `Histogram` message with integer counts. Bucket `i` of
 * schema `s` holds values in (2^((i-1)/2^s), 2^(i/2^s)] (upper bound inclusive, as Prometheus
 * indexes them); the deltas are differences of absolute counts, the first one from zero.
 */
export interface NativeHistogram {
  timestampMs: number;
  /** 0 on a stale marker (Prometheus recognises those by `sum`, as its own stale histograms do). */
  count: number;
  /** STALE_NAN on a stale marker; 0 when the OTLP point had no sum. */
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  negativeSpans: BucketSpan[];
  negativeDeltas: number[];
  positiveSpans: BucketSpan[];
  positiveDeltas: number[];
  /** UNKNOWN, YES, NO, GAUGE. */
  resetHint: 0 | 1 | 2 | 3;
}

export type PromType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset' | 'unknown';

/** Read-only: series of one data point share their Label objects. */
export interface TimeSeries {
  /** Sorted by name (byte order), unique names, no empty values, includes `__name__`. */
  labels: Label[];
  /** Ascending `timestampMs`, no two alike. */
  samples: Sample[];
  /** Ascending `timestampMs`, no two alike. */
  histograms: NativeHistogram[];
  /** Metadata of the series' family: `http_requests_total` for that counter, `rpc_duration_seconds` for `rpc_duration_seconds_bucket`. */
  type: PromType;
  help: string;
  /** The Prometheus unit (`seconds`, `bytes`, `ratio`) when the family name ends with it, else empty. */
  unit: string;
  familyName: string;
  /** From the OTLP start time, for cumulative counters, histograms and summaries (remote write 2.0 created timestamp). */
  createdTimestampMs?: number;
}

export interface TranslateOptions {
  /** Unit suffixes, `_total` on counters and `_ratio` on gauges with unit `1`. Default true; false is for data already named the Prometheus way. */
  addMetricSuffixes?: boolean;
  /** Copy every resource attribute to every series as a label. Default false. */
  resourceToTelemetryConversion?: boolean;
  /** Added to every series, `target_info` included, unless the series already has a label of that name. */
  externalLabels?: Record<string, string>;
  /** One `target_info` series per resource (job/instance plus the other resource attributes). Default true. */
  targetInfo?: boolean;
}

export interface TranslateResult {
  series: TimeSeries[];
  /** Data points not translated, by reason (see DropReason); reasons with no drops are absent. */
  dropped: Record<string, number>;
}
