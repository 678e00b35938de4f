import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import {
  defineExtension,
  MetricsRegistry,
  MiddlewareRejection,
  silentLogger,
  SkeinError,
  Type,
  type Authenticator,
  type Extension,
  type Host,
  type ServerRequest,
} from '@skein/core';
import { builtinsLoadedBy, sourceReceiver, sinkExporter, startService } from '@skein/core/testing';
import type { ProbeResult } from '@skein/probe-loop';
import probes, { createProbeStore, createProbesExtension, type ProbesBody, type ProbesExtension } from '../src/index.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const result = (receiver: string, target: string, reachable: boolean, extra: Partial<ProbeResult> = {}): ProbeResult => ({
  receiver,
  target,
  endpoint: `${target}:80`,
  reachable,
  ...(reachable ? {} : { error_class: 'refused', error: 'connect ECONNREFUSED', phase: 'connect' }),
  duration_seconds: 0.001,
  time: extra.time ?? '2030-01-01T00:00:00.000Z',
  ...extra,
});

/** An authenticator for tests: accepts `Authorization: Bearer let-me-in`. */
const testAuth = defineExtension({
  type: 'test_auth',
  description: 'Accepts one bearer token (tests).',
  stability: 'development',
  configSchema: Type.Object({}),
  create: (): Extension & Authenticator => ({
    authenticate(req: ServerRequest) {
      if (req.headers.authorization !== 'Bearer let-me-in') {
        throw new MiddlewareRejection('missing or wrong bearer token', {
          httpStatus: 401,
          grpcCode: 16,
          headers: { 'WWW-Authenticate': 'Bearer realm="skein"' },
        });
      }
      return 'tester';
    },
  }),
});

function config(probesConfig = '{endpoint: "127.0.0.1:0"}', serviceExtensions = 'probes') {
  return `
extensions:
  probes: ${probesConfig}
  test_auth: {}
receivers: {source: {}}
exporters: {sink: {}}
service:
  extensions: [${serviceExtensions}]
  pipelines: {metrics: {receivers: [source], exporters: [sink]}}
`;
}

async function withService(yaml: string, fn: (ext: ProbesExtension, port: number) => Promise<void>) {
  const service = await startService(yaml, [probes, testAuth, sourceReceiver().factory, sinkExporter().factory]);
  try {
    const ext = service.getExtension<ProbesExtension>('probes');
    await fn(ext, ext.address!.port);
  } finally {
    await service.shutdown();
  }
}

test('GET /api/v1/probes: the latest result per target, all of them or the unreachable ones', async () => {
  await withService(config(), async (ext, port) => {
    ext.record(result('tcpcheck', 'db', false, { time: '2030-01-01T00:00:00.000Z' }));
    ext.record(result('tcpcheck', 'cache', true, { route: 'direct' }));
    ext.record(result('httpcheck', 'api', false, { method: 'GET', status_code: 503, error_class: 'status', error: 'status 503, expected 2xx' }));
    ext.record(result('tcpcheck', 'db', false, { time: '2030-01-01T00:00:30.000Z' }));

    const all = await get(port, '/api/v1/probes');
    assert.equal(all.status, 200);
    assert.equal(all.headers['content-type'], 'application/json');
    assert.equal(all.headers['cache-control'], 'no-store');
    const body = JSON.parse(all.body) as ProbesBody;
    assert.equal(body.count, 3);
    assert.deepEqual(
      body.probes.map((p) => `${p.receiver}/${p.target}`),
      ['httpcheck/api', 'tcpcheck/cache', 'tcpcheck/db'],
    );
    const db = body.probes.find((p) => p.target === 'db')!;
    assert.deepEqual(db, {
      receiver: 'tcpcheck',
      target: 'db',
      endpoint: 'db:80',
      reachable: false,
      error_class: 'refused',
      error: 'connect ECONNREFUSED',
      phase: 'connect',
      duration_seconds: 0.001,
      time: '2030-01-01T00:00:30.000Z',
      consecutive_failures: 2,
      last_success: null,
    });

    const down = JSON.parse((await get(port, '/api/v1/probes?unreachable_only=true')).body) as ProbesBody;
    assert.deepEqual(
      down.probes.map((p) => p.target),
      ['api', 'db'],
    );
    assert.equal(JSON.parse((await get(port, '/api/v1/probes?unreachable_only=false')).body).count, 3);
    const tcpDown = JSON.parse((await get(port, '/api/v1/probes?unreachable_only=1&receiver=tcpcheck')).body) as ProbesBody;
    assert.deepEqual(
      tcpDown.probes.map((p) => p.target),
      ['db'],
    );
    const direct = JSON.parse((await get(port, '/api/v1/probes?route=direct')).body) as ProbesBody;
    assert.deepEqual(
      direct.probes.map((p) => p.target),
      ['cache'],
    );

    const bad = await get(port, '/api/v1/probes?unreachable_only=yes');
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { error: 'unreachable_only must be true or false, got "yes"' });
    assert.equal((await get(port, '/api/v1/other')).status, 404);
    const post = await get(port, '/api/v1/probes', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const head = await get(port, '/api/v1/probes', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});

test('with auth, a request the authenticator refuses is answered 401 with its headers', async () => {
  await withService(config('{endpoint: "127.0.0.1:0", auth: {authenticator: test_auth}}', 'test_auth, probes'), async (ext, port) => {
    ext.record(result('tcpcheck', 'db', false));
    const refused = await get(port, '/api/v1/probes?unreachable_only=true');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer realm="skein"');
    assert.deepEqual(JSON.parse(refused.body), { error: 'missing or wrong bearer token' });
    assert.equal((await get(port, '/api/v1/probes', { headers: { authorization: 'Bearer guess' } })).status, 401);

    const allowed = await get(port, '/api/v1/probes?unreachable_only=true', { headers: { authorization: 'Bearer let-me-in' } });
    assert.equal(allowed.status, 200);
    assert.equal((JSON.parse(allowed.body) as ProbesBody).count, 1);
  });
});

test('auth naming an extension that is not enabled or not an authenticator fails the start', async () => {
  await assert.rejects(
    startService(config('{endpoint: "127.0.0.1:0", auth: {authenticator: test_auth}}', 'probes'), [probes, testAuth, sourceReceiver().factory, sinkExporter().factory]),
    (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_COMPONENT_START');
      assert.match(err.message, /^extensions::probes: failed to start: extension "test_auth" is not enabled/);
      return true;
    },
  );
  const yaml = `
extensions:
  probes: {endpoint: "127.0.0.1:0", auth: {authenticator: probes/other}}
  probes/other: {endpoint: "127.0.0.1:0"}
receivers: {source: {}}
exporters: {sink: {}}
service:
  extensions: [probes/other, probes]
  pipelines: {metrics: {receivers: [source], exporters: [sink]}}
`;
  await assert.rejects(startService(yaml, [probes, sourceReceiver().factory, sinkExporter().factory]), {
    code: 'SKEIN_ERR_COMPONENT_START',
    message: 'extensions::probes: failed to start: auth::authenticator: extension "probes/other" is not a server authenticator',
  });
});

test('the store counts failures in a row, remembers the last success, and forgets removed targets', () => {
  const store = createProbeStore();
  store.record(result('tcpcheck', 'db', true, { time: 't1' }));
  store.record(result('tcpcheck', 'db', false, { time: 't2' }));
  store.record(result('tcpcheck', 'db', false, { time: 't3' }));
  store.record(result('tcpcheck', 'cache', false));
  store.record(result('httpcheck', 'api', true));
  const db = store.results({ receiver: 'tcpcheck' }).find((r) => r.target === 'db')!;
  assert.equal(db.consecutive_failures, 2);
  assert.equal(db.last_success, 't1');
  store.record(result('tcpcheck', 'db', true, { time: 't4' }));
  assert.equal(store.results().find((r) => r.target === 'db')!.consecutive_failures, 0);

  store.retainTargets('tcpcheck', new Set(['db']));
  assert.deepEqual(
    store.results().map((r) => `${r.receiver}/${r.target}`),
    ['httpcheck/api', 'tcpcheck/db'],
  );
  store.forgetReceiver('tcpcheck');
  assert.deepEqual(
    store.results().map((r) => r.target),
    ['api'],
  );
});

test('a taken port fails the start; shutdown is safe without start and twice', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  const settings = (endpoint: string) => ({
    id: 'probes',
    config: { endpoint },
    logger: silentLogger,
    telemetry: new MetricsRegistry().scoped({ extension: 'probes' }),
    pipelines: [],
  });
  const host: Host = { getStatus: () => 'running', getExtension: () => ({}) as never, extensions: () => new Map() };
  try {
    const clash = createProbesExtension(settings(`127.0.0.1:${port}`));
    await assert.rejects(Promise.resolve(clash.start!(host)), {
      message: `cannot serve probe results on 127.0.0.1:${port}: address already in use`,
    });
    await clash.shutdown!();
  } finally {
    taken.close();
  }
  const unstarted = createProbesExtension(settings('127.0.0.1:0'));
  await unstarted.shutdown!();
  await unstarted.shutdown!();
  const started = createProbesExtension(settings('127.0.0.1:0'));
  await started.start!(host);
  const p = started.address!.port;
  await Promise.all([started.shutdown!(), started.shutdown!()]);
  assert.equal(started.address, undefined);
  await assert.rejects(get(p, '/api/v1/probes'), { code: 'ECONNREFUSED' });
});

test('importing the extension leaves Node\'s bundled undici unloaded (node:http is not imported as an ES module)', async () => {
  const loaded = await builtinsLoadedBy(import.meta.resolve('../src/index.ts'));
  assert.ok(loaded.includes('http'), 'node:http is loaded');
  assert.ok(!loaded.includes('internal/deps/undici/undici'), 'undici is not');
});
