import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { defineExporter, defineExtension, MetricsRegistry, silentLogger, SkeinError, Type, type Host } from '@skein/core';
import { builtinsLoadedBy, sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import healthCheck, { createHealthCheck, type HealthCheckExtension } from '../src/index.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path = '/', opts: { method?: string; agent?: Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A promise and the function that settles it, so a test decides when a component goes on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

function config(extra: { extensions?: string; exporters?: string; serviceExtensions?: string; endpoint?: string } = {}) {
  return `
extensions:
  health_check: {endpoint: "${extra.endpoint ?? '127.0.0.1:0'}"}
${extra.extensions ?? ''}
receivers: {source: {}}
exporters:
  sink: {}
${extra.exporters ?? ''}
service:
  extensions: [${extra.serviceExtensions ?? 'health_check'}]
  pipelines:
    metrics: {receivers: [source], exporters: [sink${extra.exporters ? ', slow' : ''}]}
`;
}

test('answers 200 with a JSON status while the service runs, and stops answering after shutdown', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(config(), [source.factory, sink.factory, healthCheck]);
  let port: number;
  try {
    const ext = service.getExtension<HealthCheckExtension>('health_check');
    assert.equal(ext.address?.host, '127.0.0.1');
    port = ext.address!.port;
    assert.ok(port > 0);
    const res = await get(port, '/');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const body = JSON.parse(res.body);
    assert.equal(body.status, 'running');
    assert.equal(typeof body.uptime_seconds, 'number');
    const withQuery = await get(port, '/?verbose=1');
    assert.equal(withQuery.status, 200);
  } finally {
    await service.shutdown();
  }
  await assert.rejects(get(port), { code: 'ECONNREFUSED' });
});

test('answers 404 on other paths, 405 on other methods, and HEAD without a body', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = config().replace('{endpoint: "127.0.0.1:0"}', '{endpoint: "127.0.0.1:0", path: /healthz}');
  const service = await startService(yaml, [source.factory, sink.factory, healthCheck]);
  try {
    const port = service.getExtension<HealthCheckExtension>('health_check').address!.port;
    assert.equal((await get(port, '/healthz')).status, 200);
    const other = await get(port, '/');
    assert.equal(other.status, 404);
    assert.equal(other.body, 'not found: the health check is served on /healthz\n');
    const post = await get(port, '/healthz', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const head = await get(port, '/healthz', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  } finally {
    await service.shutdown();
  }
});

test('answers 503 while the service is starting', { timeout: 10_000 }, async () => {
  const release = gate();
  const reached = gate();
  let health: HealthCheckExtension | undefined;
  // Listed after health_check, so it starts once the endpoint listens, and holds start-up there.
  const holdStart = defineExtension({
    type: 'hold_start',
    description: 'Waits for the test before it finishes starting.',
    stability: 'development',
    configSchema: Type.Object({}),
    create: () => ({
      async start(host: Host) {
        health = host.getExtension<HealthCheckExtension>('health_check');
        reached.open();
        await release.opened;
      },
    }),
  });
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = config({ extensions: '  hold_start: {}', serviceExtensions: 'health_check, hold_start' });
  const starting = startService(yaml, [source.factory, sink.factory, healthCheck, holdStart]);
  try {
    await reached.opened;
    const port = health!.address!.port;
    for (let i = 0; i < 3; i++) {
      const res = await get(port);
      assert.equal(res.status, 503);
      assert.equal(JSON.parse(res.body).status, 'starting');
    }
    release.open();
    await starting;
    assert.equal((await get(port)).status, 200);
  } finally {
    release.open();
    await (await starting).shutdown();
  }
});

test('answers 503 while the service is stopping', { timeout: 10_000 }, async () => {
  const release = gate();
  const reached = gate();
  const slow = defineExporter({
    type: 'slow',
    description: 'Waits for the test before it finishes shutting down.',
    stability: 'development',
    configSchema: Type.Object({}),
    create: () => ({
      async consume() {},
      async shutdown() {
        reached.open();
        await release.opened;
      },
    }),
  });
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(config({ exporters: '  slow: {}' }), [source.factory, sink.factory, slow, healthCheck]);
  const port = service.getExtension<HealthCheckExtension>('health_check').address!.port;
  assert.equal((await get(port)).status, 200);
  const stopping = service.shutdown();
  try {
    await reached.opened;
    const res = await get(port);
    assert.equal(res.status, 503);
    assert.equal(JSON.parse(res.body).status, 'stopping');
  } finally {
    release.open();
    await stopping;
  }
  await assert.rejects(get(port), { code: 'ECONNREFUSED' });
});

test('shutdown does not wait for open connections', { timeout: 10_000 }, async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(config(), [source.factory, sink.factory, healthCheck]);
  const port = service.getExtension<HealthCheckExtension>('health_check').address!.port;
  const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
  // A prober that sent half a request: the server would wait for the rest until its request timeout.
  const slowProber = connect(port, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => slowProber.once('connect', resolve).once('error', reject));
    slowProber.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const closed = new Promise<void>((resolve) => slowProber.once('close', () => resolve()));
    assert.equal((await get(port, '/', { agent })).status, 200);
    assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'a keep-alive socket is open');
    await service.shutdown();
    await closed;
  } finally {
    slowProber.destroy();
    agent.destroy();
  }
});

test('a taken port makes start fail with a clear error', async () => {
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    const source = sourceReceiver();
    const sink = sinkExporter();
    await assert.rejects(startService(config({ endpoint: `127.0.0.1:${port}` }), [source.factory, sink.factory, healthCheck]), (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_COMPONENT_START');
      assert.equal(
        err.message,
        `extensions::health_check: failed to start: cannot serve health checks on 127.0.0.1:${port}: address already in use`,
      );
      return true;
    });
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

test('shutdown is safe without start and twice', async () => {
  const settings = {
    id: 'health_check',
    config: { endpoint: '127.0.0.1:0', path: '/' },
    logger: silentLogger,
    telemetry: new MetricsRegistry().scoped({ extension: 'health_check' }),
    pipelines: [],
  };
  const unstarted = createHealthCheck(settings);
  await unstarted.shutdown!();
  await unstarted.shutdown!();
  assert.equal(unstarted.address, undefined);

  const host: Host = { getStatus: () => 'running', getExtension: () => unstarted as never, extensions: () => new Map() };
  const started = createHealthCheck(settings);
  await started.start!(host);
  const port = started.address!.port;
  assert.equal((await get(port)).status, 200);
  await Promise.all([started.shutdown!(), started.shutdown!()]);
  await started.shutdown!();
  assert.equal(started.address, undefined);
  await assert.rejects(get(port), { code: 'ECONNREFUSED' });
});

test('an endpoint that is not host:port is a config error', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  await assert.rejects(startService(config({ endpoint: '13133' }), [source.factory, sink.factory, healthCheck]), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    assert.equal(err.message, 'test.yaml:3:18: extensions::health_check::endpoint: must be host:port, got "13133"');
    return true;
  });
});

test('a path that does not start with / is a config error', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = config().replace('{endpoint: "127.0.0.1:0"}', '{endpoint: "127.0.0.1:0", path: healthz}');
  await assert.rejects(startService(yaml, [source.factory, sink.factory, healthCheck]), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    assert.equal(err.message, 'test.yaml:3:43: extensions::health_check::path: must start with "/", got "healthz"');
    return true;
  });
});

test("importing the extension leaves Node's bundled undici unloaded (node:http is not imported as an ES module)", async () => {
  const loaded = await builtinsLoadedBy(import.meta.resolve('../src/index.ts'));
  assert.ok(loaded.includes('http'), 'node:http is loaded');
  assert.ok(!loaded.includes('internal/deps/undici/undici'), 'undici is not');
});
