import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DataPointFlags,
  exponentialHistogram,
  exponentialHistogramPoint,
  gauge,
  histogram,
  histogramPoint,
  metricsBatch,
  numberPoint,
  sum,
  summary,
  summaryPoint,
  Temporality,
  type Attributes,
  type Metric,
  type MetricsBatch,
} from '@skein/core';
import { ATTRIBUTES_KEY, isStaleNaN, STALE_NAN, translate, type TimeSeries, type TranslateResult } from '../src/index.ts';

/** 2025-01-15T12:00:00Z */
const MS = 1_736_942_400_000;
const T = BigInt(MS) * 1_000_000n;
const at = (offsetMs: number) => T + BigInt(offsetMs) * 1_000_000n;

const RESOURCE = { 'service.name': 'checkout', 'service.namespace': 'shop', 'service.instance.id': 'pod-7' };

function batchOf(metrics: Metric[], resource: Attributes = RESOURCE): MetricsBatch {
  return metricsBatch([{ resource, scope: 'test', metrics }]);
}

function labelsOf(s: TimeSeries): Record<string, string> {
  return Object.fromEntries(s.labels.map((l) => [l.name, l.value]));
}

/** The series named `name` whose labels include `labels`; fails unless exactly one matches. */
function one(r: TranslateResult, name: string, labels: Record<string, string> = {}): TimeSeries {
  const found = r.series.filter((s) => {
    const own = labelsOf(s);
    return own.__name__ === name && Object.entries(labels).every(([k, v]) => own[k] === v);
  });
  assert.equal(found.length, 1, `series ${name} ${JSON.stringify(labels)}: found ${found.length} in ${r.series.map((s) => JSON.stringify(labelsOf(s))).join(' ')}`);
  return found[0]!;
}

function names(r: TranslateResult): string[] {
  return r.series.map((s) => labelsOf(s).__name__!).sort();
}

function bitsOf(v: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  return view.getBigUint64(0).toString(16);
}

test('a gauge becomes one series with job and instance from the resource', () => {
  const r = translate(batchOf([gauge('queue.depth', [numberPoint(12n, { timeUnixNano: T, attributes: { 'queue.name': 'orders' } })], { description: 'Items waiting.' })]));
  assert.deepEqual(r.series.find((s) => labelsOf(s).__name__ === 'queue_depth'), {
    labels: [
      { name: '__name__', value: 'queue_depth' },
      { name: 'instance', value: 'pod-7' },
      { name: 'job', value: 'shop/checkout' },
      { name: 'queue_name', value: 'orders' },
    ],
    samples: [{ timestampMs: MS, value: 12 }],
    histograms: [],
    type: 'gauge',
    help: 'Items waiting.',
    unit: '',
    familyName: 'queue_depth',
  });
  assert.deepEqual(r.dropped, {});
});

test('job is service.name alone without a namespace; no service.name, no job; no instance id, no instance', () => {
  const point = () => [numberPoint(1, { timeUnixNano: T })];
  const r = translate(
    metricsBatch([
      { resource: { 'service.name': 'api' }, metrics: [gauge('a', point())] },
      { resource: { 'service.namespace': 'shop', 'service.instance.id': 'i-1' }, metrics: [gauge('b', point())] },
      { resource: {}, metrics: [gauge('c', point())] },
    ]),
  );
  assert.deepEqual(labelsOf(one(r, 'a')), { __name__: 'a', job: 'api' });
  assert.deepEqual(labelsOf(one(r, 'b')), { __name__: 'b', instance: 'i-1' });
  assert.deepEqual(labelsOf(one(r, 'c')), { __name__: 'c' });
});

test('target_info: one series per resource with its other attributes, job and instance, at its newest point', () => {
  const r = translate(
    metricsBatch([
      {
        resource: { ...RESOURCE, 'host.name': 'node-1', 'k8s.pod.uid': 'abc', 'host.arch': 'amd64' },
        metrics: [gauge('a', [numberPoint(1, { timeUnixNano: at(0) }), numberPoint(2, { timeUnixNano: at(5000), attributes: { x: 'y' } })])],
      },
      // only identifying attributes: target_info would say nothing
      { resource: { 'service.name': 'bare' }, metrics: [gauge('b', [numberPoint(1, { timeUnixNano: T })])] },
      // neither job nor instance: it would not identify a target
      { resource: { 'host.name': 'lonely' }, metrics: [gauge('c', [numberPoint(1, { timeUnixNano: T })])] },
    ]),
  );
  const info = one(r, 'target_info');
  assert.deepEqual(info, {
    labels: [
      { name: '__name__', value: 'target_info' },
      { name: 'host_arch', value: 'amd64' },
      { name: 'host_name', value: 'node-1' },
      { name: 'instance', value: 'pod-7' },
      { name: 'job', value: 'shop/checkout' },
      { name: 'k8s_pod_uid', value: 'abc' },
    ],
    samples: [{ timestampMs: MS + 5000, value: 1 }],
    histograms: [],
    type: 'gauge',
    help: 'Target metadata',
    unit: '',
    familyName: 'target_info',
  });
  // the resource attributes stay off the data series unless converting
  assert.deepEqual(labelsOf(one(r, 'a', { x: 'y' })), { __name__: 'a', instance: 'pod-7', job: 'shop/checkout', x: 'y' });
  assert.equal(translate(batchOf([gauge('a', [numberPoint(1, { timeUnixNano: T })])], { ...RESOURCE, 'host.name': 'n' }), { targetInfo: false }).series.length, 1);
});

test('attribute names are sanitised; names that collide are joined with ; in the order of their original keys', () => {
  const attributes = { http_method: 'POST', 'http.method': 'GET', 'http-method': 'PUT', '0zone': 'a', _tenant: 't', empty: '' };
  const r = translate(batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T, attributes })])], {}));
  // '-' (0x2d) < '.' (0x2e) < '_' (0x5f)
  assert.deepEqual(labelsOf(r.series[0]!), { __name__: 'g', _tenant: 't', http_method: 'PUT;GET;POST', key_0zone: 'a' });
});

test('non-string attribute values become text', () => {
  const attributes = { b: true, i: 42n, d: 0.25, bytes: new Uint8Array([1, 2, 255]), list: ['a', 1n, 2.5], map: { k: 'v', n: 3n } };
  const r = translate(batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T, attributes })])], {}));
  assert.deepEqual(labelsOf(r.series[0]!), {
    __name__: 'g',
    b: 'true',
    bytes: 'AQL/',
    d: '0.25',
    i: '42',
    list: '["a",1,2.5]',
    map: '{"k":"v","n":3}',
  });
});

test('labels are sorted in byte order and unique; __name__, job and instance win over attributes of the same name', () => {
  const attributes = { zeta: 'z', Alpha: 'A', _under: 'u', __name__: 'evil', job: 'spoofed', instance: 'spoofed', beta: 'b' };
  const r = translate(batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T, attributes })])]));
  const s = r.series.find((x) => labelsOf(x).__name__ === 'g')!;
  assert.deepEqual(
    s.labels.map((l) => l.name),
    ['Alpha', '__name__', '_under', 'beta', 'instance', 'job', 'zeta'],
  );
  assert.deepEqual(labelsOf(s), { Alpha: 'A', __name__: 'g', _under: 'u', beta: 'b', instance: 'pod-7', job: 'shop/checkout', zeta: 'z' });
  for (const series of r.series) {
    const ls = series.labels.map((l) => l.name);
    assert.deepEqual([...ls].sort(), ls);
    assert.equal(new Set(ls).size, ls.length);
    assert.ok(series.labels.every((l) => l.value !== ''));
  }
});

test('resource_to_telemetry_conversion copies resource attributes under the point\'s own', () => {
  const resource = { 'service.name': 'api', 'k8s.pod.name': 'p1', region: 'eu', 'host.name': 'h' };
  const point = numberPoint(1, { timeUnixNano: T, attributes: { region: 'us', host_name: 'x' } });
  const r = translate(batchOf([gauge('g', [point])], resource), { resourceToTelemetryConversion: true });
  assert.deepEqual(labelsOf(one(r, 'g')), {
    __name__: 'g',
    // `host.name` (resource) and `host_name` (point) are different keys that collide: joined
    host_name: 'h;x',
    job: 'api',
    k8s_pod_name: 'p1',
    region: 'us',
    service_name: 'api',
  });
  assert.deepEqual(labelsOf(one(translate(batchOf([gauge('g', [point])], resource)), 'g')), { __name__: 'g', host_name: 'x', job: 'api', region: 'us' });
});

test('external labels go on every series, target_info included, but never over a label the series has', () => {
  const r = translate(batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T, attributes: { region: 'eu' } })])], { ...RESOURCE, 'host.name': 'h' }), {
    externalLabels: { cluster: 'c1', region: 'global', job: 'external' },
  });
  assert.deepEqual(labelsOf(one(r, 'g')), { __name__: 'g', cluster: 'c1', instance: 'pod-7', job: 'shop/checkout', region: 'eu' });
  assert.deepEqual(labelsOf(one(r, 'target_info')), {
    __name__: 'target_info',
    cluster: 'c1',
    host_name: 'h',
    instance: 'pod-7',
    job: 'shop/checkout',
    region: 'global',
  });
});

test('a cumulative monotonic sum is a counter with _total and a created timestamp', () => {
  const r = translate(
    batchOf([sum('http.requests', [numberPoint(1027n, { timeUnixNano: T, startTimeUnixNano: at(-60_000) })], { unit: '{requests}', description: 'Requests served.' })]),
  );
  const s = one(r, 'http_requests_total');
  assert.deepEqual(s.samples, [{ timestampMs: MS, value: 1027 }]);
  assert.equal(s.type, 'counter');
  assert.equal(s.familyName, 'http_requests_total');
  assert.equal(s.help, 'Requests served.');
  assert.equal(s.createdTimestampMs, MS - 60_000);
});

test('a non-monotonic sum is a gauge: no _total, no created timestamp', () => {
  const r = translate(
    batchOf([sum('db.connections', [numberPoint(-3, { timeUnixNano: T, startTimeUnixNano: at(-1000) })], { monotonic: false, unit: '{connections}' })]),
  );
  const s = one(r, 'db_connections');
  assert.equal(s.type, 'gauge');
  assert.deepEqual(s.samples, [{ timestampMs: MS, value: -3 }]);
  assert.equal(s.createdTimestampMs, undefined);
});

test('a histogram becomes cumulative _bucket series up to +Inf, _sum and _count', () => {
  const point = histogramPoint({ explicitBounds: [0.1, 1, 10], bucketCounts: [1, 2, 3, 4], sum: 42.5 }, { timeUnixNano: T, startTimeUnixNano: at(-5000), attributes: { route: '/pay' } });
  const r = translate(batchOf([histogram('http.server.duration', [point], { unit: 's', description: 'Request time.' })]));
  const value = (name: string, labels: Record<string, string> = {}) => one(r, name, labels).samples[0]!.value;
  assert.equal(value('http_server_duration_seconds_bucket', { le: '0.1' }), 1);
  assert.equal(value('http_server_duration_seconds_bucket', { le: '1' }), 3);
  assert.equal(value('http_server_duration_seconds_bucket', { le: '10' }), 6);
  assert.equal(value('http_server_duration_seconds_bucket', { le: '+Inf' }), 10);
  assert.equal(value('http_server_duration_seconds_sum'), 42.5);
  assert.equal(value('http_server_duration_seconds_count'), 10);
  assert.equal(r.series.length, 6);
  for (const s of r.series) {
    assert.equal(s.type, 'histogram');
    assert.equal(s.familyName, 'http_server_duration_seconds');
    assert.equal(s.unit, 'seconds');
    assert.equal(s.help, 'Request time.');
    assert.equal(s.createdTimestampMs, MS - 5000);
    assert.equal(labelsOf(s).route, '/pay');
    assert.equal(labelsOf(s).job, 'shop/checkout');
  }
  assert.deepEqual(labelsOf(one(r, 'http_server_duration_seconds_sum')), {
    __name__: 'http_server_duration_seconds_sum',
    instance: 'pod-7',
    job: 'shop/checkout',
    route: '/pay',
  });
});

test('a histogram without sum has no _sum; one without buckets has only +Inf; mismatched buckets are dropped', () => {
  const noSum = histogramPoint({ explicitBounds: [1], bucketCounts: [2, 3] }, { timeUnixNano: T });
  const noBuckets = { ...histogramPoint({ explicitBounds: [], bucketCounts: [0] }, { timeUnixNano: T }), bucketCounts: [], count: 7, sum: 3 };
  const broken = { ...histogramPoint({ explicitBounds: [1, 2], bucketCounts: [1, 1, 1] }, { timeUnixNano: T }), bucketCounts: [1, 1] };
  const r = translate(batchOf([histogram('a', [noSum]), histogram('b', [noBuckets]), histogram('c', [broken])], {}));
  assert.deepEqual(names(r), ['a_bucket', 'a_bucket', 'a_count', 'b_bucket', 'b_count', 'b_sum']);
  assert.equal(one(r, 'b_bucket', { le: '+Inf' }).samples[0]!.value, 7);
  assert.deepEqual(r.dropped, { invalid_histogram: 1 });
});

test('an attribute named le stays off a histogram, so its buckets, sum and count share their labels', () => {
  const point = histogramPoint({ explicitBounds: [1], bucketCounts: [1, 1], sum: 2 }, { timeUnixNano: T, attributes: { le: 'x', a: 'b' } });
  const r = translate(batchOf([histogram('h', [point])], {}));
  assert.deepEqual(labelsOf(one(r, 'h_sum')), { __name__: 'h_sum', a: 'b' });
  assert.deepEqual(labelsOf(one(r, 'h_bucket', { le: '1' })), { __name__: 'h_bucket', a: 'b', le: '1' });
});

test('a summary becomes {quantile} series, _sum and _count', () => {
  const point = summaryPoint({ count: 100, sum: 12.5, quantiles: { 0.5: 0.1, 0.99: 0.9 } }, { timeUnixNano: T, startTimeUnixNano: at(-1000) });
  const r = translate(batchOf([summary('gc.pause', [point], { unit: 's' })], {}));
  assert.deepEqual(labelsOf(one(r, 'gc_pause_seconds', { quantile: '0.5' })), { __name__: 'gc_pause_seconds', quantile: '0.5' });
  assert.equal(one(r, 'gc_pause_seconds', { quantile: '0.5' }).samples[0]!.value, 0.1);
  assert.equal(one(r, 'gc_pause_seconds', { quantile: '0.99' }).samples[0]!.value, 0.9);
  assert.equal(one(r, 'gc_pause_seconds_sum').samples[0]!.value, 12.5);
  assert.equal(one(r, 'gc_pause_seconds_count').samples[0]!.value, 100);
  assert.equal(r.series.length, 4);
  assert.ok(r.series.every((s) => s.type === 'summary' && s.familyName === 'gc_pause_seconds' && s.createdTimestampMs === MS - 1000));
});

test('an exponential histogram becomes a native histogram: buckets shifted by one, spans over runs, deltas of counts', () => {
  const point = exponentialHistogramPoint(
    {
      scale: 1,
      zeroCount: 1,
      // OTLP indexes -1..5, so Prometheus indexes 0..6: counts 5,0,2,7,0,0,4
      positive: { offset: -1, bucketCounts: [5, 0, 2, 7, 0, 0, 4] },
      negative: { offset: 2, bucketCounts: [3] },
      sum: 123.5,
    },
    { timeUnixNano: T, startTimeUnixNano: at(-1000), attributes: { op: 'read' } },
  );
  const r = translate(batchOf([exponentialHistogram('io.latency', [point], { unit: 'ms', description: 'Latency.' })], {}));
  assert.equal(r.series.length, 1);
  const s = r.series[0]!;
  assert.deepEqual(s, {
    labels: [
      { name: '__name__', value: 'io_latency_milliseconds' },
      { name: 'op', value: 'read' },
    ],
    samples: [],
    histograms: [
      {
        timestampMs: MS,
        count: 22,
        sum: 123.5,
        schema: 1,
        zeroThreshold: 1e-128,
        zeroCount: 1,
        negativeSpans: [{ offset: 3, length: 1 }],
        negativeDeltas: [3],
        positiveSpans: [
          { offset: 0, length: 1 },
          { offset: 1, length: 2 },
          { offset: 2, length: 1 },
        ],
        positiveDeltas: [5, -3, 5, -3],
        resetHint: 0,
      },
    ],
    type: 'histogram',
    help: 'Latency.',
    unit: 'milliseconds',
    familyName: 'io_latency_milliseconds',
    createdTimestampMs: MS - 1000,
  });
});

test('an exponential histogram above scale 8 is merged down to schema 8; below -4 it is dropped', () => {
  const fine = exponentialHistogramPoint(
    // scale 10 → 8: every 4 OTLP buckets merge. Indexes -3..1: -3,-2,-1 → -1; 0,1 → 0.
    { scale: 10, positive: { offset: -3, bucketCounts: [1, 2, 3, 4, 5] }, zeroThreshold: 0.001 },
    { timeUnixNano: T },
  );
  const wide = exponentialHistogramPoint({ scale: 10, positive: { offset: 0, bucketCounts: [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 9] } }, { timeUnixNano: T });
  const coarse = exponentialHistogramPoint({ scale: -5, positive: { offset: 0, bucketCounts: [1] } }, { timeUnixNano: T });
  const r = translate(batchOf([exponentialHistogram('fine', [fine]), exponentialHistogram('wide', [wide]), exponentialHistogram('coarse', [coarse])], {}));
  const f = one(r, 'fine').histograms[0]!;
  assert.equal(f.schema, 8);
  assert.equal(f.zeroThreshold, 0.001);
  assert.deepEqual(f.positiveSpans, [{ offset: 0, length: 2 }]);
  assert.deepEqual(f.positiveDeltas, [6, 3]);
  const w = one(r, 'wide').histograms[0]!;
  // OTLP 0..3 → 0 (10), 4..7 → 1 (26), 8..11 empty, 12 → 3 (9); Prometheus 1, 2, 4
  assert.deepEqual(w.positiveSpans, [
    { offset: 1, length: 2 },
    { offset: 1, length: 1 },
  ]);
  assert.deepEqual(w.positiveDeltas, [10, 16, -17]);
  assert.deepEqual(r.dropped, { unsupported_scale: 1 });
  assert.deepEqual(names(r), ['fine', 'wide']);
});

test('delta temporality is dropped and counted per data point', () => {
  const points = (n: number) => Array.from({ length: n }, (_, i) => numberPoint(i, { timeUnixNano: at(i) }));
  const r = translate(
    batchOf([
      sum('d.sum', points(2), { temporality: Temporality.Delta }),
      sum('d.updown', points(1), { temporality: Temporality.Delta, monotonic: false }),
      histogram('d.hist', [histogramPoint({ explicitBounds: [1], bucketCounts: [1, 1] }, { timeUnixNano: T })], { temporality: Temporality.Delta }),
      exponentialHistogram('d.exp', [exponentialHistogramPoint({ scale: 0 }, { timeUnixNano: T })], { temporality: Temporality.Delta }),
      sum('u.sum', points(3), { temporality: Temporality.Unspecified }),
      gauge('kept', points(1)),
    ], {}),
  );
  assert.deepEqual(r.dropped, { delta_temporality: 5, unspecified_temporality: 3 });
  assert.deepEqual(names(r), ['kept']);
});

test('no recorded value becomes the stale marker 0x7ff0000000000002 in every series of the point', () => {
  const flags = DataPointFlags.NoRecordedValue;
  const r = translate(
    batchOf([
      gauge('g', [numberPoint(0, { timeUnixNano: T, flags })]),
      sum('c', [numberPoint(0n, { timeUnixNano: T, flags })]),
      histogram('h', [histogramPoint({ explicitBounds: [1], bucketCounts: [0, 0], sum: 0 }, { timeUnixNano: T, flags })]),
      summary('s', [summaryPoint({ count: 0, sum: 0, quantiles: { 0.5: 0 } }, { timeUnixNano: T, flags })]),
      exponentialHistogram('e', [exponentialHistogramPoint({ scale: 0, positive: { offset: 0, bucketCounts: [4] } }, { timeUnixNano: T, flags })]),
    ], {}),
  );
  assert.equal(bitsOf(STALE_NAN), '7ff0000000000002');
  const samples = r.series.flatMap((s) => s.samples);
  assert.equal(samples.length, 1 + 1 + 4 + 3);
  for (const s of samples) assert.equal(bitsOf(s.value), '7ff0000000000002');
  const h = one(r, 'e').histograms[0]!;
  assert.equal(bitsOf(h.sum), '7ff0000000000002');
  assert.equal(h.count, 0);
  assert.deepEqual(h.positiveSpans, []);
  assert.ok(isStaleNaN(one(r, 'g').samples[0]!.value));
});

test('isStaleNaN knows the marker, also with its quiet bit set, and nothing else', () => {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, 0x7ff8000000000002n);
  assert.equal(isStaleNaN(view.getFloat64(0)), true);
  assert.equal(isStaleNaN(STALE_NAN), true);
  assert.equal(isStaleNaN(NaN), false);
  assert.equal(isStaleNaN(0), false);
  assert.equal(isStaleNaN(Infinity), false);
  // what an encoder does: writes STALE_NAN itself, with the exact bits
  const out = new DataView(new ArrayBuffer(8));
  const values = [1.5, STALE_NAN]; // a plain number array quiets the NaN
  out.setFloat64(0, isStaleNaN(values[1]!) ? STALE_NAN : values[1]!);
  assert.equal(out.getBigUint64(0).toString(16), '7ff0000000000002');
});

test('points of one series are merged across resource entries, in time order; a duplicate millisecond keeps the later point', () => {
  const entry = (points: [offsetMs: number, value: number][]) => ({
    resource: RESOURCE,
    metrics: [
      gauge('g', points.map(([o, v]) => numberPoint(v, { timeUnixNano: at(o) }))),
      histogram('h', points.map(([o, v]) => histogramPoint({ explicitBounds: [1], bucketCounts: [v, 0], sum: v }, { timeUnixNano: at(o) }))),
    ],
  });
  const r = translate(metricsBatch([entry([[30, 3], [10, 1]]), entry([[20, 2], [10, 9]])]));
  assert.deepEqual(one(r, 'g').samples, [
    { timestampMs: MS + 10, value: 9 },
    { timestampMs: MS + 20, value: 2 },
    { timestampMs: MS + 30, value: 3 },
  ]);
  assert.deepEqual(
    one(r, 'h_bucket', { le: '1' }).samples.map((s) => s.value),
    [9, 2, 3],
  );
  // one duplicate gauge point, one duplicate histogram point (not one per series it makes)
  assert.deepEqual(r.dropped, { duplicate_timestamp: 2 });
});

test('prometheus.type metadata: unknown gauges stay unknown, info sums become info', () => {
  const g = { ...gauge('raw', [numberPoint(1, { timeUnixNano: T })]), metadata: { 'prometheus.type': 'unknown' } };
  const i = { ...sum('build_info', [numberPoint(1, { timeUnixNano: T })], { monotonic: false }), metadata: { 'prometheus.type': 'info' } };
  const r = translate(batchOf([g, i], {}));
  assert.equal(one(r, 'raw').type, 'unknown');
  assert.equal(one(r, 'build_info').type, 'info');
  // a series passed on by itself keeps its family's type; a gauge cannot claim to be a counter
  const b = { ...gauge('rpc_seconds_bucket', [numberPoint(3, { timeUnixNano: T, attributes: { le: '1.0' } })]), metadata: { 'prometheus.type': 'histogram' } };
  const c = { ...gauge('odd', [numberPoint(1, { timeUnixNano: T })]), metadata: { 'prometheus.type': 'counter' } };
  const r2 = translate(batchOf([b, c], {}), { addMetricSuffixes: false });
  assert.equal(one(r2, 'rpc_seconds_bucket').type, 'histogram');
  assert.deepEqual(one(r2, 'rpc_seconds_bucket').labels.find((l) => l.name === 'le'), { name: 'le', value: '1.0' });
  assert.equal(one(r2, 'odd').type, 'gauge');
});

test('a metric with an empty name is dropped and counted; the batch is not changed', () => {
  const batch = batchOf([gauge('', [numberPoint(1, { timeUnixNano: T }), numberPoint(2, { timeUnixNano: T })]), gauge('ok', [numberPoint(1, { timeUnixNano: T })])]);
  const before = structuredClone(batch);
  const r = translate(batch, { resourceToTelemetryConversion: true, externalLabels: { a: 'b' } });
  assert.deepEqual(r.dropped, { invalid_metric_name: 2 });
  assert.deepEqual(batch, before);
});

test('two points in the same millisecond, in order, still leave one sample: the later', () => {
  const r = translate(batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T }), numberPoint(2, { timeUnixNano: T + 1000n })])], {}));
  assert.deepEqual(one(r, 'g').samples, [{ timestampMs: MS, value: 2 }]);
  assert.deepEqual(r.dropped, { duplicate_timestamp: 1 });
});

test('points of one histogram metric with different bounds each get their own le labels', () => {
  const r = translate(
    batchOf(
      [
        histogram('h', [
          histogramPoint({ explicitBounds: [1, 2], bucketCounts: [1, 1, 1] }, { timeUnixNano: T, attributes: { p: 'a' } }),
          histogramPoint({ explicitBounds: [5], bucketCounts: [4, 1] }, { timeUnixNano: T, attributes: { p: 'b' } }),
        ]),
      ],
      {},
    ),
  );
  const les = (p: string) =>
    r.series.filter((s) => labelsOf(s).p === p && labelsOf(s).__name__ === 'h_bucket').map((s) => `${labelsOf(s).le}=${s.samples[0]!.value}`);
  assert.deepEqual(les('a'), ['1=1', '2=2', '+Inf=3']);
  assert.deepEqual(les('b'), ['5=4', '+Inf=5']);
});

test('series come back with the same label arrays call after call; a changed attribute changes them', () => {
  const point = (attrs: Attributes) => batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T, attributes: attrs })])]);
  const first = one(translate(point({ a: '1' })), 'g');
  const again = one(translate(point({ a: '1' })), 'g');
  assert.equal(again.labels, first.labels);
  const other = one(translate(point({ a: '2' })), 'g');
  assert.notEqual(other.labels, first.labels);
  assert.deepEqual(labelsOf(other), { __name__: 'g', a: '2', instance: 'pod-7', job: 'shop/checkout' });
});

test('ATTRIBUTES_KEY is a shortcut to a map\'s labels, checked against the map\'s content', () => {
  const keyed = (attrs: Record<string, string>, key: string) => Object.assign(attrs, { [ATTRIBUTES_KEY]: key });
  const batch = (attrs: Attributes) => batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T, attributes: attrs })])]);
  // A frozen map that comes again is taken as it is.
  const frozen = Object.freeze(keyed({ a: '1' }, 'k1'));
  const first = one(translate(batch(frozen)), 'g');
  assert.equal(one(translate(batch(frozen)), 'g').labels, first.labels);
  // A map under the same key with other content (a processor changed it) gets its own labels.
  const changed = keyed({ a: '1', b: '2' }, 'k1');
  assert.deepEqual(labelsOf(one(translate(batch(changed)), 'g')), { __name__: 'g', a: '1', b: '2', instance: 'pod-7', job: 'shop/checkout' });
  changed.b = '3';
  assert.deepEqual(labelsOf(one(translate(batch(changed)), 'g')), { __name__: 'g', a: '1', b: '3', instance: 'pod-7', job: 'shop/checkout' });
  // Two keys for the same labels still make one series in a call.
  const r = translate(batchOf([gauge('h', [numberPoint(1, { timeUnixNano: T, attributes: keyed({ x: 'y' }, 'k2') }), numberPoint(2, { timeUnixNano: at(1000), attributes: keyed({ x: 'y' }, 'k3') })])]));
  assert.deepEqual(one(r, 'h').samples, [
    { timestampMs: MS, value: 1 },
    { timestampMs: MS + 1000, value: 2 },
  ]);
});
