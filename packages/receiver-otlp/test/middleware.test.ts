import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { defineExtension, MiddlewareRejection, retryableError, Type, type Extension, type ServerMiddleware } from '@skein/core';
import { decodeStatusJson, decodeStatusProto, grpcClient, grpcExport, pushJson, pushProto, send, startOtlp } from './helpers.ts';

/**
 * A middleware extension (`threshold_test/<name>`): records its calls into `events`, refuses
 * requests with `x-deny`, annotates the context, replies with headers and serves a route.
 */
function testMiddleware(events: string[]) {
  return defineExtension({
    type: 'threshold_test',
    description: 'A server middleware for tests.',
    stability: 'development',
    configSchema: Type.Object({ threshold: Type.String({ default: '0.75' }), throw_in_headers: Type.Boolean({ default: false }) }, { additionalProperties: false }),
    create: (s): Extension & ServerMiddleware => ({
      onRequest(req) {
        events.push(`${s.id} onRequest ${req.transport} ${req.path} cluster=${req.ctx.clusterId ?? '-'}`);
        if (req.headers['x-deny'] !== undefined) {
          throw new MiddlewareRejection('denied by policy', { httpStatus: 403, grpcCode: grpc.status.PERMISSION_DENIED, headers: { 'x-why': 'policy' } });
        }
        (req.ctx.annotations ??= new Map()).set(s.id, { seen: true });
      },
      responseHeaders(req, outcome) {
        events.push(`${s.id} responseHeaders accepted=${outcome.accepted}`);
        if (s.config.throw_in_headers) throw new Error('store unavailable');
        return { [`x-${s.id.replace('/', '-')}`]: s.config.threshold, 'ingero-quorum-met': String(outcome.accepted) };
      },
      routes: () => [
        {
          method: 'GET',
          path: '/api/v1/threshold',
          handle(_req, res, url) {
            const body = JSON.stringify({ cluster_id: url.searchParams.get('cluster_id'), threshold: Number(s.config.threshold) });
            res.writeHead(200, { 'content-type': 'application/json' }).end(body);
          },
        },
      ],
    }),
  });
}

/** An extension that is no middleware. */
const plainExtension = defineExtension({
  type: 'plain',
  description: 'Does nothing (tests).',
  stability: 'development',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create: () => ({}),
});

async function withMiddlewares(events: string[], protocols = 'http') {
  const endpoint = '{endpoint: "127.0.0.1:0", middlewares: [threshold_test/a, threshold_test/b]}';
  return startOtlp({
    protocols: protocols === 'http' ? `{http: ${endpoint}}` : `{grpc: ${endpoint}}`,
    extensions: '  threshold_test/a: {}\n  threshold_test/b: {threshold: "0.5"}',
    extensionIds: ['threshold_test/a', 'threshold_test/b'],
    factories: [testMiddleware(events)],
  });
}

test('HTTP: middlewares see the request first, in order, annotate it, and add headers once the pipeline took the batch', async () => {
  const events: string[] = [];
  const h = await withMiddlewares(events);
  h.sink.control.fail = () => {
    events.push('pipeline consume');
    return undefined;
  };
  try {
    const res = await pushProto(h.httpPort, undefined, {}, '/v1/metrics?cluster_id=eu-1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-threshold_test-a'], '0.75');
    assert.equal(res.headers['x-threshold_test-b'], '0.5');
    assert.equal(res.headers['ingero-quorum-met'], 'true');
    assert.deepEqual(events, [
      'threshold_test/a onRequest http /v1/metrics cluster=eu-1',
      'threshold_test/b onRequest http /v1/metrics cluster=eu-1',
      'pipeline consume',
      'threshold_test/a responseHeaders accepted=true',
      'threshold_test/b responseHeaders accepted=true',
    ]);
    const annotations = h.sink.received[0]!.ctx.annotations!;
    assert.deepEqual([...annotations.keys()], ['threshold_test/a', 'threshold_test/b']);
  } finally {
    await h.stop();
  }
});

test('HTTP: a refused push still carries the middleware headers; a rejecting middleware stops the request', async () => {
  const events: string[] = [];
  const h = await withMiddlewares(events);
  try {
    h.sink.control.fail = () => retryableError('queue is full', { reason: 'queue_full' });
    const refused = await pushJson(h.httpPort);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['ingero-quorum-met'], 'false');
    assert.equal(refused.headers['x-threshold_test-a'], '0.75');

    events.length = 0;
    const denied = await pushProto(h.httpPort, undefined, { 'x-deny': '1' });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['x-why'], 'policy');
    assert.equal(denied.headers['x-threshold_test-a'], undefined);
    assert.deepEqual(decodeStatusProto(denied.body), { code: 7, message: 'denied by policy' });
    assert.deepEqual(events, ['threshold_test/a onRequest http /v1/metrics cluster=-']);
    assert.equal(h.sink.seen.length, 1);
    assert.equal(h.requests('http', 'rejected'), 1);
  } finally {
    await h.stop();
  }
});

test("HTTP: middlewares' routes are served on the receiver's port", async () => {
  const h = await withMiddlewares([]);
  try {
    const res = await send(h.httpPort, { method: 'GET', path: '/api/v1/threshold?cluster_id=eu-1' });
    assert.equal(res.status, 200);
    // Both middlewares declare the route; the first one listed serves it.
    assert.deepEqual(JSON.parse(res.text), { cluster_id: 'eu-1', threshold: 0.75 });
    const wrong = await send(h.httpPort, { method: 'DELETE', path: '/api/v1/threshold' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers['allow'], 'GET');
    assert.match(decodeStatusJson(wrong.text).message, /method DELETE is not allowed/);
  } finally {
    await h.stop();
  }
});

test('gRPC: middleware headers arrive as initial metadata; rejections carry their gRPC code', async () => {
  const events: string[] = [];
  const h = await withMiddlewares(events, 'grpc');
  const client = grpcClient(h.grpcPort);
  try {
    const ok = await grpcExport(client, undefined, { cluster_id: 'eu-2' });
    assert.equal(ok.error, undefined);
    assert.deepEqual(ok.initial!.get('x-threshold_test-a'), ['0.75']);
    assert.deepEqual(ok.initial!.get('ingero-quorum-met'), ['true']);
    assert.equal(events[0], 'threshold_test/a onRequest grpc /opentelemetry.proto.collector.metrics.v1.MetricsService/Export cluster=eu-2');

    h.sink.control.fail = () => retryableError('exporter down');
    const refused = await grpcExport(client);
    assert.equal(refused.error!.code, grpc.status.UNAVAILABLE);
    assert.deepEqual(refused.initial!.get('ingero-quorum-met'), ['false']);

    const denied = await grpcExport(client, undefined, { 'x-deny': 'yes' });
    assert.equal(denied.error!.code, grpc.status.PERMISSION_DENIED);
    assert.equal(denied.error!.details, 'denied by policy');
    assert.equal(h.requests('grpc', 'rejected'), 1);
  } finally {
    client.close();
    await h.stop();
  }
});

test('a middleware whose responseHeaders throws is skipped; the push is still answered', async () => {
  const h = await startOtlp({
    protocols: '{http: {endpoint: "127.0.0.1:0", middlewares: [threshold_test]}}',
    extensions: '  threshold_test: {throw_in_headers: true}',
    extensionIds: ['threshold_test'],
    factories: [testMiddleware([])],
  });
  try {
    const res = await pushProto(h.httpPort);
    assert.equal(res.status, 200);
    assert.equal(res.headers['ingero-quorum-met'], undefined);
  } finally {
    await h.stop();
  }
});

test('referencing an extension that is no middleware, or one not enabled, fails the start naming the key', async () => {
  await assert.rejects(
    startOtlp({
      protocols: '{http: {endpoint: "127.0.0.1:0", middlewares: [plain]}}',
      extensions: '  plain: {}',
      extensionIds: ['plain'],
      factories: [plainExtension],
    }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'SKEIN_ERR_COMPONENT_START');
      assert.match(err.message, /receivers::otlp::protocols::http::middlewares: extension "plain" is not a server middleware/);
      return true;
    },
  );
  await assert.rejects(
    startOtlp({ protocols: '{grpc: {endpoint: "127.0.0.1:0", middlewares: [missing]}}' }),
    /extension "missing" is not enabled/,
  );
});
