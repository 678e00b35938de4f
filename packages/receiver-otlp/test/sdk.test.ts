/**
 * The receiver against a real OTLP client: the OpenTelemetry JS SDK (`@opentelemetry/sdk-metrics`)
 * pushing through its three OTLP exporters, gRPC, HTTP/protobuf and HTTP/JSON.
 *
 * The SDK's OTLP exporter is wrapped so that every `ResourceMetrics` it is handed is turned, at
 * that moment, into the Skein batch it should become; the test then requires the sink to have
 * received exactly that. One reader does both, because a second reader would collect at another
 * instant (other timestamps, and for delta other values). Exports run on `forceFlush()`, with
 * the reader's own interval set to an hour, so nothing depends on timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ValueType, type Attributes as SdkAttributes, type AttributeValue as SdkAttributeValue, type HrTime } from '@opentelemetry/api';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { AggregationTemporalityPreference, OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
  type PushMetricExporter,
  type ResourceMetrics as SdkResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  countDataPoints,
  retryableError,
  Temporality,
  type AttributeValue,
  type Attributes,
  type DataPoint,
  type Metric,
  type MetricsBatch,
  type ScopeMetrics,
} from '@skein/core';
import { startOtlp, type Harness } from './helpers.ts';

const BOTH = '{grpc: {endpoint: "127.0.0.1:0"}, http: {endpoint: "127.0.0.1:0"}}';

/** `ExportResultCode` of `@opentelemetry/core` (not a dependency of this package). */
const SUCCESS = 0;
const FAILED = 1;

type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];
type Transport = 'grpc' | 'proto' | 'json';

const RESOURCE = { 'service.name': 'checkout', 'host.name': 'node-7', cluster_id: 'c1', 'host.cores': 8 };
const SCHEMA_URL = 'https://opentelemetry.io/schemas/1.26.0';

// ---------------------------------------------------------------------------------------------
// What the SDK handed its exporter, as the Skein batch it must arrive as

function nanos([seconds, ns]: HrTime): bigint {
  return BigInt(seconds) * 1_000_000_000n + BigInt(ns);
}

/** OTLP/JS rule: an integral JS number is sent as `int_value`, which Skein reads as a bigint. */
function attributeValue(v: SdkAttributeValue): AttributeValue {
  if (Array.isArray(v)) return v.map((x) => attributeValue(x as SdkAttributeValue));
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  return v as string | boolean;
}

function attributes(a: SdkAttributes): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out[k] = attributeValue(v);
  return out;
}

function temporality(t: AggregationTemporality): Temporality {
  return t === AggregationTemporality.DELTA ? Temporality.Delta : Temporality.Cumulative;
}

function metric(m: MetricData): Metric {
  const head = { name: m.descriptor.name, description: m.descriptor.description, unit: m.descriptor.unit };
  const base = (p: { attributes: SdkAttributes; startTime: HrTime; endTime: HrTime }) => ({
    attributes: attributes(p.attributes),
    startTimeUnixNano: nanos(p.startTime),
    timeUnixNano: nanos(p.endTime),
    flags: 0,
    exemplars: [],
  });
  const number = (v: number) => (m.descriptor.valueType === ValueType.INT ? BigInt(v) : v);
  switch (m.dataPointType) {
    case DataPointType.GAUGE:
      return { type: 'gauge', ...head, points: m.dataPoints.map((p) => ({ ...base(p), value: number(p.value) })) };
    case DataPointType.SUM:
      return {
        type: 'sum',
        ...head,
        isMonotonic: m.isMonotonic,
        temporality: temporality(m.aggregationTemporality),
        points: m.dataPoints.map((p) => ({ ...base(p), value: number(p.value) })),
      };
    case DataPointType.HISTOGRAM:
      return {
        type: 'histogram',
        ...head,
        temporality: temporality(m.aggregationTemporality),
        points: m.dataPoints.map((p) => ({
          ...base(p),
          count: p.value.count,
          sum: p.value.sum,
          bucketCounts: [...p.value.buckets.counts],
          explicitBounds: [...p.value.buckets.boundaries],
          min: p.value.min,
          max: p.value.max,
        })),
      };
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      return {
        type: 'exponential_histogram',
        ...head,
        temporality: temporality(m.aggregationTemporality),
        points: m.dataPoints.map((p) => ({
          ...base(p),
          count: p.value.count,
          sum: p.value.sum,
          scale: p.value.scale,
          zeroCount: p.value.zeroCount,
          positive: { offset: p.value.positive.offset, bucketCounts: [...p.value.positive.bucketCounts] },
          negative: { offset: p.value.negative.offset, bucketCounts: [...p.value.negative.bucketCounts] },
          min: p.value.min,
          max: p.value.max,
          zeroThreshold: 0,
        })),
      };
  }
}

function expectedBatch(rm: SdkResourceMetrics): MetricsBatch {
  const scopeMetrics: ScopeMetrics[] = rm.scopeMetrics.map((sm) => ({
    scope: { name: sm.scope.name, version: sm.scope.version || undefined },
    metrics: sm.metrics.map(metric),
    schemaUrl: sm.scope.schemaUrl || undefined,
  }));
  return plain({ resourceMetrics: [{ resource: { attributes: attributes(rm.resource.attributes) }, scopeMetrics, schemaUrl: rm.resource.schemaUrl || undefined }] });
}

/**
 * A deep copy with plain prototypes and without properties whose value is `undefined`: the
 * decoder may leave an absent `min` as `undefined` or out; both mean "not sent".
 */
function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plain) as T;
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
  return out as T;
}

/** Passes every export on to the OTLP exporter, after noting what it must become and, later, how it ended. */
function recordingExporter(inner: PushMetricExporter) {
  const expected: MetricsBatch[] = [];
  const results: ExportResult[] = [];
  const exporter: PushMetricExporter = {
    export(metrics, done) {
      expected.push(expectedBatch(metrics));
      inner.export(metrics, (result) => {
        results.push(result);
        done(result);
      });
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
    selectAggregationTemporality: (type) => inner.selectAggregationTemporality!(type),
    selectAggregation: (type) => inner.selectAggregation!(type),
  };
  return { exporter, expected, results };
}

interface ExportOptions {
  /** Delta temporality where the SDK allows it (default: cumulative). */
  delta?: boolean;
  /** Compress requests with gzip (HTTP exporters). */
  gzip?: boolean;
}

/** `CompressionAlgorithm.GZIP` of `@opentelemetry/otlp-exporter-base` (not a dependency of this package). */
const GZIP = 'gzip' as NonNullable<ConstructorParameters<typeof ProtoMetricExporter>[0]>['compression'];

function otlpExporter(transport: Transport, h: Harness, opts: ExportOptions): PushMetricExporter {
  const temporalityPreference = opts.delta ? AggregationTemporalityPreference.DELTA : AggregationTemporalityPreference.CUMULATIVE;
  if (transport === 'grpc') {
    const metadata = new grpc.Metadata();
    metadata.set('cluster_id', 'c1');
    return new GrpcMetricExporter({ url: `http://127.0.0.1:${h.grpcPort}`, metadata, temporalityPreference });
  }
  const options = { url: `http://127.0.0.1:${h.httpPort}/v1/metrics?cluster_id=c1`, temporalityPreference, ...(opts.gzip && { compression: GZIP }) };
  return transport === 'proto' ? new ProtoMetricExporter(options) : new JsonMetricExporter(options);
}

// ---------------------------------------------------------------------------------------------
// An application recording on every instrument kind

const HISTOGRAM_BOUNDS = [0.01, 0.1, 1];

function sdkApp(transport: Transport, h: Harness, opts: ExportOptions = {}) {
  const recording = recordingExporter(otlpExporter(transport, h, opts));
  const provider = new MeterProvider({
    resource: resourceFromAttributes(RESOURCE),
    views: ['payload.size', 'balance.change'].map((instrumentName) => ({
      instrumentName,
      aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM, options: { maxSize: 20 } } as const,
    })),
    readers: [new PeriodicExportingMetricReader({ exporter: recording.exporter, exportIntervalMillis: 3_600_000 })],
  });
  const meter = provider.getMeter('skein-sdk-test', '1.2.3', { schemaUrl: SCHEMA_URL });
  const other = provider.getMeter('skein-sdk-test/unversioned');
  const requests = meter.createCounter('http.requests', { description: 'Requests served.', unit: '{request}', valueType: ValueType.INT });
  const bytes = meter.createCounter('http.bytes', { unit: 'By', valueType: ValueType.DOUBLE });
  const queue = meter.createUpDownCounter('queue.depth', { valueType: ValueType.INT });
  const temperature = meter.createGauge('room.temperature', { unit: 'Cel' });
  const duration = meter.createHistogram('http.duration', { unit: 's', advice: { explicitBucketBoundaries: HISTOGRAM_BOUNDS } });
  const payload = meter.createHistogram('payload.size', { unit: 'By' });
  // Histograms drop negative values; an up-down counter aggregated exponentially keeps them
  // (negative buckets) and sends no sum.
  const balance = meter.createUpDownCounter('balance.change', { unit: '{EUR}' });
  const cpu = other.createObservableGauge('cpu.utilization', { unit: '1' });
  let cpuRound = 0;
  cpu.addCallback((result) => {
    result.observe(0.25 + cpuRound, { cpu: 0 });
    result.observe(0.5 + cpuRound, { cpu: 1 });
  });

  const ok = { 'http.route': '/checkout', 'http.status_code': 200, retried: false, ratio: 0.5, tags: ['a', 'b'] };
  const failed = { 'http.route': '/checkout', 'http.status_code': 500 };
  return {
    provider,
    recording,
    /** Round 1 and round 2 record different amounts, so cumulative and delta exports differ. */
    record(round: 1 | 2) {
      cpuRound = round / 100;
      requests.add(3, ok);
      requests.add(round === 1 ? 4 : 10, ok);
      requests.add(1, failed);
      bytes.add(1.5);
      bytes.add(2.5); // a double counter with an integral total must stay a double
      queue.add(10, { queue: 'a' });
      queue.add(-3, { queue: 'a' });
      queue.add(-2 * round, { queue: 'b' });
      temperature.record(21.5, { room: 'lab' });
      temperature.record(round === 1 ? 22.25 : -4.5, { room: 'lab' });
      for (const v of [0.005, 0.05, 0.05, 0.5, 5]) duration.record(v * round, { 'http.route': '/checkout' });
      for (const v of [0, 0.001, 0.75, 3, 3, 1000]) payload.record(v * round);
      for (const v of [-3, -0.5, 0, 2]) balance.add(v * round);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

function find(batch: MetricsBatch, name: string): Metric {
  for (const rm of batch.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) if (m.name === name) return m;
  assert.fail(`metric ${name} did not arrive`);
}

function pointWith(batch: MetricsBatch, name: string, attrs: Attributes): DataPoint {
  const m = find(batch, name);
  const found = (m.points as DataPoint[]).find((p) => isDeepStrictEqual(plain(p.attributes), attrs));
  assert.ok(found, `${name} has no point with attributes ${JSON.stringify(attrs, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  return found;
}

/**
 * Literal values of round 1, from what the app recorded rather than from the SDK's data, so
 * that a wrong expectation (or a SDK that recorded something else) shows too.
 */
function checkRoundOne(batch: MetricsBatch): void {
  const rm = batch.resourceMetrics[0]!;
  for (const [k, v] of Object.entries({ 'service.name': 'checkout', 'host.name': 'node-7', cluster_id: 'c1', 'host.cores': 8n })) {
    assert.deepEqual(rm.resource.attributes[k], v, `resource attribute ${k}`);
  }
  assert.deepEqual(
    rm.scopeMetrics.map((sm) => plain({ scope: sm.scope, schemaUrl: sm.schemaUrl })),
    [{ scope: { name: 'skein-sdk-test', version: '1.2.3' }, schemaUrl: SCHEMA_URL }, { scope: { name: 'skein-sdk-test/unversioned' } }],
  );

  const requests = find(batch, 'http.requests');
  assert.equal(requests.type, 'sum');
  assert.deepEqual([requests.description, requests.unit, requests.isMonotonic], ['Requests served.', '{request}', true]);
  const ok = { 'http.route': '/checkout', 'http.status_code': 200n, retried: false, ratio: 0.5, tags: ['a', 'b'] };
  assert.equal((pointWith(batch, 'http.requests', ok) as { value: bigint }).value, 7n);
  assert.equal((pointWith(batch, 'http.requests', { 'http.route': '/checkout', 'http.status_code': 500n }) as { value: bigint }).value, 1n);

  const bytes = pointWith(batch, 'http.bytes', {}) as { value: number };
  assert.equal(typeof bytes.value, 'number');
  assert.equal(bytes.value, 4);

  const queue = find(batch, 'queue.depth');
  assert.deepEqual([queue.type, queue.type === 'sum' && queue.isMonotonic], ['sum', false]);
  assert.equal((pointWith(batch, 'queue.depth', { queue: 'a' }) as { value: bigint }).value, 7n);
  assert.equal((pointWith(batch, 'queue.depth', { queue: 'b' }) as { value: bigint }).value, -2n);

  assert.equal(find(batch, 'room.temperature').type, 'gauge');
  assert.equal((pointWith(batch, 'room.temperature', { room: 'lab' }) as { value: number }).value, 22.25);

  const cpu = find(batch, 'cpu.utilization');
  assert.equal(cpu.type, 'gauge');
  assert.equal((pointWith(batch, 'cpu.utilization', { cpu: 1n }) as { value: number }).value, 0.51);

  const duration = find(batch, 'http.duration');
  assert.equal(duration.type, 'histogram');
  const h = pointWith(batch, 'http.duration', { 'http.route': '/checkout' }) as Extract<DataPoint, { explicitBounds: number[] }>;
  assert.deepEqual(plain({ ...h, attributes: undefined, startTimeUnixNano: undefined, timeUnixNano: undefined }), {
    flags: 0,
    exemplars: [],
    count: 5,
    sum: 0.005 + 0.05 + 0.05 + 0.5 + 5,
    bucketCounts: [1, 2, 1, 1],
    explicitBounds: HISTOGRAM_BOUNDS,
    min: 0.005,
    max: 5,
  });

  const payload = find(batch, 'payload.size');
  assert.equal(payload.type, 'exponential_histogram');
  const e = payload.points[0]!;
  assert.deepEqual([e.count, e.zeroCount, e.min, e.max, e.sum], [6, 1, 0, 1000, 0.001 + 0.75 + 3 + 3 + 1000]);
  // 0.001 and 0.75 lie below 1: indexes below zero, so a negative offset, at any scale.
  assert.ok(e.positive.offset < 0, `positive offset ${e.positive.offset}`);
  assert.equal(e.positive.bucketCounts.reduce((a, b) => a + b, 0), 5);

  const balance = find(batch, 'balance.change');
  assert.equal(balance.type, 'exponential_histogram');
  const b = balance.points[0]!;
  assert.deepEqual([b.count, b.zeroCount, b.min, b.max, b.sum], [4, 1, -3, 2, undefined]);
  assert.ok(b.negative.offset < 0, `negative offset ${b.negative.offset}`);
  assert.equal(b.negative.bucketCounts.reduce((a, c) => a + c, 0), 2);
  assert.equal(b.positive.bucketCounts.reduce((a, c) => a + c, 0), 1);

  // Nanoseconds since the epoch, not milliseconds or microseconds: within a day of now.
  const now = BigInt(Math.trunc(Date.now())) * 1_000_000n;
  const day = 86_400_000_000_000n;
  for (const m of rm.scopeMetrics.flatMap((sm) => sm.metrics)) {
    for (const p of m.points) {
      assert.ok(p.timeUnixNano > now - day && p.timeUnixNano < now + day, `${m.name}: time ${p.timeUnixNano}`);
      assert.notEqual(p.timeUnixNano % 1_000_000n, 0n, `${m.name}: time ${p.timeUnixNano} has no sub-millisecond digits`);
    }
  }
}

function checkContext(h: Harness, transport: Transport): void {
  for (const { ctx } of h.sink.received) {
    assert.equal(ctx.transport, transport === 'grpc' ? 'grpc' : 'http');
    assert.equal(ctx.receiver, 'otlp');
    assert.equal(ctx.clusterId, 'c1');
    assert.match(ctx.peer ?? '', /^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):\d+$/);
  }
}

/**
 * The SDK stamps collections with `Date.now()`, whole milliseconds, so every timestamp would end
 * in six zeros. A fractional offset gives them nanosecond digits, which a lossy conversion (a
 * detour through a double, say) would not keep.
 */
function withNanosecondClock(): () => void {
  const realNow = Date.now;
  Date.now = () => realNow() + 0.123457;
  return () => {
    Date.now = realNow;
  };
}

async function roundTrip(transport: Transport, opts: ExportOptions = {}) {
  const h = await startOtlp({ protocols: BOTH });
  const app = sdkApp(transport, h, opts);
  const restoreClock = withNanosecondClock();
  try {
    app.record(1);
    await app.provider.forceFlush();
    app.record(2);
    await app.provider.forceFlush();

    const { expected, results } = app.recording;
    assert.deepEqual(results.map((r) => [r.code, r.error?.message]), [[SUCCESS, undefined], [SUCCESS, undefined]]);
    assert.equal(h.sink.received.length, 2);
    checkRoundOne(h.sink.received[0]!.batch);
    for (let i = 0; i < 2; i++) assert.deepStrictEqual(plain(h.sink.received[i]!.batch), expected[i], `export ${i + 1}`);
    checkContext(h, transport);

    const httpOrGrpc = transport === 'grpc' ? 'grpc' : 'http';
    assert.equal(h.requests(httpOrGrpc, 'accepted'), 2);
    const points = expected.reduce((n, b) => n + countDataPoints(b), 0);
    assert.equal(h.registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp', transport: httpOrGrpc }), points);
    return h.sink.received;
  } finally {
    restoreClock();
    await app.provider.shutdown();
    await h.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Tests

test('OTLP/gRPC exporter: every instrument kind arrives as recorded (cumulative)', async () => {
  const received = await roundTrip('grpc');
  // Cumulative: the second export carries the totals and keeps the start time.
  const [first, second] = received.map((r) => pointWith(r.batch, 'http.requests', { 'http.route': '/checkout', 'http.status_code': 500n }));
  assert.equal((second as { value: bigint }).value, 2n);
  assert.equal(second!.startTimeUnixNano, first!.startTimeUnixNano);
});

test('OTLP/HTTP protobuf exporter: every instrument kind arrives as recorded (cumulative)', async () => {
  await roundTrip('proto');
});

test('OTLP/HTTP JSON exporter: every instrument kind arrives as recorded (cumulative)', async () => {
  await roundTrip('json');
});

test('OTLP/HTTP protobuf exporter with delta temporality: each export carries only its own interval', async () => {
  const received = await roundTrip('proto', { delta: true });
  const [first, second] = received.map((r) => r.batch);
  assert.equal((find(first!, 'http.requests') as { temporality: number }).temporality, Temporality.Delta);
  assert.equal((find(first!, 'http.duration') as { temporality: number }).temporality, Temporality.Delta);
  assert.equal((find(first!, 'payload.size') as { temporality: number }).temporality, Temporality.Delta);
  // The SDK keeps up-down counters cumulative under the delta preference.
  assert.equal((find(first!, 'queue.depth') as { temporality: number }).temporality, Temporality.Cumulative);
  const ok = { 'http.route': '/checkout', 'http.status_code': 200n, retried: false, ratio: 0.5, tags: ['a', 'b'] };
  const [p1, p2] = [first!, second!].map((b) => pointWith(b, 'http.requests', ok));
  assert.equal((p2 as { value: bigint }).value, 13n);
  assert.equal(p2!.startTimeUnixNano, p1!.timeUnixNano);
});

test('gzip: the HTTP protobuf and JSON exporters with compression arrive as recorded', async () => {
  const encodings: (string | undefined)[] = [];
  const onResponse = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    if (request.path.startsWith('/v1/metrics')) encodings.push(request.getHeader('content-encoding') as string | undefined);
  };
  subscribe('http.client.response.finish', onResponse);
  try {
    await roundTrip('proto', { gzip: true });
    await roundTrip('json', { gzip: true, delta: true });
  } finally {
    unsubscribe('http.client.response.finish', onResponse);
  }
  // Proof that the requests were compressed, so the comparisons above went through gunzip: per
  // round trip, two flushes and the one of the provider's shutdown.
  assert.deepEqual(encodings, Array(6).fill('gzip'));
});

test('a refusing pipeline: the SDK exporters see the export fail with 503 / 429 or UNAVAILABLE / RESOURCE_EXHAUSTED', async () => {
  const h = await startOtlp({ protocols: BOTH });
  // The HTTP status each exporter's request got, as Node's HTTP client reports it.
  const answers: { status: number; retryAfter: string | undefined }[] = [];
  const onResponse = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    if (request.path.startsWith('/v1/metrics')) answers.push({ status: response.statusCode!, retryAfter: response.headers['retry-after'] as string | undefined });
  };
  subscribe('http.client.response.finish', onResponse);
  // A minute's Retry-After is beyond the exporters' 10 s timeout, so they give up at once instead of retrying.
  const unavailable = () => retryableError('exporter unavailable', { retryAfterMs: 60_000 });
  const full = () => retryableError('queue is full', { reason: 'queue_full', retryAfterMs: 60_000 });
  const cases = [
    { transport: 'proto', fail: unavailable, status: 503, reason: 'retryable' },
    { transport: 'json', fail: full, status: 429, reason: 'queue_full' },
    { transport: 'grpc', fail: unavailable, code: grpc.status.UNAVAILABLE, reason: 'retryable' },
    { transport: 'grpc', fail: full, code: grpc.status.RESOURCE_EXHAUSTED, reason: 'queue_full' },
  ] as const;
  try {
    for (const c of cases) {
      h.sink.control.fail = c.fail;
      const app = sdkApp(c.transport, h);
      try {
        const httpOrGrpc = c.transport === 'grpc' ? 'grpc' : 'http';
        const refusedBefore = h.registry.sum('skein_receiver_refused_points_total', { receiver: 'otlp', transport: httpOrGrpc, reason: c.reason });
        const answersBefore = answers.length;
        app.record(1);
        await app.provider.forceFlush();

        const [result, ...more] = app.recording.results;
        assert.equal(more.length, 0, `${c.transport}: one export`);
        assert.equal(result!.code, FAILED, `${c.transport}: export result`);
        if ('status' in c) {
          assert.deepEqual(answers.slice(answersBefore), [{ status: c.status, retryAfter: '60' }], `${c.transport}: one request, answered ${c.status}`);
        } else {
          assert.equal((result!.error as grpc.ServiceError).code, c.code, `${c.transport}: ${result!.error?.message}`);
        }
        const points = countDataPoints(app.recording.expected[0]!);
        const refused = h.registry.sum('skein_receiver_refused_points_total', { receiver: 'otlp', transport: httpOrGrpc, reason: c.reason });
        assert.equal(refused - refusedBefore, points, `${c.transport}: refused points`);
      } finally {
        h.sink.control.fail = undefined;
        // Shutting down flushes once more; with the sink accepting again, that export must arrive.
        await app.provider.shutdown();
      }
    }
    assert.equal(h.requests('http', 'refused'), 2);
    assert.equal(h.requests('grpc', 'refused'), 2);
    assert.equal(h.sink.seen.length, 8, 'four refused exports, then the four final flushes');
    assert.equal(h.sink.received.length, 4, 'only the final flushes were accepted');
  } finally {
    unsubscribe('http.client.response.finish', onResponse);
    await h.stop();
  }
});
