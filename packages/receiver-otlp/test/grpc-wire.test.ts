/**
 * OTLP/gRPC at the HTTP/2 level, with a hand-driven node:http2 client: what grpc-js clients never
 * send (bad framing, wrong content types and methods, unknown encodings, bombs, slow or vanished
 * peers), deadlines and cancellation, and the connection limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import { connect } from 'node:net';
import { createGzip, deflateSync, gzipSync } from 'node:zlib';
import { countDataPoints, permanentError, retryableError } from '@skein/core';
import { encodeGrpcMessage, parseGrpcTimeout } from '../src/grpc.ts';
import { bomb, decodeStatusProto, eventually, grpcClient, grpcExport, METRICS_PATH, metricsProto, startOtlp, type Harness } from './helpers.ts';

const MiB = 1024 * 1024;
const GRPC = '{grpc: {endpoint: "127.0.0.1:0", max_recv_msg_size: 64KiB}}';

interface RawAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a Trailers-Only answer. */
  grpcStatus?: number;
  grpcMessage?: string;
}

/** The 5-byte gRPC message header: compression flag, then the length. */
function prefix(length: number, flag = 0): Buffer {
  const b = Buffer.alloc(5);
  b[0] = flag;
  b.writeUInt32BE(length, 1);
  return b;
}
const message = (body: Uint8Array, flag = 0) => Buffer.concat([prefix(body.length, flag), body]);

/** One call on a fresh connection; `body` undefined leaves the request stream open. */
async function rawCall(port: number, opts: { headers?: http2.OutgoingHttpHeaders; body?: Buffer; keepOpen?: boolean } = {}): Promise<RawAnswer> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    const stream = session.request({ ':method': 'POST', ':path': METRICS_PATH, 'content-type': 'application/grpc', te: 'trailers', ...opts.headers });
    stream.on('error', () => {});
    const answer: RawAnswer = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      answer.status = Number(h[':status']);
      answer.headers = h;
    });
    stream.on('trailers', (t) => (answer.trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    if (opts.body) stream.write(opts.body);
    if (!opts.keepOpen) stream.end();
    await once(stream, 'close');
    answer.body = Buffer.concat(chunks);
    const s = answer.trailers['grpc-status'] ?? answer.headers['grpc-status'];
    if (s !== undefined) answer.grpcStatus = Number(s);
    const m = answer.trailers['grpc-message'] ?? answer.headers['grpc-message'];
    if (m !== undefined) answer.grpcMessage = decodeURIComponent(String(m));
    return answer;
  } finally {
    session.destroy();
  }
}

async function stillServing(h: Harness) {
  const ok = await rawCall(h.grpcPort, { body: message(metricsProto({ points: 1 })) });
  assert.equal(ok.grpcStatus, 0, `the receiver no longer answers calls: ${ok.grpcStatus} ${ok.grpcMessage}`);
}

test('a well-formed call is answered headers, one message, then grpc-status 0 in the trailers', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const a = await rawCall(h.grpcPort, { body: message(metricsProto({ points: 2 })), headers: { cluster_id: 'eu-1' } });
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/grpc');
    assert.equal(a.headers['grpc-status'], undefined, 'the status belongs in the trailers when a message is sent');
    assert.deepEqual(a.body, prefix(0), 'an ExportMetricsServiceResponse with nothing rejected is an empty message');
    assert.equal(a.trailers['grpc-status'], '0');
    assert.equal(countDataPoints(h.sink.received[0]!.batch), 2);
    assert.equal(h.sink.received[0]!.ctx.clusterId, 'eu-1');
  } finally {
    await h.stop();
  }
});

test('a method other than POST is HTTP 405, and a content type other than application/grpc is HTTP 415', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const get = await rawCall(h.grpcPort, { headers: { ':method': 'GET' } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    const json = await rawCall(h.grpcPort, { headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });
    assert.equal(json.status, 415);
    assert.match(json.body.toString(), /^unsupported content type "application\/json"; gRPC calls are application\/grpc/);
    const plus = await rawCall(h.grpcPort, { headers: { 'content-type': 'application/grpc+proto' }, body: message(metricsProto()) });
    assert.equal(plus.grpcStatus, 0, 'application/grpc+proto is gRPC too');
    assert.equal(h.requests('grpc', 'method_not_allowed'), 1);
    assert.equal(h.requests('grpc', 'unsupported'), 1);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('an unknown method is UNIMPLEMENTED naming the one served', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const a = await rawCall(h.grpcPort, { headers: { ':path': '/grpc.health.v1.Health/Check' }, body: message(Buffer.alloc(0)) });
    assert.equal(a.status, 200);
    assert.equal(a.grpcStatus, 12);
    assert.equal(a.grpcMessage, `unknown method /grpc.health.v1.Health/Check; receiver otlp serves ${METRICS_PATH}`);
  } finally {
    await h.stop();
  }
});

test('bad framing is INTERNAL saying what is wrong, and nothing reaches the pipeline', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const body = Buffer.from(metricsProto());
    const cases: [string, Buffer | undefined, RegExp][] = [
      ['no message at all', undefined, /^the call ended without its request message$/],
      ['a header cut short', Buffer.from([0, 0, 0]), /^the call ended inside its request message \(3 bytes, header and message\)$/],
      ['a message cut short', Buffer.concat([prefix(100), body.subarray(0, 10)]), /^the call ended inside its request message \(15 bytes/],
      ['a compression flag of 2', message(body, 2), /^invalid message compression flag 2$/],
      ['two messages', Buffer.concat([message(body), message(body)]), /^a unary call carries one request message; got more bytes after it$/],
      ['compressed without grpc-encoding', message(gzipSync(body), 1), /^a compressed message without grpc-encoding; supported: identity,deflate,gzip$/],
    ];
    for (const [name, bytes, why] of cases) {
      const a = await rawCall(h.grpcPort, bytes ? { body: bytes } : {});
      assert.equal(a.grpcStatus, 13, name);
      assert.match(a.grpcMessage ?? '', why, name);
    }
    assert.equal(h.sink.seen.length, 0);
    assert.equal(h.requests('grpc', 'invalid'), cases.length);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('an undecodable protobuf message is INVALID_ARGUMENT with the codec reason', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const a = await rawCall(h.grpcPort, { body: message(Buffer.from('this is not protobuf')) });
    assert.equal(a.grpcStatus, 3);
    assert.match(a.grpcMessage ?? '', /^invalid protobuf: /);
  } finally {
    await h.stop();
  }
});

test('deflate and gzip messages are accepted; an unknown grpc-encoding is UNIMPLEMENTED with grpc-accept-encoding', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const body = Buffer.from(metricsProto({ points: 3 }));
    const deflated = await rawCall(h.grpcPort, { headers: { 'grpc-encoding': 'deflate' }, body: message(deflateSync(body), 1) });
    assert.equal(deflated.grpcStatus, 0);
    const gzipped = await rawCall(h.grpcPort, { headers: { 'grpc-encoding': 'gzip' }, body: message(gzipSync(body), 1) });
    assert.equal(gzipped.grpcStatus, 0);
    assert.equal(h.sink.received.length, 2);
    assert.equal(countDataPoints(h.sink.received[1]!.batch), 3);
    // A header naming an encoding is harmless while the message itself is not compressed.
    const plain = await rawCall(h.grpcPort, { headers: { 'grpc-encoding': 'snappy' }, body: message(body) });
    assert.equal(plain.grpcStatus, 0);

    const snappy = await rawCall(h.grpcPort, { headers: { 'grpc-encoding': 'snappy' }, body: message(body, 1) });
    assert.equal(snappy.grpcStatus, 12);
    assert.equal(snappy.grpcMessage, 'grpc-encoding "snappy" is not supported; supported: identity,deflate,gzip');
    assert.equal(snappy.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
    const broken = await rawCall(h.grpcPort, { headers: { 'grpc-encoding': 'gzip' }, body: message(Buffer.from('not gzip at all'), 1) });
    assert.equal(broken.grpcStatus, 13);
    assert.match(broken.grpcMessage ?? '', /^message is not valid gzip: /);
  } finally {
    await h.stop();
  }
});

test('a message declared over max_recv_msg_size is refused at once, before its body is sent', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    // Only the header goes out, claiming 1 GiB; the request stream stays open.
    const a = await rawCall(h.grpcPort, { body: prefix(1024 * MiB), keepOpen: true });
    assert.equal(a.grpcStatus, 8);
    assert.equal(a.grpcMessage, `received message larger than max (${1024 * MiB} vs. ${64 * 1024})`);
    assert.equal(a.headers['grpc-status-details-bin'] ?? a.trailers['grpc-status-details-bin'], undefined, 'no RetryInfo: not retryable');
    assert.equal(h.requests('grpc', 'too_large'), 1);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('gzip bombs stop inflating at max_recv_msg_size: RESOURCE_EXHAUSTED, and memory stays bounded over 30 of them', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const gzipped = message(await bomb(() => createGzip({ level: 9 }), 48 * MiB), 1);
    assert.ok(gzipped.length < 64 * 1024, `the bomb is ${gzipped.length} bytes on the wire, under the limit`);

    const before = process.memoryUsage();
    for (let i = 0; i < 30; i += 10) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => rawCall(h.grpcPort, { headers: { 'grpc-encoding': 'gzip' }, body: gzipped })));
      for (const a of answers) {
        assert.equal(a.grpcStatus, 8);
        assert.equal(a.grpcMessage, 'received message that decompresses to a size larger than 65536');
      }
    }
    const after = process.memoryUsage();
    const growth = Math.max(after.rss - before.rss, after.heapUsed - before.heapUsed);
    assert.ok(growth < 64 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB over 30 bombs of 48 MiB each`);
    assert.equal(h.requests('grpc', 'too_large'), 30);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('grpc-timeout: a call still in the pipeline at its deadline is DEADLINE_EXCEEDED and its context is aborted', async () => {
  const h = await startOtlp({ protocols: GRPC });
  let release!: () => void;
  h.sink.control.hold = new Promise<void>((r) => (release = r));
  try {
    const a = await rawCall(h.grpcPort, { headers: { 'grpc-timeout': '200m' }, body: message(metricsProto()) });
    assert.equal(a.grpcStatus, 4);
    assert.equal(a.grpcMessage, 'deadline exceeded');
    assert.equal(h.sink.seen[0]!.signal?.aborted, true);
    assert.equal(h.requests('grpc', 'aborted'), 1);
    release();
    h.sink.control.hold = undefined;
    await stillServing(h);
    assert.equal(h.requests('grpc', 'accepted'), 1, 'the late pipeline answer is not counted a second time');
  } finally {
    release();
    await h.stop();
  }
});

test('a client that resets its call mid-pipeline aborts the context, and the call is counted aborted', async () => {
  const h = await startOtlp({ protocols: GRPC });
  let release!: () => void;
  h.sink.control.hold = new Promise<void>((r) => (release = r));
  const session = http2.connect(`http://127.0.0.1:${h.grpcPort}`);
  try {
    const stream = session.request({ ':method': 'POST', ':path': METRICS_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => {});
    stream.end(message(metricsProto()));
    await eventually(() => h.sink.seen.length === 1, 'the call to reach the pipeline');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => h.sink.seen[0]!.signal?.aborted === true, 'the context to be aborted');
    release();
    await eventually(() => h.requests('grpc', 'aborted') === 1, 'the call to be counted aborted');
    h.sink.control.hold = undefined;
    await stillServing(h);
  } finally {
    release();
    session.destroy();
    await h.stop();
  }
});

test('a connection that never sends the HTTP/2 preface is closed', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const socket = connect({ host: '127.0.0.1', port: h.grpcPort });
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (err) => (error = err));
    socket.write('PRI * HTTP/2.0\r\n'); // the first half of the preface, then nothing
    await new Promise((resolve) => socket.once('close', resolve));
    assert.equal(error?.code, 'ECONNRESET', 'the server resets the connection');
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('max_connection_age sends GOAWAY to an old connection; max_connection_idle to an idle one; keepalive pings', async () => {
  const h = await startOtlp({
    protocols: '{grpc: {endpoint: "127.0.0.1:0", keepalive: {server_parameters: {max_connection_age: 300ms, max_connection_idle: 200ms, time: 50ms}}}}',
  });
  try {
    for (const idle of [true, false]) {
      const session = http2.connect(`http://127.0.0.1:${h.grpcPort}`);
      session.on('error', () => {});
      let pings = 0;
      session.on('ping', () => pings++);
      const goaway = once(session, 'goaway');
      let held: http2.ClientHttp2Stream | undefined;
      if (!idle) {
        // A call that never finishes keeps the connection busy, so only its age can end it.
        held = session.request({ ':method': 'POST', ':path': METRICS_PATH, 'content-type': 'application/grpc', te: 'trailers' });
        held.on('error', () => {});
        held.write(prefix(10));
      }
      await goaway;
      assert.ok(pings > 0, 'the server pinged the connection');
      session.destroy();
    }
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('300 concurrent gRPC connections are all answered and counted', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    const answers = await Promise.all(Array.from({ length: 300 }, () => rawCall(h.grpcPort, { body: message(metricsProto({ points: 2 })) })));
    assert.deepEqual(new Set(answers.map((a) => a.grpcStatus)), new Set([0]));
    assert.equal(h.requests('grpc', 'accepted'), 300);
    assert.equal(h.registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp', transport: 'grpc' }), 600);
  } finally {
    await h.stop();
  }
});

test('a refusal retryable downstream carries RetryInfo in grpc-status-details-bin, base64 without padding', async () => {
  const h = await startOtlp({ protocols: GRPC });
  try {
    h.sink.control.fail = () => retryableError('exporter unavailable', { retryAfterMs: 1500 });
    const a = await rawCall(h.grpcPort, { body: message(metricsProto()) });
    assert.equal(a.grpcStatus, 14);
    const bin = String(a.headers['grpc-status-details-bin'] ?? a.trailers['grpc-status-details-bin']);
    assert.doesNotMatch(bin, /=$/);
    assert.deepEqual(decodeStatusProto(Buffer.from(bin, 'base64')), { code: 14, message: 'exporter unavailable', retryDelayMs: 1500 });
  } finally {
    await h.stop();
  }
});

test('grpc-message is percent-encoded, and grpc-js clients read it back', async () => {
  assert.equal(encodeGrpcMessage('plain text'), 'plain text');
  assert.equal(encodeGrpcMessage('100% sure'), '100%25 sure');
  assert.equal(encodeGrpcMessage('température\n'), 'temp%C3%A9rature%0A');
  const h = await startOtlp({ protocols: GRPC });
  const client = grpcClient(h.grpcPort);
  try {
    h.sink.control.fail = () => permanentError('série refusée: 100% invalide');
    const err = (await grpcExport(client)).error!;
    assert.equal(err.code, 3);
    assert.equal(err.details, 'série refusée: 100% invalide');
  } finally {
    client.close();
    await h.stop();
  }
});

test('grpc-timeout values: digits and a unit, in milliseconds; anything else is no deadline', () => {
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('2M'), 120_000);
  assert.equal(parseGrpcTimeout('3S'), 3000);
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('5000u'), 5);
  assert.equal(parseGrpcTimeout('7000000n'), 7);
  for (const bad of [undefined, '', '10', 's', '123456789S', '1.5S', '-1S', '10x']) assert.equal(parseGrpcTimeout(bad), undefined, String(bad));
});

test('max_concurrent_streams is advertised in SETTINGS: 100 by default', async () => {
  for (const [protocols, expected] of [[GRPC, 100], ['{grpc: {endpoint: "127.0.0.1:0", max_concurrent_streams: 2}}', 2]] as const) {
    const h = await startOtlp({ protocols });
    const session = http2.connect(`http://127.0.0.1:${h.grpcPort}`);
    try {
      const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
      assert.equal(settings.maxConcurrentStreams, expected);
    } finally {
      session.destroy();
      await h.stop();
    }
  }
});
