/**
 * Builders shared by components, tests, examples and benchmarks, so nobody hand-assembles
 * the nested OTLP shape. Every builder fills the optional parts with their empty values.
 */
import type {
  Attributes,
  ExponentialHistogramDataPoint,
  ExponentialHistogramMetric,
  GaugeMetric,
  HistogramDataPoint,
  HistogramMetric,
  InstrumentationScope,
  Metric,
  MetricsBatch,
  NumberDataPoint,
  SumMetric,
  SummaryDataPoint,
  SummaryMetric,
} from './model.ts';
import { Temporality } from './model.ts';
import { nowUnixNano } from './time.ts';

export interface PointOptions {
  attributes?: Attributes;
  timeUnixNano?: bigint;
  startTimeUnixNano?: bigint;
  flags?: number;
}

export interface MetricOptions {
  description?: string;
  unit?: string;
}

function base(opts: PointOptions) {
  return {
    attributes: opts.attributes ?? {},
    timeUnixNano: opts.timeUnixNano ?? nowUnixNano(),
    startTimeUnixNano: opts.startTimeUnixNano ?? 0n,
    flags: opts.flags ?? 0,
    exemplars: [],
  };
}

/** A number point; pass a bigint to record an integer (OTLP `as_int`). */
export function numberPoint(value: number | bigint, opts: PointOptions = {}): NumberDataPoint {
  return { ...base(opts), value };
}

export function histogramPoint(
  h: { explicitBounds: number[]; bucketCounts: number[]; sum?: number; min?: number; max?: number },
  opts: PointOptions = {},
): HistogramDataPoint {
  if (h.bucketCounts.length !== h.explicitBounds.length + 1) {
    throw new RangeError(
      `histogram needs ${h.explicitBounds.length + 1} bucket counts for ${h.explicitBounds.length} bounds, got ${h.bucketCounts.length}`,
    );
  }
  const count = h.bucketCounts.reduce((a, b) => a + b, 0);
  return { ...base(opts), count, sum: h.sum, bucketCounts: h.bucketCounts, explicitBounds: h.explicitBounds, min: h.min, max: h.max };
}

export function exponentialHistogramPoint(
  h: {
    scale: number;
    zeroCount?: number;
    positive?: { offset: number; bucketCounts: number[] };
    negative?: { offset: number; bucketCounts: number[] };
    sum?: number;
    min?: number;
    max?: number;
    zeroThreshold?: number;
  },
  opts: PointOptions = {},
): ExponentialHistogramDataPoint {
  const positive = h.positive ?? { offset: 0, bucketCounts: [] };
  const negative = h.negative ?? { offset: 0, bucketCounts: [] };
  const zeroCount = h.zeroCount ?? 0;
  const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    ...base(opts),
    count: zeroCount + sumOf(positive.bucketCounts) + sumOf(negative.bucketCounts),
    sum: h.sum,
    scale: h.scale,
    zeroCount,
    positive,
    negative,
    min: h.min,
    max: h.max,
    zeroThreshold: h.zeroThreshold ?? 0,
  };
}

export function summaryPoint(
  s: { count: number; sum: number; quantiles: Record<number, number> | { quantile: number; value: number }[] },
  opts: PointOptions = {},
): SummaryDataPoint {
  const quantileValues = Array.isArray(s.quantiles)
    ? s.quantiles
    : Object.entries(s.quantiles).map(([q, v]) => ({ quantile: Number(q), value: v }));
  return { ...base(opts), count: s.count, sum: s.sum, quantileValues };
}

export function gauge(name: string, points: NumberDataPoint[], opts: MetricOptions = {}): GaugeMetric {
  return { type: 'gauge', name, description: opts.description ?? '', unit: opts.unit ?? '', points };
}

export function sum(
  name: string,
  points: NumberDataPoint[],
  opts: MetricOptions & { monotonic?: boolean; temporality?: Temporality } = {},
): SumMetric {
  return {
    type: 'sum',
    name,
    description: opts.description ?? '',
    unit: opts.unit ?? '',
    isMonotonic: opts.monotonic ?? true,
    temporality: opts.temporality ?? Temporality.Cumulative,
    points,
  };
}

export function histogram(
  name: string,
  points: HistogramDataPoint[],
  opts: MetricOptions & { temporality?: Temporality } = {},
): HistogramMetric {
  return {
    type: 'histogram',
    name,
    description: opts.description ?? '',
    unit: opts.unit ?? '',
    temporality: opts.temporality ?? Temporality.Cumulative,
    points,
  };
}

export function exponentialHistogram(
  name: string,
  points: ExponentialHistogramDataPoint[],
  opts: MetricOptions & { temporality?: Temporality } = {},
): ExponentialHistogramMetric {
  return {
    type: 'exponential_histogram',
    name,
    description: opts.description ?? '',
    unit: opts.unit ?? '',
    temporality: opts.temporality ?? Temporality.Cumulative,
    points,
  };
}

export function summary(name: string, points: SummaryDataPoint[], opts: MetricOptions = {}): SummaryMetric {
  return { type: 'summary', name, description: opts.description ?? '', unit: opts.unit ?? '', points };
}

export interface ResourceInput {
  /** Resource attributes. */
  resource?: Attributes;
  /** Instrumentation scope; a string is its name. */
  scope?: string | InstrumentationScope;
  metrics: Metric[];
}

/** A batch with one resource → one scope per entry. */
export function metricsBatch(resources: ResourceInput[]): MetricsBatch {
  return {
    resourceMetrics: resources.map((r) => ({
      resource: { attributes: r.resource ?? {} },
      scopeMetrics: [
        {
          scope: typeof r.scope === 'string' ? { name: r.scope } : (r.scope ?? { name: '' }),
          metrics: r.metrics,
        },
      ],
    })),
  };
}
