import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { countDataPoints, MetricsRegistry, permanentError, retryableError, silentLogger } from '@skein/core';
import { sinkExporter, startService } from '@skein/core/testing';
import otlp, { createOtlpReceiver } from '../src/index.ts';
import {
  decodeResponseJson,
  decodeResponseProto,
  decodeStatusJson,
  decodeStatusProto,
  eventually,
  metricsJson,
  metricsProto,
  pushJson,
  pushProto,
  send,
  startOtlp,
} from './helpers.ts';

const HTTP = '{http: {endpoint: "127.0.0.1:0"}}';

test('a protobuf push is answered 200 in protobuf and reaches the pipeline with its context', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    const res = await pushProto(h.httpPort, metricsProto({ points: 3 }), {}, '/v1/metrics?cluster_id=eu-1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/x-protobuf');
    assert.deepEqual(decodeResponseProto(res.body), { rejectedDataPoints: 0, errorMessage: '' });

    assert.equal(h.sink.received.length, 1);
    const { batch, ctx } = h.sink.received[0]!;
    assert.equal(countDataPoints(batch), 3);
    assert.equal(batch.resourceMetrics[0]!.resource.attributes['service.name'], 'agent');
    assert.equal(ctx.transport, 'http');
    assert.equal(ctx.receiver, 'otlp');
    assert.equal(ctx.clusterId, 'eu-1');
    assert.match(ctx.peer ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(ctx.principal, undefined);
    assert.ok(ctx.signal instanceof AbortSignal);

    assert.equal(h.requests('http', 'accepted'), 1);
    assert.equal(h.registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp', transport: 'http' }), 3);
    assert.equal(h.registry.sum('skein_receiver_request_duration_seconds', { receiver: 'otlp', transport: 'http' }), 1);
  } finally {
    await h.stop();
  }
});

test('an OTLP/JSON push is answered in JSON, whatever the content type parameters', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    const res = await pushJson(h.httpPort, metricsJson({ points: 2 }), { 'content-type': 'Application/JSON; charset=utf-8' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.text), {});
    assert.equal(countDataPoints(h.sink.received[0]!.batch), 2);
  } finally {
    await h.stop();
  }
});

test('invalid points are left out and reported as partial success, in both encodings', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    const proto = await pushProto(h.httpPort, metricsProto({ points: 2, valueless: 3 }));
    assert.equal(proto.status, 200);
    const p = decodeResponseProto(proto.body);
    assert.equal(p.rejectedDataPoints, 3);
    assert.match(p.errorMessage, /no value/);

    const json = await pushJson(h.httpPort, metricsJson({ points: 1, valueless: 1 }));
    assert.equal(json.status, 200);
    const j = decodeResponseJson(json.text);
    assert.equal(j.rejectedDataPoints, 1);
    assert.match(j.errorMessage, /no value/);

    assert.deepEqual(h.sink.received.map((r) => countDataPoints(r.batch)), [2, 1]);
    assert.equal(h.requests('http', 'partial'), 2);
    assert.equal(h.registry.sum('skein_receiver_refused_points_total', { receiver: 'otlp', transport: 'http', reason: 'invalid' }), 4);
    assert.equal(h.registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp', transport: 'http' }), 3);
  } finally {
    await h.stop();
  }
});

test('gzip, deflate and zstd bodies are decompressed', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    const body = metricsProto({ points: 4 });
    for (const [encoding, compressed] of [
      ['gzip', gzipSync(body)],
      ['deflate', deflateSync(body)],
      ['zstd', zstdCompressSync(body)],
      ['identity', Buffer.from(body)],
    ] as const) {
      const res = await pushProto(h.httpPort, compressed, { 'content-encoding': encoding });
      assert.equal(res.status, 200, `${encoding}: ${res.text}`);
    }
    assert.deepEqual(h.sink.received.map((r) => countDataPoints(r.batch)), [4, 4, 4, 4]);
  } finally {
    await h.stop();
  }
});

test('pipeline refusals map to 503 / 429 with Retry-After and RetryInfo, or to 400 when permanent', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    h.sink.control.fail = () => retryableError('exporter unavailable', { retryAfterMs: 1500 });
    const unavailable = await pushProto(h.httpPort);
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers['retry-after'], '2');
    assert.equal(unavailable.headers['content-type'], 'application/x-protobuf');
    assert.deepEqual(decodeStatusProto(unavailable.body), { code: 14, message: 'exporter unavailable', retryDelayMs: 1500 });

    h.sink.control.fail = () => retryableError('heap over its limit', { reason: 'memory_limit', code: 'SKEIN_ERR_MEMORY_LIMIT', retryAfterMs: 250 });
    const throttled = await pushJson(h.httpPort);
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers['retry-after'], '1');
    assert.equal(throttled.headers['content-type'], 'application/json');
    assert.deepEqual(decodeStatusJson(throttled.text), { code: 8, message: 'heap over its limit', retryDelayMs: 250 });

    h.sink.control.fail = () => retryableError('queue is full', { reason: 'queue_full' });
    const full = await pushProto(h.httpPort);
    assert.equal(full.status, 429);
    assert.equal(full.headers['retry-after'], '1');
    assert.equal(decodeStatusProto(full.body).retryDelayMs, 1000);

    h.sink.control.fail = () => new Error('socket hang up');
    const broken = await pushProto(h.httpPort);
    assert.equal(broken.status, 503);
    assert.deepEqual(decodeStatusProto(broken.body), { code: 14, message: 'socket hang up', retryDelayMs: 1000 });

    h.sink.control.fail = () => permanentError('series limit reached');
    const permanent = await pushProto(h.httpPort);
    assert.equal(permanent.status, 400);
    assert.equal(permanent.headers['retry-after'], undefined);
    assert.deepEqual(decodeStatusProto(permanent.body), { code: 3, message: 'series limit reached' });

    assert.equal(h.requests('http', 'refused'), 5);
    assert.equal(h.sink.received.length, 0);
  } finally {
    await h.stop();
  }
});

test('traces and logs answer 404 saying no such pipeline is configured; other paths 404, wrong methods 405', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    const traces = await pushProto(h.httpPort, metricsProto(), {}, '/v1/traces');
    assert.equal(traces.status, 404);
    assert.equal(traces.headers['content-type'], 'application/x-protobuf');
    const t = decodeStatusProto(traces.body);
    assert.equal(t.code, 12);
    assert.match(t.message, /^no traces pipeline is configured/);

    const logs = await pushJson(h.httpPort, '{}', {}, '/v1/logs');
    assert.equal(logs.status, 404);
    assert.match(decodeStatusJson(logs.text).message, /^no logs pipeline is configured/);
    assert.equal(h.requests('http', 'no_pipeline'), 2);

    const other = await send(h.httpPort, { method: 'GET', path: '/nothing/here' });
    assert.equal(other.status, 404);
    assert.match(decodeStatusJson(other.text).message, /POST \/v1\/metrics/);

    const get = await send(h.httpPort, { method: 'GET', path: '/v1/metrics' });
    assert.equal(get.status, 405);
    assert.equal(get.headers['allow'], 'POST');
    assert.match(decodeStatusJson(get.text).message, /method GET is not allowed/);
    assert.equal(h.requests('http', 'method_not_allowed'), 1);
    assert.equal(h.sink.received.length, 0);
  } finally {
    await h.stop();
  }
});

test('metrics_path moves the push endpoint; include_headers copies the named headers into the context', async () => {
  const h = await startOtlp({
    protocols: '{http: {endpoint: "127.0.0.1:0", metrics_path: /ingest/otlp, include_headers: [X-Agent-Version]}}',
  });
  try {
    assert.equal((await pushProto(h.httpPort)).status, 404);
    const res = await pushProto(h.httpPort, metricsProto(), { 'x-agent-version': '1.2.3', 'x-other': 'no' }, '/ingest/otlp');
    assert.equal(res.status, 200);
    assert.deepEqual(h.sink.received[0]!.ctx.headers, { 'x-agent-version': '1.2.3' });
  } finally {
    await h.stop();
  }
});

test('Expect: 100-continue: the body is asked for only once the push can take it', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0", max_request_body_size: 1KiB}}' });
  const agent = new Agent({ keepAlive: true });
  const expecting = (body: Uint8Array) =>
    new Promise<{ status: number; continued: boolean; connection: string | undefined }>((resolve, reject) => {
      let continued = false;
      const req = request(
        {
          host: '127.0.0.1',
          port: h.httpPort,
          method: 'POST',
          path: '/v1/metrics',
          agent,
          headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length, expect: '100-continue' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, continued, connection: res.headers['connection'] }));
        },
      );
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
  try {
    assert.deepEqual(await expecting(metricsProto({ points: 2 })), { status: 200, continued: true, connection: 'keep-alive' });
    // The body was never sent, so the connection cannot carry another request.
    assert.deepEqual(await expecting(metricsProto({ points: 200 })), { status: 413, continued: false, connection: 'close' });
    assert.equal(h.sink.received.length, 1);
  } finally {
    agent.destroy();
    await h.stop();
  }
});

test('a client that leaves mid-body is counted as aborted and nothing reaches the pipeline', async () => {
  const h = await startOtlp({ protocols: HTTP });
  try {
    const client = request({
      host: '127.0.0.1',
      port: h.httpPort,
      method: 'POST',
      path: '/v1/metrics',
      agent: false,
      headers: { 'content-type': 'application/x-protobuf', 'content-length': 1000 },
    });
    client.on('error', () => {});
    client.write(metricsProto().subarray(0, 3));
    await new Promise<void>((resolve) => client.once('socket', (s) => s.once('connect', () => resolve())));
    client.destroy();
    await eventually(() => h.requests('http', 'aborted') === 1, 'the receiver notices the client left');
    assert.equal(h.sink.seen.length, 0);
    assert.equal((await pushProto(h.httpPort)).status, 200);
  } finally {
    await h.stop();
  }
});

test("the batch's signal aborts when the client goes away while the pipeline holds it", async () => {
  const h = await startOtlp({ protocols: HTTP });
  let release!: () => void;
  h.sink.control.hold = new Promise<void>((r) => (release = r));
  try {
    const client = request({ host: '127.0.0.1', port: h.httpPort, method: 'POST', path: '/v1/metrics', agent: false, headers: { 'content-type': 'application/x-protobuf' } });
    client.on('error', () => {});
    client.end(metricsProto());
    await eventually(() => h.sink.seen.length === 1, 'the batch reaches the exporter');
    const signal = h.sink.seen[0]!.signal!;
    assert.equal(signal.aborted, false);
    client.destroy();
    await eventually(() => signal.aborted, 'the signal aborts');
  } finally {
    release();
    await h.stop();
  }
});

test('shutdown lets a push in flight finish, then refuses connections; it is safe twice and without start', async () => {
  const h = await startOtlp({ protocols: HTTP });
  let release!: () => void;
  h.sink.control.hold = new Promise<void>((r) => (release = r));
  const inFlight = pushProto(h.httpPort);
  await eventually(() => h.sink.seen.length === 1, 'the push reaches the exporter');
  // The listener closes at once; the push in flight still gets its answer.
  const stopping = h.receiver.shutdown!();
  release();
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.headers['connection'], 'close');
  await stopping;
  await assert.rejects(pushProto(h.httpPort), /ECONNREFUSED/);
  await h.receiver.shutdown!();
  await h.stop();

  const registry = new MetricsRegistry();
  const idle = createOtlpReceiver(
    {
      id: 'otlp',
      config: { protocols: { http: null } },
      logger: silentLogger,
      telemetry: registry.scoped({ receiver: 'otlp' }),
      pipelines: ['metrics'],
    },
    { consume: async () => {} },
  );
  await idle.shutdown!();
  await idle.shutdown!();
  assert.equal(idle.httpAddress, undefined);
});

test('a config without protocols is refused before anything starts, naming the key', async () => {
  const sink = sinkExporter();
  await assert.rejects(
    startService(
      `
receivers: {otlp: {protocols: {}}}
exporters: {sink: {}}
service: {pipelines: {metrics: {receivers: [otlp], exporters: [sink]}}}
`,
      [otlp, sink.factory],
    ),
    (err: Error) => {
      assert.match(err.message, /receivers::otlp::protocols: set grpc or http \(or both\)/);
      return true;
    },
  );
  await assert.rejects(
    startService(
      `
receivers: {otlp: {protocols: {http: {read_header_timeout: 2m, request_timeout: 1m}}}}
exporters: {sink: {}}
service: {pipelines: {metrics: {receivers: [otlp], exporters: [sink]}}}
`,
      [otlp, sink.factory],
    ),
    /receivers::otlp::protocols::http::read_header_timeout: must not be longer than request_timeout \(1m\), got "2m"/,
  );
});
