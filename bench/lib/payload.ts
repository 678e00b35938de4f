/**
 * Realistic batches for benchmarks, built with core's builders the way a receiver's decoder
 * would: every point gets its own attributes object and the timestamps it came with.
 */
import {
  countDataPoints,
  gauge,
  histogram,
  histogramPoint,
  metricsBatch,
  millisToNanos,
  numberPoint,
  sum,
  type Metric,
  type MetricsBatch,
  type ResourceInput,
} from '@skein/core';

/** A fixed wall-clock time, so that every run builds the same data. */
const T0 = millisToNanos(Date.UTC(2025, 0, 15, 12, 0, 0));
const START = T0 - 3_600_000_000_000n;

/** What one fleet agent pushes: one resource, one `health.score` gauge point. */
export function agentPush(opts: { host?: string; clusterId?: string; score?: number; timeUnixNano?: bigint } = {}): MetricsBatch {
  return metricsBatch([
    {
      resource: { 'host.name': opts.host ?? 'node-0042', cluster_id: opts.clusterId ?? 'eu-west-1a' },
      scope: 'skein-agent',
      metrics: [gauge('health.score', [numberPoint(opts.score ?? 0.87, { timeUnixNano: opts.timeUnixNano ?? T0 })])],
    },
  ]);
}

const RESOURCES = 4;
const POINTS_PER_METRIC = 10;
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

function metricOf(kind: number, name: string, points: number, seed: number): Metric {
  const attrs = (i: number) => ({ cpu: String(i), mode: i % 2 ? 'user' : 'system' });
  const time = { timeUnixNano: T0, startTimeUnixNano: START };
  if (kind === 0) {
    return gauge(name, Array.from({ length: points }, (_, i) => numberPoint(seed + i * 0.5, { ...time, attributes: attrs(i) })), { unit: '1' });
  }
  if (kind === 1) {
    return sum(name, Array.from({ length: points }, (_, i) => numberPoint(BigInt(seed * 1000 + i), { ...time, attributes: attrs(i) })), { unit: 'By' });
  }
  return histogram(
    name,
    Array.from({ length: points }, (_, i) =>
      histogramPoint(
        { explicitBounds: BOUNDS, bucketCounts: BOUNDS.map((_, b) => (b + i) % 7).concat([1]), sum: seed + i, min: 0.001, max: 7 },
        { ...time, attributes: attrs(i) },
      ),
    ),
    { unit: 's' },
  );
}

/**
 * A scrape-sized batch: 4 resources, metrics of 10 points each cycling gauge → sum →
 * histogram (10 bounds), exactly `points` data points in all.
 */
export function bigBatch(points = 1000): MetricsBatch {
  const resources: ResourceInput[] = [];
  for (let r = 0; r < RESOURCES; r++) {
    // Spread the points evenly; the first resources take the remainder.
    let mine = Math.floor(points / RESOURCES) + (r < points % RESOURCES ? 1 : 0);
    const metrics: Metric[] = [];
    for (let m = 0; mine > 0; m++) {
      const n = Math.min(POINTS_PER_METRIC, mine);
      metrics.push(metricOf(m % 3, `system.metric_${m}`, n, r * 100 + m));
      mine -= n;
    }
    if (metrics.length > 0) {
      resources.push({
        resource: { 'host.name': `node-${String(r).padStart(4, '0')}`, cluster_id: 'eu-west-1a', 'service.name': 'node-exporter' },
        scope: { name: 'skein-bench', version: '1.0.0' },
        metrics,
      });
    }
  }
  return metricsBatch(resources);
}

/** Throws unless `batch` holds `points` points: a bench that measures the wrong thing must fail. */
export function expectPoints(batch: MetricsBatch, points: number): MetricsBatch {
  const n = countDataPoints(batch);
  if (n !== points) throw new Error(`expected ${points} data points, built ${n}`);
  return batch;
}
