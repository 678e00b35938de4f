/**
 * What the OTLP → Prometheus translation (packages/prometheus-translation) costs on a
 * 1,000-point batch that mixes every metric kind, in series and samples per second, and as a
 * ratio to building that batch with core's builders (the in-process baseline).
 */
import assert from 'node:assert/strict';
import {
  countDataPoints,
  exponentialHistogram,
  exponentialHistogramPoint,
  gauge,
  histogram,
  histogramPoint,
  metricsBatch,
  millisToNanos,
  numberPoint,
  sum,
  summary,
  summaryPoint,
  type Metric,
  type MetricsBatch,
  type ResourceInput,
} from '@skein/core';
import { translate, type TranslateOptions } from '@skein/prometheus-translation';
import { compare, COMPARE_LIMITS, do_not_optimize } from '../lib/measure.ts';
import { count, duration, ratio, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);

const POINTS = 1000;
const RESOURCES = 4;
const POINTS_PER_METRIC = 10;
const T0 = millisToNanos(Date.UTC(2025, 0, 15, 12, 0, 0));
const START = T0 - 3_600_000_000_000n;
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const KINDS = ['gauge', 'counter', 'updown', 'histogram', 'exponential', 'summary'] as const;

/** One metric of `points` points of the kind `m` cycles to; every point has its own attributes object. */
function metricOf(m: number, points: number, seed: number): Metric {
  const opts = (i: number) => ({ timeUnixNano: T0, startTimeUnixNano: START, attributes: { cpu: String(i), mode: i % 2 ? 'user' : 'system', 'http.route': '/api/v1/items' } });
  const each = <P>(f: (i: number) => P) => Array.from({ length: points }, (_, i) => f(i));
  const name = `system.metric.${m}`;
  switch (KINDS[m % KINDS.length]!) {
    case 'gauge':
      return gauge(name, each((i) => numberPoint(seed + i * 0.5, opts(i))), { unit: '1', description: 'A gauge.' });
    case 'counter':
      return sum(name, each((i) => numberPoint(BigInt(seed * 1000 + i), opts(i))), { unit: 'By', description: 'A counter.' });
    case 'updown':
      return sum(name, each((i) => numberPoint(seed - i, opts(i))), { monotonic: false, unit: '{items}', description: 'An up-down counter.' });
    case 'histogram':
      return histogram(
        name,
        each((i) => histogramPoint({ explicitBounds: BOUNDS, bucketCounts: BOUNDS.map((_, b) => (b + i) % 7).concat([1]), sum: seed + i }, opts(i))),
        { unit: 's', description: 'A histogram.' },
      );
    case 'exponential':
      return exponentialHistogram(
        name,
        each((i) => exponentialHistogramPoint({ scale: 3, zeroCount: 1, positive: { offset: -4 + (i % 3), bucketCounts: [1, 0, 4, 9, 3, 0, 0, 2] }, sum: seed + i }, opts(i))),
        { unit: 'ms', description: 'An exponential histogram.' },
      );
    case 'summary':
      return summary(name, each((i) => summaryPoint({ count: 10 + i, sum: seed + i, quantiles: { 0.5: 0.1, 0.9: 0.4, 0.99: 0.9 } }, opts(i))), { unit: 's', description: 'A summary.' });
  }
}

/** 4 resources (with service.* and host attributes, so target_info is made), metrics cycling the six kinds. */
function mixedBatch(points = POINTS): MetricsBatch {
  const resources: ResourceInput[] = [];
  for (let r = 0; r < RESOURCES; r++) {
    let mine = Math.floor(points / RESOURCES) + (r < points % RESOURCES ? 1 : 0);
    const metrics: Metric[] = [];
    for (let m = 0; mine > 0; m++) {
      const n = Math.min(POINTS_PER_METRIC, mine);
      metrics.push(metricOf(m, n, r * 100 + m));
      mine -= n;
    }
    resources.push({
      resource: { 'service.name': 'node-exporter', 'service.instance.id': `node-${r}:9100`, 'host.name': `node-${r}`, 'cloud.region': 'eu-west-1' },
      scope: { name: 'skein-bench', version: '1.0.0' },
      metrics,
    });
  }
  return metricsBatch(resources);
}

const batch = mixedBatch();
assert.equal(countDataPoints(batch), POINTS);

const CONVERTING: TranslateOptions = { resourceToTelemetryConversion: true, externalLabels: { cluster: 'eu-1', replica: 'a' } };
const shape = (opts?: TranslateOptions) => {
  const r = translate(batch, opts);
  assert.deepEqual(r.dropped, {}, 'the bench batch must translate without drops');
  let samples = 0;
  for (const s of r.series) samples += s.samples.length + s.histograms.length;
  return { series: r.series.length, samples };
};
const plain = shape();
const converting = shape(CONVERTING);

const { timings, ratios } = await compare([
  { name: `build a ${count(POINTS)}-point mixed batch (builders)`, fn: () => do_not_optimize(mixedBatch()) },
  { name: 'translate (defaults)', fn: () => do_not_optimize(translate(batch)) },
  { name: 'translate (resource_to_telemetry_conversion + 2 external labels)', fn: () => do_not_optimize(translate(batch, CONVERTING)) },
]);

const made = [undefined, plain, converting];
report.table({
  title: `One ${count(POINTS)}-point batch: 4 resources, gauge/counter/up-down/histogram (10 bounds)/exponential/summary (${COMPARE_LIMITS.rounds} interleaved rounds)`,
  columns: ['what', 'median', 'p99', 'series', 'samples', 'series/s', 'samples/s', '÷ build'],
  rows: timings.map((t, k) => {
    const m = made[k];
    const perSecond = (n: number) => count((n * 1e9) / t.p50Ns);
    return [
      report.record(t).name,
      duration(t.p50Ns),
      duration(t.p99Ns),
      m ? count(m.series) : '–',
      m ? count(m.samples) : '–',
      m ? perSecond(m.series) : '–',
      m ? perSecond(m.samples) : '–',
      `${ratio(ratios[k]!)}×`,
    ];
  }),
});
report.figure('translate / build', ratios[1]!, '× build');
report.figure('translate with conversion / build', ratios[2]!, '× build');
report.finish();
