import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry, SkeinError, type MetricsBatch } from '@skein/core';
import { builtinsLoadedBy, requireTool, sinkExporter, startService } from '@skein/core/testing';
import probes, { type ProbesExtension } from '@skein/extension-probes';
import type { StoredProbeResult } from '@skein/probe-loop';
import { closedPort, listen, pointsOf, silentServer, until } from '@skein/probe-loop/testing';
import httpcheck from '../src/index.ts';

let dir: string;
let http: { server: Server; port: number; inFlight: number; maxInFlight: number };
let https: { server: Server; port: number; caFile: string; notAfter: Date };

function handler(state: { inFlight: number; maxInFlight: number }) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    if (path === '/ok') return res.end('status: healthy\n');
    if (path === '/down') return res.writeHead(503).end('status: degraded\n');
    if (path === '/missing') return res.writeHead(404).end();
    if (path === '/redirect') return res.writeHead(302, { location: '/ok' }).end();
    if (path === '/echo') return res.end(JSON.stringify({ method: req.method, headers: req.headers }));
    if (path.startsWith('/slow')) {
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      setTimeout(() => {
        state.inFlight--;
        res.end('ok');
      }, 30);
      return;
    }
    res.writeHead(404).end();
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpcheck-'));
  const state = { inFlight: 0, maxInFlight: 0 };
  const server = createServer(handler(state));
  const port = await listen(server);
  http = {
    server,
    port,
    get inFlight() {
      return state.inFlight;
    },
    get maxInFlight() {
      return state.maxInFlight;
    },
    set maxInFlight(v: number) {
      state.maxInFlight = v;
    },
  };

  // A throwaway self-signed certificate for 127.0.0.1, valid for 30 days.
  const openssl = requireTool('openssl', 'openssl');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    openssl,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { stdio: 'pipe' },
  );
  const tlsServer = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, handler({ inFlight: 0, maxInFlight: 0 }));
  https = { server: tlsServer, port: await listen(tlsServer), caFile: cert, notAfter: new Date(new X509Certificate(readFileSync(cert)).validTo) };
});

after(async () => {
  http.server.close();
  https.server.close();
  rmSync(dir, { recursive: true, force: true });
});

function yaml(receiver: string): string {
  return `
extensions: {probes: {endpoint: "127.0.0.1:0"}}
receivers:
  httpcheck:
${receiver
  .trim()
  .split('\n')
  .map((l) => '    ' + l)
  .join('\n')}
exporters: {sink: {}}
service:
  extensions: [probes]
  pipelines: {metrics: {receivers: [httpcheck], exporters: [sink]}}
`;
}

/** Runs one cycle (a long interval, so only the first) and returns its batch and the stored results by target. */
async function oneCycle(receiver: string, registry = new MetricsRegistry()): Promise<{ batch: MetricsBatch; results: Record<string, StoredProbeResult> }> {
  const sink = sinkExporter();
  const service = await startService(yaml(`collection_interval: 1h\nprobes: probes\n${receiver.trim()}`), [httpcheck, probes, sink.factory], { registry });
  try {
    await until(() => sink.received.length === 1, 'the first cycle');
    const store = service.getExtension<ProbesExtension>('probes');
    return { batch: sink.received[0]!.batch, results: Object.fromEntries(store.results().map((r) => [r.target, r])) };
  } finally {
    await service.shutdown();
  }
}

const byTarget = (batch: MetricsBatch, metric: string): Record<string, number> => Object.fromEntries(pointsOf(batch, metric).map((p) => [p.attributes.target, p.value]));

test('status codes, body matches and refused ports, each with its error class', { timeout: 20_000 }, async () => {
  const closed = await closedPort();
  const base = `http://127.0.0.1:${http.port}`;
  const { batch, results } = await oneCycle(`
targets:
  - {url: "${base}/ok", name: ok, route: direct}
  - {url: "${base}/down", name: down}
  - {url: "${base}/missing", name: missing-accepted, expected_status: [200, 404]}
  - {url: "${base}/redirect", name: redirect}
  - {url: "${base}/redirect", name: redirect-accepted, expected_status: ["2xx", "3xx"]}
  - {url: "${base}/ok", name: body-match, body_match: "status: (healthy|ok)"}
  - {url: "${base}/ok", name: body-mismatch, body_match: "^status: ok$"}
  - {url: "${base}/ok", name: head, method: HEAD}
  - {url: "http://127.0.0.1:${closed}/", name: refused}
  - {url: "http://nothing.invalid/", name: dns}
`);
  assert.deepEqual(byTarget(batch, 'httpcheck.reachable'), {
    ok: 1,
    down: 0,
    'missing-accepted': 1,
    redirect: 0,
    'redirect-accepted': 1,
    'body-match': 1,
    'body-mismatch': 0,
    head: 1,
    refused: 0,
    dns: 0,
  });
  assert.deepEqual(
    Object.fromEntries(pointsOf(batch, 'httpcheck.error').map((p) => [p.attributes.target, p.attributes['error.class']])),
    { down: 'status', redirect: 'status', 'body-mismatch': 'status', refused: 'refused', dns: 'dns' },
  );
  assert.deepEqual(byTarget(batch, 'httpcheck.status_code'), {
    ok: 200,
    down: 503,
    'missing-accepted': 404,
    redirect: 302,
    'redirect-accepted': 302,
    'body-match': 200,
    'body-mismatch': 200,
    head: 200,
  });
  assert.equal(pointsOf(batch, 'httpcheck.duration').length, 10);
  assert.deepEqual(pointsOf(batch, 'httpcheck.tls.cert_remaining'), [], 'no certificate on plain http');
  const ok = pointsOf(batch, 'httpcheck.reachable').find((p) => p.attributes.target === 'ok')!;
  assert.deepEqual(ok.attributes, { target: 'ok', route: 'direct', 'http.url': `${base}/ok`, 'http.method': 'GET' });

  assert.equal(results.down!.error, 'status 503, expected 2xx');
  assert.equal(results['body-mismatch']!.error, 'body does not match /^status: ok$/');
  assert.equal(results['body-mismatch']!.phase, 'body');
  assert.equal(results.refused!.phase, 'connect');
  assert.equal(results.dns!.phase, 'dns');
  assert.equal(results.head!.method, 'HEAD');
});

test('a server that accepts and never answers is a timeout, and does not hold up the next target', { timeout: 20_000 }, async () => {
  const silent = await silentServer();
  try {
    const { batch, results } = await oneCycle(`
timeout: 300ms
targets:
  - {url: "http://127.0.0.1:${silent.port}/", name: silent}
  - {url: "http://127.0.0.1:${http.port}/ok", name: ok}
`);
    assert.deepEqual(byTarget(batch, 'httpcheck.reachable'), { silent: 0, ok: 1 });
    assert.equal(results.silent!.error_class, 'timeout');
    assert.equal(results.silent!.phase, 'response');
    assert.equal(results.silent!.error, 'no answer within 300ms while waiting for the response');
    assert.equal(silent.connections, 1);
  } finally {
    await silent.close();
  }
});

test('https: an untrusted certificate is a tls error; with ca_file or insecure_skip_verify it passes; the expiry is a metric', { timeout: 20_000 }, async () => {
  const url = `https://127.0.0.1:${https.port}/ok`;
  const { batch, results } = await oneCycle(`
targets:
  - {url: "${url}", name: untrusted}
  - {url: "${url}", name: trusted, tls: {ca_file: ${JSON.stringify(https.caFile)}}}
  - {url: "${url}", name: insecure, tls: {insecure_skip_verify: true}}
  - {url: "${url}", name: wrong-name, tls: {ca_file: ${JSON.stringify(https.caFile)}, server_name: other.example}}
  - {url: "https://127.0.0.1:${http.port}/ok", name: not-tls}
`);
  assert.deepEqual(byTarget(batch, 'httpcheck.reachable'), { untrusted: 0, trusted: 1, insecure: 1, 'wrong-name': 0, 'not-tls': 0 });
  assert.equal(results.untrusted!.error_class, 'tls');
  assert.equal(results.untrusted!.error, 'certificate not trusted: DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.equal(results['wrong-name']!.error_class, 'tls');
  assert.match(results['wrong-name']!.error!, /^certificate not trusted: ERR_TLS_CERT_ALTNAME_INVALID/);
  assert.equal(results['not-tls']!.error_class, 'tls');
  assert.equal(results['not-tls']!.phase, 'tls');

  // The expiry is read even from a certificate that is not trusted.
  const expected = (https.notAfter.getTime() - Date.now()) / 1000;
  const remaining = byTarget(batch, 'httpcheck.tls.cert_remaining');
  assert.deepEqual(Object.keys(remaining).sort(), ['insecure', 'trusted', 'untrusted', 'wrong-name']);
  for (const [target, seconds] of Object.entries(remaining)) {
    assert.ok(Math.abs(seconds - expected) < 300, `${target}: ${seconds} s remaining, expected about ${expected}`);
    assert.ok(seconds > 29 * 86400 && seconds <= 30 * 86400);
  }
  assert.equal(results.trusted!.cert_not_after, https.notAfter.toISOString());
});

test('max_concurrency bounds the requests the server sees at once', { timeout: 20_000 }, async () => {
  const targets = Array.from({ length: 6 }, (_, i) => `  - {url: "http://127.0.0.1:${http.port}/slow/${i}"}`).join('\n');
  for (const n of [1, 2]) {
    http.maxInFlight = 0;
    const { batch } = await oneCycle(`max_concurrency: ${n}\ntargets:\n${targets}`);
    assert.equal(pointsOf(batch, 'httpcheck.reachable').filter((p) => p.value === 1).length, 6);
    assert.equal(http.maxInFlight, n);
  }
});

test('a cycle that overruns its interval is reported, not stacked', { timeout: 20_000 }, async () => {
  const silent = await silentServer();
  const sink = sinkExporter();
  const registry = new MetricsRegistry();
  const service = await startService(
    yaml(`
collection_interval: 20ms
timeout: 2s
targets: [{url: "http://127.0.0.1:${silent.port}/", name: stuck}]
`),
    [httpcheck, probes, sink.factory],
    { registry },
  );
  try {
    await until(() => (registry.value('skein_probe_cycles_overrun_total', { receiver: 'httpcheck' }) ?? 0) >= 3, 'three skipped ticks');
    assert.equal(silent.connections, 1, 'one cycle, one request, however many ticks passed');
    assert.equal(sink.received.length, 0);
  } finally {
    await service.shutdown();
    await silent.close();
  }
  assert.equal(registry.value('skein_probe_cycles_total', { receiver: 'httpcheck' }), undefined, 'the cycle cut by shutdown did not count');
});

test('request headers, the method and the Host header are sent as configured', async () => {
  let seen: { method?: string; headers: Record<string, string | string[] | undefined> } = { headers: {} };
  const server = createServer((req, res) => {
    seen = { method: req.method!, headers: req.headers };
    res.end();
  });
  const port = await listen(server);
  try {
    await oneCycle(`targets: [{url: "http://u%40x:p%3Aw@127.0.0.1:${port}/p?q=1", method: POST, headers: {X-Probe: "yes", Host: "api.internal"}}]`);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.headers['x-probe'], 'yes');
    assert.equal(seen.headers.host, 'api.internal');
    assert.equal(seen.headers.authorization, `Basic ${Buffer.from('u@x:p:w').toString('base64')}`);
    assert.equal(seen.headers['user-agent'], 'skein-httpcheck/0.1.0');
  } finally {
    server.close();
  }
});

test('invalid URLs: a config error in the config, an invalid result in the targets file', async () => {
  const sink = sinkExporter();
  await assert.rejects(
    startService(
      yaml(`
targets:
  - {url: "not a url"}
  - {url: "ftp://example.com/"}
  - {url: "http://127.0.0.1/", body_match: "(unclosed"}
  - {url: "http://127.0.0.1/", tls: {insecure_skip_verify: true}, name: plain}
  - {url: "http://127.0.0.1/h", body_match: "x", method: HEAD}
`),
      [httpcheck, probes, sink.factory],
    ),
    (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
      assert.deepEqual(
        err.message.split('\n').map((l) => l.replace(/^test\.yaml:\d+:\d+: /, '')),
        [
          'receivers::httpcheck::targets::0::url: must be an http:// or https:// URL, got "not a url"',
          'receivers::httpcheck::targets::1::url: must be an http:// or https:// URL, got "ftp://example.com/"',
          'receivers::httpcheck::targets::2::body_match: must be a regular expression: Invalid regular expression: /(unclosed/: Unterminated group',
          'receivers::httpcheck::targets::3::tls: applies only to https:// URLs, got "http://127.0.0.1/"',
          'receivers::httpcheck::targets::4::body_match: cannot be used with method HEAD, whose response has no body',
        ],
      );
      return true;
    },
  );

  const file = join(dir, 'targets.json');
  writeFileSync(
    file,
    JSON.stringify([
      { url: 'not a url', name: 'bad-url' },
      { url: `https://127.0.0.1:${https.port}/ok`, name: 'bad-ca', tls: { ca_file: join(dir, 'missing.pem') } },
      { name: 'no-url' },
      { url: `http://127.0.0.1:${http.port}/ok`, name: 'good' },
    ]),
  );
  const { batch, results } = await oneCycle(`targets_file: ${JSON.stringify(file)}`);
  assert.deepEqual(byTarget(batch, 'httpcheck.reachable'), { 'bad-url': 0, 'bad-ca': 0, 'no-url': 0, good: 1 });
  assert.equal(results['bad-url']!.error_class, 'invalid');
  assert.equal(results['bad-url']!.error, 'url: must be an http:// or https:// URL, got "not a url"');
  assert.equal(results['bad-ca']!.error_class, 'invalid');
  assert.match(results['bad-ca']!.error!, /^cannot read tls\.ca_file .*missing\.pem: ENOENT/);
  assert.equal(results['no-url']!.error, 'missing required key "url"');
  assert.equal(results['no-url']!.duration_seconds, undefined, 'nothing was tried');
});

test('importing the receiver leaves Node\'s bundled undici unloaded (node:http is not imported as an ES module)', async () => {
  const loaded = await builtinsLoadedBy(import.meta.resolve('../src/index.ts'));
  assert.ok(loaded.includes('http'), 'node:http is loaded');
  assert.ok(!loaded.includes('internal/deps/undici/undici'), 'undici is not');
});
