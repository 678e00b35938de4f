import type {
  AttributeValue,
  Attributes,
  DataPoint,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  Metric,
  MetricsBatch,
  ResourceMetrics,
  ScopeMetrics,
  SummaryDataPoint,
} from './model.ts';

/** Calls `fn` for every metric, with the scope and resource it belongs to. */
export function forEachMetric(
  batch: MetricsBatch,
  fn: (metric: Metric, scope: ScopeMetrics, resource: ResourceMetrics) => void,
): void {
  for (const rm of batch.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) fn(m, sm, rm);
    }
  }
}

/** Calls `fn` for every data point of every metric. */
export function forEachDataPoint(
  batch: MetricsBatch,
  fn: (point: DataPoint, metric: Metric, scope: ScopeMetrics, resource: ResourceMetrics) => void,
): void {
  for (const rm of batch.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        for (const p of m.points) fn(p, m, sm, rm);
      }
    }
  }
}

/** The number of data points in a batch: the unit of every accepted/refused/sent counter. */
export function countDataPoints(batch: MetricsBatch): number {
  let n = 0;
  for (const rm of batch.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) n += m.points.length;
    }
  }
  return n;
}

/**
 * A deep copy, for a consumer that mutates data it shares with others. Hand-written: about
 * 28× faster than structuredClone on a 1,000-point batch (bench/core/clone.bench.ts).
 */
export function cloneBatch(batch: MetricsBatch): MetricsBatch {
  return {
    resourceMetrics: batch.resourceMetrics.map((rm) => {
      const out: ResourceMetrics = {
        resource: cloneWithAttributes(rm.resource),
        scopeMetrics: rm.scopeMetrics.map((sm) => {
          const scope: ScopeMetrics = { scope: cloneWithAttributes(sm.scope), metrics: sm.metrics.map(cloneMetric) };
          if (sm.schemaUrl !== undefined) scope.schemaUrl = sm.schemaUrl;
          return scope;
        }),
      };
      if (rm.schemaUrl !== undefined) out.schemaUrl = rm.schemaUrl;
      return out;
    }),
  };
}

/** A copy of an attribute value: arrays, maps and byte arrays are copied, scalars shared. */
export function cloneAttributeValue(v: AttributeValue): AttributeValue {
  if (typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) return v.map(cloneAttributeValue);
  return cloneAttributes(v);
}

export function cloneAttributes(attrs: Attributes): Attributes {
  const out: Attributes = {};
  for (const k in attrs) out[k] = cloneAttributeValue(attrs[k]!);
  return out;
}

function cloneWithAttributes<T extends { attributes?: Attributes }>(o: T): T {
  const copy = { ...o };
  if (o.attributes) copy.attributes = cloneAttributes(o.attributes);
  return copy;
}

function clonePoint<P extends DataPoint>(p: P): P {
  const copy: P = { ...p, attributes: cloneAttributes(p.attributes) };
  if (p.exemplars.length > 0) {
    copy.exemplars = p.exemplars.map((e) => {
      const x = { ...e, filteredAttributes: cloneAttributes(e.filteredAttributes) };
      if (e.spanId) x.spanId = e.spanId.slice();
      if (e.traceId) x.traceId = e.traceId.slice();
      return x;
    });
  } else {
    copy.exemplars = [];
  }
  if ('bucketCounts' in p) {
    const h = copy as unknown as HistogramDataPoint;
    h.bucketCounts = (p as HistogramDataPoint).bucketCounts.slice();
    h.explicitBounds = (p as HistogramDataPoint).explicitBounds.slice();
  } else if ('positive' in p) {
    const e = copy as unknown as ExponentialHistogramDataPoint;
    const src = p as ExponentialHistogramDataPoint;
    e.positive = { offset: src.positive.offset, bucketCounts: src.positive.bucketCounts.slice() };
    e.negative = { offset: src.negative.offset, bucketCounts: src.negative.bucketCounts.slice() };
  } else if ('quantileValues' in p) {
    (copy as unknown as SummaryDataPoint).quantileValues = (p as SummaryDataPoint).quantileValues.map((q) => ({ ...q }));
  }
  return copy;
}

function cloneMetric(m: Metric): Metric {
  const copy = { ...m, points: (m.points as DataPoint[]).map(clonePoint) } as Metric;
  if (m.metadata) copy.metadata = cloneAttributes(m.metadata);
  return copy;
}

/**
 * Removes data points for which `keep` returns false, then drops metrics, scopes and
 * resources left empty. Mutates the batch; returns how many points were removed.
 */
export function filterDataPoints(
  batch: MetricsBatch,
  keep: (point: DataPoint, metric: Metric, scope: ScopeMetrics, resource: ResourceMetrics) => boolean,
): number {
  let removed = 0;
  for (const rm of batch.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const before = m.points.length;
        (m.points as DataPoint[]) = (m.points as DataPoint[]).filter((p) => keep(p, m, sm, rm));
        removed += before - m.points.length;
      }
      sm.metrics = sm.metrics.filter((m) => m.points.length > 0);
    }
    rm.scopeMetrics = rm.scopeMetrics.filter((sm) => sm.metrics.length > 0);
  }
  batch.resourceMetrics = batch.resourceMetrics.filter((rm) => rm.scopeMetrics.length > 0);
  return removed;
}
