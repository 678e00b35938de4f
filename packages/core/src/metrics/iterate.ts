import type { DataPoint, Metric, MetricsBatch, ResourceMetrics, ScopeMetrics } from './model.ts';

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

/** A deep copy, for a consumer that mutates data it shares with others. */
export function cloneBatch(batch: MetricsBatch): MetricsBatch {
  return structuredClone(batch);
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
