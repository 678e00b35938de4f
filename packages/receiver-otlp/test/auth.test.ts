import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { defineExtension, Type, type Extension, type ServerMiddleware } from '@skein/core';
import bearerAuth from '@skein/extension-bearer-auth';
import { decodeStatusJson, decodeStatusProto, grpcClient, grpcExport, pushProto, send, startOtlp } from './helpers.ts';

const TOKEN = 's3cret-token';

/** A middleware that records that it ran and serves one route. */
function probeMiddleware(calls: string[]) {
  return defineExtension({
    type: 'probe',
    description: 'Records that it ran (tests).',
    stability: 'development',
    configSchema: Type.Object({}, { additionalProperties: false }),
    create: (): Extension & ServerMiddleware => ({
      onRequest: (req) => void calls.push(`onRequest principal=${req.ctx.principal}`),
      routes: () => [{ method: 'GET', path: '/probe', handle: (_req, res) => void res.writeHead(200).end('probed') }],
    }),
  });
}

function withAuth(protocol: 'http' | 'grpc', auth = `{token: "${TOKEN}"}`, env: Record<string, string> = {}, calls: string[] = []) {
  return startOtlp({
    protocols: `{${protocol}: {endpoint: "127.0.0.1:0", auth: {authenticator: bearer_auth}, middlewares: [probe]}}`,
    extensions: `  bearer_auth: ${auth}\n  probe: {}`,
    extensionIds: ['bearer_auth', 'probe'],
    factories: [bearerAuth, probeMiddleware(calls)],
    env,
  });
}

test('HTTP: a push without a valid bearer token is 401 with WWW-Authenticate, before any middleware runs', async () => {
  const calls: string[] = [];
  const h = await withAuth('http', undefined, {}, calls);
  try {
    const missing = await pushProto(h.httpPort);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    assert.deepEqual(decodeStatusProto(missing.body), { code: 16, message: 'missing credentials: send "authorization: Bearer <token>"' });

    const wrong = await pushProto(h.httpPort, undefined, { authorization: 'Bearer not-the-token' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.equal(decodeStatusProto(wrong.body).message, 'invalid Bearer token');

    const basic = await pushProto(h.httpPort, undefined, { authorization: `Basic ${TOKEN}` });
    assert.equal(basic.status, 401);
    assert.equal(basic.headers['www-authenticate'], 'Bearer error="invalid_request"');

    assert.deepEqual(calls, []);
    assert.equal(h.sink.seen.length, 0);
    assert.equal(h.requests('http', 'unauthenticated'), 3);

    const ok = await pushProto(h.httpPort, undefined, { authorization: `bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    assert.equal(h.sink.received[0]!.ctx.principal, 'bearer_auth');
    assert.deepEqual(calls, ['onRequest principal=bearer_auth']);
  } finally {
    await h.stop();
  }
});

test("HTTP: the middlewares' routes are behind the authenticator too", async () => {
  const h = await withAuth('http');
  try {
    const denied = await send(h.httpPort, { method: 'GET', path: '/probe' });
    assert.equal(denied.status, 401);
    assert.equal(decodeStatusJson(denied.text).code, 16);
    const ok = await send(h.httpPort, { method: 'GET', path: '/probe', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.text, 'probed');
  } finally {
    await h.stop();
  }
});

test('the token can come from ${env:} or from a file', async () => {
  const fromEnv = await withAuth('http', '{token: "${env:SKEIN_TEST_TOKEN}"}', { SKEIN_TEST_TOKEN: 'from-env' });
  try {
    assert.equal((await pushProto(fromEnv.httpPort, undefined, { authorization: 'Bearer from-env' })).status, 200);
    assert.equal((await pushProto(fromEnv.httpPort, undefined, { authorization: `Bearer ${TOKEN}` })).status, 401);
  } finally {
    await fromEnv.stop();
  }
  const dir = mkdtempSync(join(tmpdir(), 'skein-bearer-'));
  const file = join(dir, 'token');
  writeFileSync(file, 'from-file\n');
  const fromFile = await withAuth('http', `{token_file: ${JSON.stringify(file)}}`);
  try {
    assert.equal((await pushProto(fromFile.httpPort, undefined, { authorization: 'Bearer from-file' })).status, 200);
    assert.equal((await pushProto(fromFile.httpPort, undefined, { authorization: 'Bearer from' })).status, 401);
  } finally {
    await fromFile.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gRPC: a call without a valid token is UNAUTHENTICATED; with it the batch carries the principal', async () => {
  const calls: string[] = [];
  const h = await withAuth('grpc', undefined, {}, calls);
  const client = grpcClient(h.grpcPort);
  try {
    const missing = (await grpcExport(client)).error!;
    assert.equal(missing.code, grpc.status.UNAUTHENTICATED);
    assert.equal(missing.details, 'missing credentials: send "authorization: Bearer <token>"');
    const wrong = (await grpcExport(client, undefined, { authorization: 'Bearer nope' })).error!;
    assert.equal(wrong.code, grpc.status.UNAUTHENTICATED);
    assert.deepEqual(calls, []);
    assert.equal(h.requests('grpc', 'unauthenticated'), 2);

    const ok = await grpcExport(client, undefined, { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.error, undefined);
    assert.equal(h.sink.received[0]!.ctx.principal, 'bearer_auth');
  } finally {
    client.close();
    await h.stop();
  }
});

test('an authenticator that is not one fails the start, naming the key', async () => {
  await assert.rejects(
    startOtlp({
      protocols: '{grpc: {endpoint: "127.0.0.1:0", auth: {authenticator: probe}}}',
      extensions: '  probe: {}',
      extensionIds: ['probe'],
      factories: [probeMiddleware([])],
    }),
    /receivers::otlp::protocols::grpc::auth::authenticator: extension "probe" is not a server authenticator/,
  );
});
