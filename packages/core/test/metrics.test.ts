import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cloneBatch,
  countDataPoints,
  exponentialHistogram,
  exponentialHistogramPoint,
  filterDataPoints,
  forEachDataPoint,
  gauge,
  histogram,
  histogramPoint,
  metricsBatch,
  millisToNanos,
  nanosToMillis,
  nowUnixNano,
  numberPoint,
  sum,
  summary,
  summaryPoint,
  Temporality,
} from '../src/index.ts';

const t = 1_700_000_000_123_456_789n;

function sample() {
  return metricsBatch([
    {
      resource: { 'host.name': 'n1', pid: 42n },
      scope: { name: 'agent', version: '1.2.0' },
      metrics: [
        gauge('health.score', [numberPoint(0.91, { timeUnixNano: t, attributes: { core: 0n } })], { unit: '1' }),
        sum('requests', [numberPoint(12n, { timeUnixNano: t })], { monotonic: true }),
        histogram('latency', [histogramPoint({ explicitBounds: [0.1, 1], bucketCounts: [3, 2, 1], sum: 2.5 }, { timeUnixNano: t })]),
      ],
    },
    {
      resource: { 'host.name': 'n2' },
      metrics: [
        exponentialHistogram('size', [exponentialHistogramPoint({ scale: 2, zeroCount: 1, positive: { offset: -1, bucketCounts: [1, 4] } })]),
        summary('rtt', [summaryPoint({ count: 10, sum: 5, quantiles: { 0.5: 0.4, 0.99: 1.2 } })]),
      ],
    },
  ]);
}

test('builders fill the OTLP shape with empty optional parts', () => {
  const b = sample();
  const [g, s, h] = b.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
  assert.deepEqual(g, {
    type: 'gauge',
    name: 'health.score',
    description: '',
    unit: '1',
    points: [{ attributes: { core: 0n }, timeUnixNano: t, startTimeUnixNano: 0n, flags: 0, exemplars: [], value: 0.91 }],
  });
  assert.equal(s!.type === 'sum' && s.temporality, Temporality.Cumulative);
  assert.equal(h!.type === 'histogram' && h.points[0]!.count, 6);
  const e = b.resourceMetrics[1]!.scopeMetrics[0]!.metrics[0]!;
  assert.equal(e.type === 'exponential_histogram' && e.points[0]!.count, 6);
  const q = b.resourceMetrics[1]!.scopeMetrics[0]!.metrics[1]!;
  assert.deepEqual(q.type === 'summary' && q.points[0]!.quantileValues, [
    { quantile: 0.5, value: 0.4 },
    { quantile: 0.99, value: 1.2 },
  ]);
});

test('a histogram with the wrong number of buckets is refused', () => {
  assert.throws(() => histogramPoint({ explicitBounds: [1, 2], bucketCounts: [1, 2] }), /needs 3 bucket counts for 2 bounds, got 2/);
});

test('iteration helpers visit every point with its metric and resource', () => {
  const b = sample();
  assert.equal(countDataPoints(b), 5);
  const seen: string[] = [];
  forEachDataPoint(b, (_p, m, _s, r) => seen.push(`${r.resource.attributes['host.name']}/${m.name}`));
  assert.deepEqual(seen, ['n1/health.score', 'n1/requests', 'n1/latency', 'n2/size', 'n2/rtt']);
});

test('filterDataPoints removes points and prunes what is left empty', () => {
  const b = sample();
  const removed = filterDataPoints(b, (_p, _m, _s, r) => r.resource.attributes['host.name'] === 'n2');
  assert.equal(removed, 3);
  assert.equal(b.resourceMetrics.length, 1);
  assert.equal(countDataPoints(b), 2);
});

test('cloneBatch is deep and keeps bigints and bytes', () => {
  const b = sample();
  b.resourceMetrics[0]!.resource.attributes.bytes = new Uint8Array([1, 2]);
  b.resourceMetrics[0]!.resource.attributes.nested = { list: [1n, 'x', { deep: true }] };
  b.resourceMetrics[0]!.schemaUrl = 'https://example.com/schema';
  const g = b.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!;
  g.points[0]!.exemplars.push({ filteredAttributes: { a: 1 }, timeUnixNano: t, value: 2, spanId: new Uint8Array(8), traceId: new Uint8Array(16) });
  const c = cloneBatch(b);
  assert.deepEqual(c, b);
  assert.deepEqual(c, structuredClone(b), 'same result as structuredClone');

  // Change every mutable part of the copy; the original must not move.
  const before = structuredClone(b);
  const rm = c.resourceMetrics[0]!;
  rm.resource.attributes['host.name'] = 'changed';
  (rm.resource.attributes.bytes as Uint8Array)[0] = 9;
  ((rm.resource.attributes.nested as { list: unknown[] }).list[2] as { deep: boolean }).deep = false;
  rm.scopeMetrics[0]!.scope.name = 'other';
  const cg = rm.scopeMetrics[0]!.metrics[0]!;
  cg.name = 'renamed';
  cg.points[0]!.attributes.core = 1n;
  cg.points[0]!.exemplars[0]!.filteredAttributes.a = 5;
  cg.points[0]!.exemplars[0]!.spanId![0] = 1;
  const h = rm.scopeMetrics[0]!.metrics[2]!;
  if (h.type === 'histogram') {
    h.points[0]!.bucketCounts[0] = 100;
    h.points[0]!.explicitBounds.push(9);
  }
  const rm2 = c.resourceMetrics[1]!.scopeMetrics[0]!;
  const e = rm2.metrics[0]!;
  if (e.type === 'exponential_histogram') e.points[0]!.positive.bucketCounts[0] = 50;
  const q = rm2.metrics[1]!;
  if (q.type === 'summary') q.points[0]!.quantileValues[0]!.value = 99;
  assert.deepEqual(b, before);
});

test('nanosecond time helpers are exact', () => {
  assert.equal(nanosToMillis(t), 1_700_000_000_123);
  assert.equal(millisToNanos(1_700_000_000_123.5), 1_700_000_000_123_500_000n);
  const now = nowUnixNano();
  assert.ok(now > millisToNanos(Date.now() - 60_000) && now < millisToNanos(Date.now() + 60_000));
});
