/**
 * Every kind of bad request: each gets the right status and message, the server keeps serving,
 * and memory stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { constants, createDeflate, createGzip, createZstdCompress, gzipSync, zstdCompressSync } from 'node:zlib';
import { countDataPoints } from '@skein/core';
import {
  bomb,
  decodeStatusJson,
  decodeStatusProto,
  metricsJson,
  metricsProto,
  pushJson,
  pushProto,
  send,
  startOtlp,
  type Harness,
  type HttpAnswer,
} from './helpers.ts';

const MiB = 1024 * 1024;

async function stillServing(h: Harness): Promise<void> {
  const res = await pushProto(h.httpPort, metricsProto({ points: 1 }));
  assert.equal(res.status, 200, `the receiver no longer answers pushes: ${res.status} ${res.text}`);
}

test('truncated protobuf, garbage and wrong wire types are 400 with a google.rpc.Status saying why', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    const full = metricsProto({ points: 2 });
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', full.subarray(0, full.length - 5), /^invalid protobuf: truncated length-delimited field 1 /],
      ['garbage', Buffer.from('this is not protobuf at all'), /^invalid protobuf: invalid wire type/],
      ['wrong wire type', Buffer.from([0x08, 0x01]), /^invalid protobuf: wrong wire type 0 for ExportMetricsServiceRequest\.resource_metrics/],
    ];
    for (const [name, body, message] of cases) {
      const res = await pushProto(h.httpPort, body);
      assert.equal(res.status, 400, name);
      assert.equal(res.headers['content-type'], 'application/x-protobuf', name);
      const status = decodeStatusProto(res.body);
      assert.equal(status.code, 3, name);
      assert.match(status.message, message, name);
      assert.equal(status.retryDelayMs, undefined, name);
    }
    assert.equal(h.requests('http', 'invalid'), 3);
    assert.equal(h.sink.seen.length, 0);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('invalid JSON and JSON with wrong field types are 400 with a JSON Status', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{"resourceMetrics": [', /^invalid JSON: /],
      ['array for object', '{"resourceMetrics": "nope"}', /^resourceMetrics: expected an array, got "nope"$/],
      ['number for string', '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":5}]}]}]}', /metrics\[0\]\.name: expected a string, got 5$/],
    ];
    for (const [name, body, message] of cases) {
      const res = await pushJson(h.httpPort, body);
      assert.equal(res.status, 400, name);
      assert.equal(res.headers['content-type'], 'application/json', name);
      const status = decodeStatusJson(res.text);
      assert.equal(status.code, 3, name);
      assert.match(status.message, message, name);
    }
    assert.equal(h.sink.seen.length, 0);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('an unknown or missing content type is 415, an unknown content encoding too; the reply is JSON', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    const plain = await send(h.httpPort, { body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 415);
    assert.equal(plain.headers['content-type'], 'application/json');
    assert.deepEqual(decodeStatusJson(plain.text), {
      code: 3,
      message: 'unsupported content type "text/plain"; send application/x-protobuf or application/json',
    });

    const none = await send(h.httpPort, { body: metricsProto() });
    assert.equal(none.status, 415);
    assert.equal(decodeStatusJson(none.text).message, 'no content type; send application/x-protobuf or application/json');

    const brotli = await pushProto(h.httpPort, metricsProto(), { 'content-encoding': 'br' });
    assert.equal(brotli.status, 415);
    assert.equal(decodeStatusProto(brotli.body).message, 'unsupported content encoding "br"; use gzip, deflate, zstd or none');

    assert.equal(h.requests('http', 'unsupported'), 3);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('a body that does not decompress is 400', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    const res = await pushProto(h.httpPort, Buffer.from('definitely not gzip'), { 'content-encoding': 'gzip' });
    assert.equal(res.status, 400);
    assert.match(decodeStatusProto(res.body).message, /^request body is not valid gzip: /);
    const truncated = gzipSync(metricsProto({ points: 50 }));
    const cut = await pushProto(h.httpPort, truncated.subarray(0, truncated.length - 10), { 'content-encoding': 'gzip' });
    assert.equal(cut.status, 400);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('an empty body is a valid, empty request: 200 in either encoding, nothing reaches the pipeline', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    const proto = await pushProto(h.httpPort, new Uint8Array(0));
    assert.equal(proto.status, 200);
    assert.equal(proto.body.length, 0);
    const json = await pushJson(h.httpPort, '');
    assert.equal(json.status, 200);
    assert.deepEqual(JSON.parse(json.text), {});
    assert.equal(h.sink.seen.length, 0);
    assert.equal(h.requests('http', 'accepted'), 2);
  } finally {
    await h.stop();
  }
});

test('a body over max_request_body_size is 413 before it is read (Content-Length) or as soon as it passes (chunked)', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0", max_request_body_size: 1MiB}}' });
  const expected = { code: 8, message: 'request body exceeds max_request_body_size (1048576 bytes)' };
  const answer = (chunked: boolean) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const headers: Record<string, string | number> = { 'content-type': 'application/x-protobuf' };
      if (!chunked) headers['content-length'] = 64 * MiB;
      const req = request({ host: '127.0.0.1', port: h.httpPort, method: 'POST', path: '/v1/metrics', agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString() });
          req.destroy();
        });
      });
      req.on('error', reject);
      // Never the whole body: the answer must come without it. The chunked sender keeps
      // sending after the reply, as a streaming client does, and must still read it.
      req.write(Buffer.alloc(chunked ? 2 * MiB : 16 * 1024));
      if (chunked) {
        const more = setInterval(() => {
          if (req.destroyed) clearInterval(more);
          else req.write(Buffer.alloc(64 * 1024));
        }, 1);
      }
    });
  try {
    const declared = await answer(false);
    assert.equal(declared.status, 413);
    assert.equal(declared.headers['connection'], 'close');
    assert.deepEqual(decodeStatusProto(declared.body), expected);

    const streamed = await answer(true);
    assert.equal(streamed.status, 413);
    assert.deepEqual(decodeStatusProto(streamed.body), expected);

    assert.equal(h.requests('http', 'too_large'), 2);
    assert.equal(h.sink.seen.length, 0);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('compression bombs stop inflating at the limit: 413, and memory stays bounded over 50 of them', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0", max_request_body_size: 1MiB}}' });
  try {
    // ~32 KiB of zstd and ~255 KiB of gzip/deflate that inflate to 1 GiB and 256 MiB.
    const zstd = await bomb(() => createZstdCompress(), 1024 * MiB);
    const gzip = await bomb(() => createGzip({ level: 9 }), 256 * MiB);
    const deflate = await bomb(() => createDeflate({ level: 9 }), 256 * MiB);
    assert.ok(zstd.length < 64 * 1024 && gzip.length < 300 * 1024 && deflate.length < 300 * 1024);
    const bombs: [string, Buffer][] = [];
    for (let i = 0; i < 50; i++) bombs.push(i % 2 === 0 ? ['zstd', zstd] : i % 5 === 1 ? ['deflate', deflate] : ['gzip', gzip]);

    const before = process.memoryUsage();
    for (let i = 0; i < bombs.length; i += 10) {
      const answers = await Promise.all(
        bombs.slice(i, i + 10).map(([encoding, body]) => pushProto(h.httpPort, body, { 'content-encoding': encoding })),
      );
      for (const res of answers) {
        assert.equal(res.status, 413);
        assert.deepEqual(decodeStatusProto(res.body), {
          code: 8,
          message: 'request body exceeds max_request_body_size (1048576 bytes) after decompression',
        });
      }
    }
    const after = process.memoryUsage();
    const growth = Math.max(after.rss - before.rss, after.heapUsed - before.heapUsed);
    assert.ok(growth < 64 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB over 50 bombs`);
    assert.equal(h.requests('http', 'too_large'), 50);
    assert.equal(h.sink.seen.length, 0);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('a zstd frame that asks for a window over 8 MiB (RFC 9659) is refused as 400', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    // Streamed, so zstd cannot shrink the window to the input: the frame asks for 128 MiB.
    const z = createZstdCompress({ params: { [constants.ZSTD_c_windowLog]: 27 } });
    const parts: Buffer[] = [];
    z.on('data', (c: Buffer) => parts.push(c));
    const ended = new Promise((resolve) => z.on('end', resolve));
    z.end(metricsProto());
    await ended;
    const wide = Buffer.concat(parts);
    assert.equal(wide[5], 0x88, 'the frame header should declare a 2^27 byte window');
    const res = await pushProto(h.httpPort, wide, { 'content-encoding': 'zstd' });
    assert.equal(res.status, 400);
    assert.match(decodeStatusProto(res.body).message, /^request body is not valid zstd: /);
    const normal = await pushProto(h.httpPort, zstdCompressSync(metricsProto({ points: 2 })), { 'content-encoding': 'zstd' });
    assert.equal(normal.status, 200);
    assert.equal(countDataPoints(h.sink.received[0]!.batch), 2);
  } finally {
    await h.stop();
  }
});

test('a client sending its headers byte by byte is cut off by read_header_timeout, and the server stays healthy', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0", read_header_timeout: 300ms}}' });
  try {
    const socket = connect(h.httpPort, '127.0.0.1');
    let reply = '';
    let closed = false;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (reply += d));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    await new Promise((resolve) => socket.once('connect', resolve));
    const head = `POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nX-Slow: ${'a'.repeat(5000)}`;
    let sent = 0;
    // One byte at a time, far slower than the timeout allows for the whole head.
    while (!closed && sent < head.length) {
      socket.write(head[sent++]!);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(closed, 'the server let a client take over 50 s to send its headers');
    assert.ok(sent < head.length);
    assert.match(reply, /^HTTP\/1\.1 408 /);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});

test('300 concurrent connections are all answered and counted, and the server answers after', async () => {
  const h = await startOtlp({ protocols: '{http: {endpoint: "127.0.0.1:0"}}' });
  try {
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        i % 2 === 0 ? pushProto(h.httpPort, metricsProto({ points: 2 })) : pushJson(h.httpPort, metricsJson({ points: 2 })),
      ),
    );
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(h.sink.received.length, 300);
    assert.equal(h.requests('http', 'accepted'), 300);
    assert.equal(h.registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp', transport: 'http' }), 600);
    await stillServing(h);
  } finally {
    await h.stop();
  }
});
