/**
 * Skein's metric data model: OTLP-shaped (resource → scope → metric → data points), decoded
 * once at the edge and passed by reference through the pipeline.
 *
 * Timestamps are nanoseconds since the Unix epoch as `bigint` (see time.ts for why and for
 * the helpers). An attribute value that OTLP sends as int64 is a `bigint`, a double is a
 * `number`, so the two stay distinguishable end to end.
 */

export type AttributeValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | AttributeValue[]
  | { [key: string]: AttributeValue };

export type Attributes = Record<string, AttributeValue>;

export interface Resource {
  attributes: Attributes;
  droppedAttributesCount?: number;
}

export interface InstrumentationScope {
  name: string;
  version?: string;
  attributes?: Attributes;
  droppedAttributesCount?: number;
}

/** OTLP aggregation temporality. */
export const Temporality = { Unspecified: 0, Delta: 1, Cumulative: 2 } as const;
export type Temporality = (typeof Temporality)[keyof typeof Temporality];

/** Data point flag bits. */
export const DataPointFlags = {
  /** The point marks a series that stopped: Prometheus translates it to a stale marker. */
  NoRecordedValue: 1,
} as const;

export interface Exemplar {
  filteredAttributes: Attributes;
  timeUnixNano: bigint;
  /** `bigint` when the exemplar was recorded as an integer. */
  value: number | bigint;
  spanId?: Uint8Array;
  traceId?: Uint8Array;
}

interface PointBase {
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** Bit set of DataPointFlags. */
  flags: number;
  exemplars: Exemplar[];
}

export interface NumberDataPoint extends PointBase {
  /** `bigint` when the point was recorded as an integer (OTLP `as_int`). */
  value: number | bigint;
}

export interface HistogramDataPoint extends PointBase {
  count: number;
  sum?: number;
  /** One more entry than `explicitBounds`; the last bucket is (last bound, +Inf]. */
  bucketCounts: number[];
  explicitBounds: number[];
  min?: number;
  max?: number;
}

export interface ExponentialBuckets {
  offset: number;
  bucketCounts: number[];
}

export interface ExponentialHistogramDataPoint extends PointBase {
  count: number;
  sum?: number;
  scale: number;
  zeroCount: number;
  positive: ExponentialBuckets;
  negative: ExponentialBuckets;
  min?: number;
  max?: number;
  zeroThreshold: number;
}

export interface QuantileValue {
  quantile: number;
  value: number;
}

export interface SummaryDataPoint extends PointBase {
  count: number;
  sum: number;
  quantileValues: QuantileValue[];
}

interface MetricBase {
  name: string;
  description: string;
  unit: string;
  metadata?: Attributes;
}

export interface GaugeMetric extends MetricBase {
  type: 'gauge';
  points: NumberDataPoint[];
}

export interface SumMetric extends MetricBase {
  type: 'sum';
  isMonotonic: boolean;
  temporality: Temporality;
  points: NumberDataPoint[];
}

export interface HistogramMetric extends MetricBase {
  type: 'histogram';
  temporality: Temporality;
  points: HistogramDataPoint[];
}

export interface ExponentialHistogramMetric extends MetricBase {
  type: 'exponential_histogram';
  temporality: Temporality;
  points: ExponentialHistogramDataPoint[];
}

export interface SummaryMetric extends MetricBase {
  type: 'summary';
  points: SummaryDataPoint[];
}

export type Metric = GaugeMetric | SumMetric | HistogramMetric | ExponentialHistogramMetric | SummaryMetric;
export type MetricType = Metric['type'];
export type DataPoint = Metric['points'][number];

export interface ScopeMetrics {
  scope: InstrumentationScope;
  metrics: Metric[];
  schemaUrl?: string;
}

export interface ResourceMetrics {
  resource: Resource;
  scopeMetrics: ScopeMetrics[];
  schemaUrl?: string;
}

/** The unit of data that flows through a pipeline. */
export interface MetricsBatch {
  resourceMetrics: ResourceMetrics[];
}
