import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isAuthenticator,
  MetricsRegistry,
  MiddlewareRejection,
  silentLogger,
  validateAgainst,
  type RequestContext,
  type ServerRequest,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import bearerAuth, { BearerAuthConfigSchema, createBearerAuth, type BearerAuthConfig } from '../src/index.ts';

function auth(config: Partial<BearerAuthConfig>, id = 'bearer_auth') {
  const checked = validateAgainst(BearerAuthConfigSchema, config, ['extensions', id], undefined);
  assert.deepEqual(checked.issues, []);
  return createBearerAuth({ id, config: checked.value, logger: silentLogger, telemetry: new MetricsRegistry().scoped({ extension: id }), pipelines: [] });
}

function request(headers: Record<string, string>, transport: 'http' | 'grpc' = 'http'): ServerRequest {
  const ctx: RequestContext = { transport };
  return { transport, path: '/v1/metrics', headers, query: new URLSearchParams(), ctx };
}

/** The rejection `fn` throws. */
function rejection(fn: () => unknown): MiddlewareRejection {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MiddlewareRejection, `expected a MiddlewareRejection, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the request to be refused');
}

test('accepts the configured token and names the extension as the principal', async () => {
  const a = auth({ token: 'abc123' }, 'bearer_auth/agents');
  assert.ok(isAuthenticator(a));
  await a.start!({} as never);
  assert.equal(a.authenticate(request({ authorization: 'Bearer abc123' })), 'bearer_auth/agents');
  // The scheme is case-insensitive (RFC 9110 §11.1); extra spaces before the token are fine.
  assert.equal(a.authenticate(request({ authorization: 'bearer   abc123' })), 'bearer_auth/agents');
});

test('refuses missing, malformed and wrong credentials with 401 / UNAUTHENTICATED and WWW-Authenticate', () => {
  const a = auth({ token: 'abc123' });
  const missing = rejection(() => a.authenticate(request({})));
  assert.equal(missing.httpStatus, 401);
  assert.equal(missing.grpcCode, 16);
  assert.equal(missing.message, 'missing credentials: send "authorization: Bearer <token>"');
  assert.deepEqual(missing.headers, { 'www-authenticate': 'Bearer' });

  const malformed = rejection(() => a.authenticate(request({ authorization: 'abc123' })));
  assert.equal(malformed.message, 'malformed credentials: send "authorization: Bearer <token>"');
  assert.deepEqual(malformed.headers, { 'www-authenticate': 'Bearer error="invalid_request"' });

  for (const wrong of ['Bearer abc12', 'Bearer abc1234', 'Bearer ABC123', `Bearer ${'x'.repeat(10_000)}`, 'Basic abc123']) {
    const r = rejection(() => a.authenticate(request({ authorization: wrong })));
    assert.equal(r.httpStatus, 401, wrong.slice(0, 20));
  }
  assert.equal(rejection(() => a.authenticate(request({ authorization: 'Bearer nope' }))).message, 'invalid Bearer token');
});

test('a custom header and an empty scheme read the bare token', () => {
  const a = auth({ token: 'k-1', header: 'X-API-Key', scheme: '' });
  assert.equal(a.authenticate(request({ 'x-api-key': 'k-1' }, 'grpc')), 'bearer_auth');
  const wrong = rejection(() => a.authenticate(request({ 'x-api-key': 'k-2' })));
  assert.equal(wrong.message, 'invalid token');
  assert.deepEqual(wrong.headers, {});
  assert.equal(rejection(() => a.authenticate(request({ authorization: 'Bearer k-1' }))).message, 'missing credentials: send "x-api-key: <token>"');
});

test('token_file is read at start, without surrounding whitespace; nothing is let in before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-bearer-'));
  try {
    const file = join(dir, 'token');
    writeFileSync(file, '  from-file\n');
    const a = auth({ token_file: file });
    assert.equal(rejection(() => a.authenticate(request({ authorization: 'Bearer from-file' }))).message, 'invalid Bearer token');
    await a.start!({} as never);
    assert.equal(a.authenticate(request({ authorization: 'Bearer from-file' })), 'bearer_auth');

    writeFileSync(file, '\n');
    await assert.rejects(Promise.resolve(auth({ token_file: file }).start!({} as never)), /extensions::bearer_auth::token_file: ".*" is empty/);
    await assert.rejects(
      Promise.resolve(auth({ token_file: join(dir, 'absent') }).start!({} as never)),
      /extensions::bearer_auth::token_file: cannot read ".*absent": no such file/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exactly one of token and token_file: the config is refused before anything starts', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = (ext: string) => `
extensions: {bearer_auth: ${ext}}
receivers: {source: {}}
exporters: {sink: {}}
service: {extensions: [bearer_auth], pipelines: {metrics: {receivers: [source], exporters: [sink]}}}
`;
  const factories = [bearerAuth, source.factory, sink.factory];
  await assert.rejects(startService(yaml('{}'), factories), /extensions::bearer_auth: set token or token_file$/m);
  await assert.rejects(startService(yaml('{token: a, token_file: /x}'), factories), /extensions::bearer_auth: set token or token_file, not both/);
  await assert.rejects(startService(yaml('{token: ""}'), factories), /extensions::bearer_auth::token: /);
  const service = await startService(yaml('{token: "${env:TOKEN}"}'), factories, { env: { TOKEN: 'from-env' } });
  try {
    const a = service.getExtension<ReturnType<typeof createBearerAuth>>('bearer_auth');
    assert.equal(a.authenticate(request({ authorization: 'Bearer from-env' })), 'bearer_auth');
  } finally {
    await service.shutdown();
  }
});
