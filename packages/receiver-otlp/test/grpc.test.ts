import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { countDataPoints, permanentError, retryableError } from '@skein/core';
import {
  decodeResponseProto,
  grpcClient,
  grpcExport,
  LOGS_PATH,
  metricsProto,
  startOtlp,
  statusDetails,
  TRACES_PATH,
} from './helpers.ts';

const GRPC = '{grpc: {endpoint: "127.0.0.1:0"}}';

test('Export is answered OK and the batch reaches the pipeline with cluster_id, peer and headers', async () => {
  const h = await startOtlp({ protocols: '{grpc: {endpoint: "127.0.0.1:0", include_headers: [x-agent-version]}}' });
  const client = grpcClient(h.grpcPort);
  try {
    const res = await grpcExport(client, metricsProto({ points: 3 }), { cluster_id: 'eu-1', 'x-agent-version': '2.0', 'x-other': 'no' });
    assert.equal(res.error, undefined);
    assert.deepEqual(decodeResponseProto(res.response!), { rejectedDataPoints: 0, errorMessage: '' });
    const { batch, ctx } = h.sink.received[0]!;
    assert.equal(countDataPoints(batch), 3);
    assert.equal(ctx.transport, 'grpc');
    assert.equal(ctx.receiver, 'otlp');
    assert.equal(ctx.clusterId, 'eu-1');
    assert.match(ctx.peer ?? '', /^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):\d+$/);
    assert.deepEqual(ctx.headers, { 'x-agent-version': '2.0' });

    const dashed = await grpcExport(client, metricsProto(), { 'cluster-id': 'us-2' });
    assert.equal(dashed.error, undefined);
    assert.equal(h.sink.received[1]!.ctx.clusterId, 'us-2');

    assert.equal(h.requests('grpc', 'accepted'), 2);
    assert.equal(h.registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp', transport: 'grpc' }), 4);
    assert.equal(h.registry.sum('skein_receiver_request_duration_seconds', { receiver: 'otlp', transport: 'grpc' }), 2);
  } finally {
    client.close();
    await h.stop();
  }
});

test('invalid points come back as partial_success', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort);
  try {
    const res = await grpcExport(client, metricsProto({ points: 1, valueless: 2 }));
    assert.equal(res.error, undefined);
    const r = decodeResponseProto(res.response!);
    assert.equal(r.rejectedDataPoints, 2);
    assert.match(r.errorMessage, /no value/);
    assert.equal(countDataPoints(h.sink.received[0]!.batch), 1);
    assert.equal(h.requests('grpc', 'partial'), 1);
    assert.equal(h.registry.sum('skein_receiver_refused_points_total', { receiver: 'otlp', transport: 'grpc', reason: 'invalid' }), 2);
  } finally {
    client.close();
    await h.stop();
  }
});

test('gzip-compressed messages are accepted', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort, { options: { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } });
  try {
    const res = await grpcExport(client, metricsProto({ points: 5 }));
    assert.equal(res.error, undefined);
    assert.equal(countDataPoints(h.sink.received[0]!.batch), 5);
  } finally {
    client.close();
    await h.stop();
  }
});

test('refusals: UNAVAILABLE or RESOURCE_EXHAUSTED with RetryInfo when retryable, INVALID_ARGUMENT when permanent', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort);
  try {
    h.sink.control.fail = () => retryableError('exporter unavailable', { retryAfterMs: 1500 });
    const unavailable = (await grpcExport(client)).error!;
    assert.equal(unavailable.code, grpc.status.UNAVAILABLE);
    assert.equal(unavailable.details, 'exporter unavailable');
    assert.deepEqual(statusDetails(unavailable), { code: 14, message: 'exporter unavailable', retryDelayMs: 1500 });

    h.sink.control.fail = () => retryableError('heap over its limit', { reason: 'memory_limit', retryAfterMs: 2000 });
    const exhausted = (await grpcExport(client)).error!;
    assert.equal(exhausted.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(statusDetails(exhausted), { code: 8, message: 'heap over its limit', retryDelayMs: 2000 });

    h.sink.control.fail = () => permanentError('series limit reached');
    const permanent = (await grpcExport(client)).error!;
    assert.equal(permanent.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(permanent.details, 'series limit reached');
    assert.equal(statusDetails(permanent), undefined);
    assert.equal(h.requests('grpc', 'refused'), 3);
  } finally {
    client.close();
    await h.stop();
  }
});

test('an undecodable message is INVALID_ARGUMENT with the reason', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort);
  try {
    const err = (await grpcExport(client, Buffer.from([0x0a, 0xff, 0xff, 0x01]))).error!;
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^invalid protobuf: truncated length-delimited field 1 /);
    assert.equal(h.requests('grpc', 'invalid'), 1);
    assert.equal((await grpcExport(client)).error, undefined);
  } finally {
    client.close();
    await h.stop();
  }
});

test('a message over max_recv_msg_size, raw or once decompressed, is RESOURCE_EXHAUSTED without RetryInfo', async () => {
  const h = await startOtlp({ protocols: '{grpc: {endpoint: "127.0.0.1:0", max_recv_msg_size: 64KiB}}' });
  const plain = grpcClient(h.grpcPort);
  const gzip = grpcClient(h.grpcPort, { options: { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } });
  try {
    const big = metricsProto({ points: 4000 });
    assert.ok(big.length > 64 * 1024);
    const raw = (await grpcExport(plain, big)).error!;
    assert.equal(raw.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(statusDetails(raw), undefined);

    const inflated = (await grpcExport(gzip, big)).error!;
    assert.equal(inflated.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(inflated.details, /decompresses to a size larger than 65536/);
    assert.equal(statusDetails(inflated), undefined);

    assert.equal(h.requests('grpc', 'too_large'), 2);
    assert.equal(h.sink.seen.length, 0);
    assert.equal((await grpcExport(plain, metricsProto())).error, undefined);
  } finally {
    plain.close();
    gzip.close();
    await h.stop();
  }
});

test('the trace and logs services answer UNIMPLEMENTED saying no such pipeline is configured', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const traces = grpcClient(h.grpcPort, { path: TRACES_PATH });
  const logs = grpcClient(h.grpcPort, { path: LOGS_PATH });
  try {
    const t = (await grpcExport(traces, new Uint8Array(0))).error!;
    assert.equal(t.code, grpc.status.UNIMPLEMENTED);
    assert.match(t.details, /^no traces pipeline is configured/);
    const l = (await grpcExport(logs, new Uint8Array(0))).error!;
    assert.equal(l.code, grpc.status.UNIMPLEMENTED);
    assert.match(l.details, /^no logs pipeline is configured/);
    assert.equal(h.requests('grpc', 'no_pipeline'), 2);
  } finally {
    traces.close();
    logs.close();
    await h.stop();
  }
});

test('an empty request is OK and does not reach the pipeline', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort);
  try {
    const res = await grpcExport(client, new Uint8Array(0));
    assert.equal(res.error, undefined);
    assert.equal(res.response!.length, 0);
    assert.equal(h.sink.seen.length, 0);
    assert.equal(h.requests('grpc', 'accepted'), 1);
  } finally {
    client.close();
    await h.stop();
  }
});

test('shutdown lets a call in flight finish; then the port refuses calls', async () => {
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort);
  let release!: () => void;
  h.sink.control.hold = new Promise<void>((r) => (release = r));
  try {
    const inFlight = grpcExport(client);
    while (h.sink.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    const stopping = h.receiver.shutdown!();
    release();
    assert.equal((await inFlight).error, undefined);
    await stopping;
    const after = grpcClient(h.grpcPort);
    const refused = (await grpcExport(after)).error!;
    assert.equal(refused.code, grpc.status.UNAVAILABLE);
    after.close();
  } finally {
    release();
    client.close();
    await h.stop();
  }
});
