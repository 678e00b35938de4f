import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { connect, createServer } from 'node:net';
import { MetricsRegistry } from '../src/telemetry/registry.ts';
import { startTelemetryServer, METRICS_CONTENT_TYPE, type TelemetryServer } from '../src/telemetry/server.ts';
import { createLogger, silentLogger } from '../src/log.ts';
import { SkeinError } from '../src/errors.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, method: string, path: string, agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const registry = new MetricsRegistry();
registry.counter({ name: 'skein_test_points_total', help: 'Points.', labelNames: ['receiver'] }).inc(3, { receiver: 'otlp' });
const logLines: string[] = [];
const server: TelemetryServer = await startTelemetryServer({
  registry,
  host: '127.0.0.1',
  port: 0,
  logger: createLogger({ format: 'json', write: (l) => logLines.push(l) }),
});
after(() => server.close());

test('binds the port it was given 0 for, and logs where it serves', () => {
  assert.equal(server.address, '127.0.0.1');
  assert.ok(Number.isInteger(server.port) && server.port > 0);
  const rec = JSON.parse(logLines[0]!);
  assert.equal(rec.msg, 'serving self-metrics');
  assert.equal(rec.url, `http://127.0.0.1:${server.port}/metrics`);
});

test('GET /metrics serves the exposition as Prometheus text 0.0.4', async () => {
  const res = await send(server.port, 'GET', '/metrics');
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(res.body, registry.expose());
  assert.match(res.body, /^skein_test_points_total\{receiver="otlp"\} 3$/m);
  assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
});

test('a query string does not change the path', async () => {
  const res = await send(server.port, 'GET', '/metrics?name[]=skein_test_points_total');
  assert.equal(res.status, 200);
  assert.match(res.body, /skein_test_points_total/);
});

test('HEAD /metrics answers the headers without a body', async () => {
  const res = await send(server.port, 'HEAD', '/metrics');
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], METRICS_CONTENT_TYPE);
  assert.equal(res.body, '');
});

test('other paths are 404', async () => {
  for (const path of ['/', '/metrics/', '/metricsx', '/api/v1/threshold']) {
    const res = await send(server.port, 'GET', path);
    assert.equal(res.status, 404, path);
  }
});

test('other methods are 405 with Allow', async () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const res = await send(server.port, method, '/metrics');
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.allow, 'GET, HEAD');
  }
});

test('a collector that throws gives 500 and an error log line, and the server keeps serving', async () => {
  const r = new MetricsRegistry();
  const stop = r.onCollect(() => {
    throw new Error('collector bug');
  });
  const lines: string[] = [];
  const s = await startTelemetryServer({
    registry: r,
    host: '127.0.0.1',
    port: 0,
    logger: createLogger({ format: 'json', write: (l) => lines.push(l) }),
  });
  try {
    const res = await send(s.port, 'GET', '/metrics');
    assert.equal(res.status, 500);
    const rec = JSON.parse(lines.at(-1)!);
    assert.equal(rec.level, 'error');
    assert.equal(rec.err.message, 'collector bug');
    stop();
    assert.equal((await send(s.port, 'GET', '/metrics')).status, 200);
  } finally {
    await s.close();
  }
});

test('a taken port rejects with SKEIN_ERR_TELEMETRY_LISTEN', async () => {
  await assert.rejects(
    startTelemetryServer({ registry, host: '127.0.0.1', port: server.port, logger: silentLogger }),
    (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_TELEMETRY_LISTEN');
      assert.equal(err.message, `cannot serve self-metrics on 127.0.0.1:${server.port}: address already in use`);
      return true;
    },
  );
});

test('a port out of range rejects with SKEIN_ERR_TELEMETRY_LISTEN', async () => {
  await assert.rejects(
    startTelemetryServer({ registry, host: '127.0.0.1', port: 70000, logger: silentLogger }),
    (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_TELEMETRY_LISTEN');
      assert.match(err.message, /^cannot serve self-metrics on 127\.0\.0\.1:70000: /);
      return true;
    },
  );
});

/** Fails instead of hanging; the clients are then destroyed, so the test file still exits. */
function orHang<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hangs`)), 10_000);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

test('close returns while keep-alive and mid-request clients are connected', async () => {
  const s = await startTelemetryServer({ registry, host: '127.0.0.1', port: 0, logger: silentLogger });
  const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
  const slow = connect(s.port, '127.0.0.1');
  const slowConnected = new Promise<void>((resolve) => slow.once('connect', resolve));
  const slowClosed = new Promise((resolve) => slow.once('close', resolve));
  slow.on('error', () => {});
  try {
    const res = await send(s.port, 'GET', '/metrics', agent);
    assert.equal(res.status, 200);
    assert.equal(res.headers.connection, 'keep-alive');
    // A scraper that has sent half a request: server.close() alone would wait for it.
    await slowConnected;
    slow.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await send(s.port, 'GET', '/metrics'); // a round trip gives the server time to read it

    const closed = s.close();
    assert.equal(s.close(), closed, 'close is safe twice');
    await orHang(closed, 'close()');
    await orHang(slowClosed, 'the mid-request connection');

    // The port is free again: something else can listen on it.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(s.port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => probe.close(resolve));
  } finally {
    agent.destroy();
    slow.destroy();
  }
});
