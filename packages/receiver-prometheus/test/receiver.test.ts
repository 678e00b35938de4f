import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createLogger, MetricsRegistry, type Logger } from '@skein/core';
import { requireTool, sinkExporter, startService } from '@skein/core/testing';
import prometheus, { ACCEPT_HEADER, ScrapeMetricNames } from '../src/index.ts';
import { fnv1a, nextSlot } from '../src/scrape-loop.ts';
import { httpServer, remoteWritten, until, type TestServer } from './helpers.ts';

/** A target whose exposition the test changes as it goes; `status` other than 200 fails scrapes. */
async function target(initial: string) {
  const state = { body: initial, status: 200, contentType: 'text/plain; version=0.0.4; charset=utf-8', gzip: false };
  const server = await httpServer((req, res) => {
    if (state.status !== 200) {
      res.writeHead(state.status).end('broken');
      return;
    }
    const body = state.gzip ? gzipSync(state.body) : Buffer.from(state.body);
    res.writeHead(200, { 'content-type': state.contentType, ...(state.gzip ? { 'content-encoding': 'gzip' } : {}) });
    res.end(body);
  });
  return { state, server };
}

function config(scrapeConfig: string): string {
  return `
receivers:
  prometheus:
    scrape_configs:
      - ${scrapeConfig.trim().split('\n').join('\n        ')}
exporters: {sink: {}}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [prometheus], exporters: [sink]}
`;
}

/** Every batch the sink got, as the bridge's remote write would send it. */
function written(sink: ReturnType<typeof sinkExporter>) {
  return sink.received.map((r) => remoteWritten(r.batch).samples);
}

function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

const valueOf = (sample: string | undefined) => sample?.split('@')[0];

test('a scrape: the series, job and instance, up and the scrape_* series at one timestamp; Prometheus\'s request headers', async () => {
  const t = await target('# TYPE a gauge\na{x="1"} 5\nb 6\n');
  const sink = sinkExporter();
  const service = await startService(
    config(`
job_name: app
scrape_interval: 100ms
scrape_timeout: 80ms
static_configs: [{targets: ["127.0.0.1:${t.server.port}"], labels: {env: prod}}]
metric_relabel_configs: [{source_labels: [__name__], regex: b, action: drop}]`),
    [prometheus, sink.factory],
  );
  try {
    await until(() => sink.received.length >= 2, 'two scrapes');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  const inst = `127.0.0.1:${t.server.port}`;
  const [first, second] = written(sink);
  const at = first!.get(`up{env="prod",instance="${inst}",job="app"}`)!.split('@')[1];
  const labels = `env="prod",instance="${inst}",job="app"`;
  assert.deepEqual([...first!.keys()].sort(), [
    `a{${labels},x="1"}`,
    `scrape_duration_seconds{${labels}}`,
    `scrape_samples_post_metric_relabeling{${labels}}`,
    `scrape_samples_scraped{${labels}}`,
    `scrape_series_added{${labels}}`,
    `up{${labels}}`,
  ]);
  for (const v of first!.values()) assert.equal(v.split('@')[1], at, 'one timestamp per scrape');
  assert.equal(first!.get(`a{${labels},x="1"}`), `5@${at}`);
  assert.equal(first!.get(`up{${labels}}`), `1@${at}`);
  assert.equal(first!.get(`scrape_samples_scraped{${labels}}`), `2@${at}`);
  assert.equal(first!.get(`scrape_samples_post_metric_relabeling{${labels}}`), `1@${at}`);
  assert.equal(first!.get(`scrape_series_added{${labels}}`), `1@${at}`);
  assert.ok(Number(valueOf(first!.get(`scrape_duration_seconds{${labels}}`))) >= 0);
  assert.equal(valueOf(second!.get(`scrape_series_added{${labels}}`)), '0');
  const req = t.server.requests[0]!;
  assert.equal(req.url, '/metrics');
  assert.equal(req.headers.accept, ACCEPT_HEADER);
  assert.equal(req.headers['accept-encoding'], 'gzip');
  assert.equal(req.headers['x-prometheus-scrape-timeout-seconds'], '0.08');
  assert.match(req.headers['user-agent']!, /^skein\/\d+\.\d+\.\d+$/);
  assert.equal(sink.received[0]!.ctx.transport, 'scrape');
  assert.equal(sink.received[0]!.ctx.receiver, 'prometheus');
  assert.equal(sink.received[0]!.ctx.peer, inst);
});

test('stale markers: a series the target stops exposing, then every series when the target goes down', async () => {
  const t = await target('a 1\nb 2\n');
  const sink = sinkExporter();
  const service = await startService(config(`job_name: j\nscrape_interval: 50ms\nstatic_configs: [{targets: ["127.0.0.1:${t.server.port}"]}]`), [prometheus, sink.factory]);
  const labels = `instance="127.0.0.1:${t.server.port}",job="j"`;
  try {
    await until(() => sink.received.length >= 1, 'the first scrape');
    t.state.body = 'a 1\n';
    const n = sink.received.length;
    await until(() => sink.received.length >= n + 2, 'two more scrapes');
    t.state.status = 503;
    const m = sink.received.length;
    await until(() => sink.received.length >= m + 2, 'scrapes of the broken target');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  const batches = written(sink);
  const firstWithoutB = batches.findIndex((b) => !(b.get(`b{${labels}}`) ?? '').startsWith('2@'));
  // b goes stale exactly once, at the scrape that no longer has it, then disappears.
  const staleB = batches[firstWithoutB]!;
  const at = staleB.get(`up{${labels}}`)!.split('@')[1];
  assert.equal(staleB.get(`b{${labels}}`), `stale@${at}`);
  assert.equal(staleB.get(`a{${labels}}`), `1@${at}`);
  assert.equal(batches[firstWithoutB + 1]!.has(`b{${labels}}`), false);
  // The target fails: up 0, a stale once, the scrape_* series still reported.
  const down = batches.findIndex((b) => valueOf(b.get(`up{${labels}}`)) === '0');
  assert.ok(down > firstWithoutB);
  const atDown = batches[down]!.get(`up{${labels}}`)!.split('@')[1];
  assert.deepEqual(Object.fromEntries(batches[down]!), {
    [`a{${labels}}`]: `stale@${atDown}`,
    [`up{${labels}}`]: `0@${atDown}`,
    [`scrape_duration_seconds{${labels}}`]: batches[down]!.get(`scrape_duration_seconds{${labels}}`),
    [`scrape_samples_scraped{${labels}}`]: `0@${atDown}`,
    [`scrape_samples_post_metric_relabeling{${labels}}`]: `0@${atDown}`,
    [`scrape_series_added{${labels}}`]: `0@${atDown}`,
  });
  assert.equal(batches[down + 1]!.has(`a{${labels}}`), false);
});

test('a malformed exposition fails that scrape with the line in the log; the next good one recovers', async () => {
  const t = await target('good 1\nbad{x=1} 2\n');
  const sink = sinkExporter();
  const { logger, lines } = capturingLogger();
  const registry = new MetricsRegistry();
  const service = await startService(config(`job_name: j\nscrape_interval: 50ms\nstatic_configs: [{targets: ["127.0.0.1:${t.server.port}"]}]`), [prometheus, sink.factory], {
    logger,
    registry,
  });
  const up = () => written(sink).map((b) => valueOf([...b].find(([k]) => k.startsWith('up{'))?.[1]));
  try {
    await until(() => sink.received.length >= 1, 'a scrape');
    t.state.body = 'good 1\n';
    await until(() => up().at(-1) === '1', 'a good scrape');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  assert.equal(up()[0], '0');
  const warn = lines.find((l) => l.msg === 'scrape failed; the target is down (up = 0)')!;
  assert.equal(warn.reason, 'invalid_exposition');
  assert.equal(warn.error, 'line 2: expected a quoted value for label x: "bad{x=1} 2"');
  assert.ok(lines.some((l) => l.msg === 'target is up again'));
  assert.equal(registry.value(ScrapeMetricNames.scrapes, { receiver: 'prometheus', job: 'j', result: 'invalid_exposition' }), 1);
});

test('gzip bodies, OpenMetrics by Content-Type, and body_size_limit on the uncompressed size', async () => {
  const om = '# TYPE c counter\nc_total 3\n# EOF\n';
  const t = await target(om);
  t.state.gzip = true;
  t.state.contentType = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
  const sink = sinkExporter();
  const registry = new MetricsRegistry();
  const service = await startService(
    config(`job_name: z\nscrape_interval: 50ms\nbody_size_limit: 1KiB\nstatic_configs: [{targets: ["127.0.0.1:${t.server.port}"]}]`),
    [prometheus, sink.factory],
    { registry },
  );
  const labels = `instance="127.0.0.1:${t.server.port}",job="z"`;
  try {
    await until(() => sink.received.length >= 1, 'a scrape');
    // 1,100 bytes uncompressed, far fewer gzipped: still over the limit.
    t.state.body = `# TYPE c counter\nc_total 3\n# HELP pad ${'x'.repeat(1100)}\n# EOF\n`;
    await until(() => written(sink).some((b) => valueOf(b.get(`up{${labels}}`)) === '0'), 'a scrape over the limit');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  assert.equal(written(sink)[0]!.get(`c_total{${labels}}`)?.split('@')[0], '3');
  assert.equal(registry.value(ScrapeMetricNames.scrapes, { receiver: 'prometheus', job: 'z', result: 'body_size_limit' }) !== undefined, true);
});

test('sample_limit: a scrape over it fails, up is 0 and its series go stale', async () => {
  const t = await target('a 1\n');
  const sink = sinkExporter();
  const service = await startService(config(`job_name: j\nscrape_interval: 50ms\nsample_limit: 2\nstatic_configs: [{targets: ["127.0.0.1:${t.server.port}"]}]`), [
    prometheus,
    sink.factory,
  ]);
  const labels = `instance="127.0.0.1:${t.server.port}",job="j"`;
  try {
    await until(() => sink.received.length >= 1, 'a scrape');
    t.state.body = 'a 1\nb 2\nc 3\n';
    await until(() => written(sink).some((b) => valueOf(b.get(`up{${labels}}`)) === '0'), 'a scrape over the limit');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  const failed = written(sink).find((b) => valueOf(b.get(`up{${labels}}`)) === '0')!;
  assert.equal(valueOf(failed.get(`a{${labels}}`)), 'stale');
  assert.equal(failed.has(`b{${labels}}`), false);
  assert.equal(valueOf(failed.get(`scrape_samples_scraped{${labels}}`)), '0');
});

test('relabel_configs shape targets: dropped targets, a relabeled path, __param_ and instance', async () => {
  const t = await target('m 1\n');
  const sink = sinkExporter();
  const service = await startService(
    config(`
job_name: probe
scrape_interval: 50ms
metrics_path: /probe
params: {module: [http_2xx]}
static_configs: [{targets: ["127.0.0.1:${t.server.port}", "127.0.0.1:1"], labels: {team: a}}]
relabel_configs:
  - {source_labels: [__address__], regex: '.*:1', action: drop}
  - {source_labels: [__address__], target_label: __param_target}
  - {source_labels: [__param_target], regex: '([^:]+):.*', target_label: instance, replacement: 'host-$1'}
  - {target_label: __metrics_path__, replacement: /relabeled}
  - {source_labels: [team], target_label: __tmp_team}
  - {regex: team, action: labeldrop}`),
    [prometheus, sink.factory],
  );
  try {
    await until(() => sink.received.length >= 1, 'a scrape');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  assert.equal(t.server.requests[0]!.url, `/relabeled?module=http_2xx&target=127.0.0.1%3A${t.server.port}`);
  assert.deepEqual([...written(sink)[0]!.keys()].filter((k) => k.startsWith('m{')), ['m{instance="host-127.0.0.1",job="probe"}']);
  // The dropped target was never scraped: every batch is from the one target.
  assert.ok(sink.received.every((r) => r.ctx.peer === `127.0.0.1:${t.server.port}`));
});

test('file_sd_configs: targets follow the file as it changes; a removed target goes stale', async () => {
  const a = await target('from_a 1\n');
  const b = await target('from_b 2\n');
  const dir = mkdtempSync(join(tmpdir(), 'skein-file-sd-'));
  const file = join(dir, 'targets.json');
  const writeTargets = (port: number) => {
    // Written beside and renamed, as config management does, so no half-written file is read.
    writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { zone: 'z1' } }]));
    renameSync(`${file}.tmp`, file);
  };
  writeTargets(a.server.port);
  const sink = sinkExporter();
  const service = await startService(
    config(`job_name: fsd\nscrape_interval: 50ms\nfile_sd_configs: [{files: ["${join(dir, '*.json')}"], refresh_interval: 1h}]`),
    [prometheus, sink.factory],
  );
  const labelsOf = (port: number) => `instance="127.0.0.1:${port}",job="fsd",zone="z1"`;
  try {
    await until(() => written(sink).some((s) => s.has(`from_a{${labelsOf(a.server.port)}}`)), 'a scrape of target a');
    writeTargets(b.server.port);
    await until(() => written(sink).some((s) => s.has(`from_b{${labelsOf(b.server.port)}}`)), 'a scrape of target b (the file changed)');
  } finally {
    await service.shutdown();
    await a.server.close();
    await b.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const ended = written(sink).find((s) => valueOf(s.get(`up{${labelsOf(a.server.port)}}`)) === 'stale')!;
  assert.equal(valueOf(ended.get(`from_a{${labelsOf(a.server.port)}}`)), 'stale');
  for (const name of ['scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added']) {
    assert.equal(valueOf(ended.get(`${name}{${labelsOf(a.server.port)}}`)), 'stale', name);
  }
});

test('basic_auth and authorization send their credentials (files re-read); a 401 is a failed scrape', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-auth-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 's3cret\n');
  const seen: (string | undefined)[] = [];
  const server = await httpServer((req, res) => {
    seen.push(req.headers.authorization);
    const ok = req.headers.authorization === 'Bearer s3cret' || req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`;
    res.writeHead(ok ? 200 : 401).end(ok ? 'm 1\n' : 'no');
  });
  const sink = sinkExporter();
  const service = await startService(
    `
receivers:
  prometheus:
    scrape_configs:
      - {job_name: bearer, scrape_interval: 50ms, authorization: {credentials_file: ${tokenFile}}, static_configs: [{targets: ["127.0.0.1:${server.port}"]}]}
      - {job_name: basic, scrape_interval: 50ms, basic_auth: {username: u, password: p}, static_configs: [{targets: ["127.0.0.1:${server.port}"]}]}
      - {job_name: wrong, scrape_interval: 50ms, authorization: {type: Bearer, credentials: nope}, static_configs: [{targets: ["127.0.0.1:${server.port}"]}]}
exporters: {sink: {}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {metrics: {receivers: [prometheus], exporters: [sink]}}
`,
    [prometheus, sink.factory],
  );
  const upOf = (job: string) =>
    written(sink)
      .map((b) => valueOf(b.get(`up{instance="127.0.0.1:${server.port}",job="${job}"}`)))
      .filter((v) => v !== undefined);
  try {
    await until(() => upOf('bearer').length > 0 && upOf('basic').length > 0 && upOf('wrong').length > 0, 'a scrape of each job');
  } finally {
    await service.shutdown();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual([upOf('bearer')[0], upOf('basic')[0], upOf('wrong')[0]], ['1', '1', '0'], JSON.stringify(seen));
  assert.ok(seen.includes('Bearer nope'));
});

test('tls_config: a CA and server name verify the target; a client certificate for mutual TLS', async () => {
  const openssl = requireTool('openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'skein-tls-'));
  const f = (n: string) => join(dir, n);
  const run = (...args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca');
  for (const [name, cn, ext] of [
    ['server', 'metrics.test', 'subjectAltName=DNS:metrics.test'],
    ['client', 'skein', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  }
  const server = createHttpsServer(
    { key: readFileSync(f('server.key')), cert: readFileSync(f('server.crt')), ca: readFileSync(f('ca.crt')), requestCert: true, rejectUnauthorized: true },
    (req, res) => res.writeHead(200).end('secure 1\n'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const sink = sinkExporter();
  const service = await startService(
    `
receivers:
  prometheus:
    scrape_configs:
      - job_name: tls
        scheme: https
        scrape_interval: 50ms
        tls_config: {ca_file: ${f('ca.crt')}, cert_file: ${f('client.crt')}, key_file: ${f('client.key')}, server_name: metrics.test}
        static_configs: [{targets: ["127.0.0.1:${port}"]}]
      - job_name: tls_no_client_cert
        scheme: https
        scrape_interval: 50ms
        tls_config: {ca_file: ${f('ca.crt')}, server_name: metrics.test}
        static_configs: [{targets: ["127.0.0.1:${port}"]}]
      - job_name: tls_wrong_name
        scheme: https
        scrape_interval: 50ms
        tls_config: {ca_file: ${f('ca.crt')}, cert_file: ${f('client.crt')}, key_file: ${f('client.key')}}
        static_configs: [{targets: ["127.0.0.1:${port}"]}]
exporters: {sink: {}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {metrics: {receivers: [prometheus], exporters: [sink]}}
`,
    [prometheus, sink.factory],
  );
  const upOf = (job: string) =>
    written(sink)
      .map((b) => valueOf(b.get(`up{instance="127.0.0.1:${port}",job="${job}"}`)))
      .filter((v) => v !== undefined);
  try {
    await until(() => ['tls', 'tls_no_client_cert', 'tls_wrong_name'].every((j) => upOf(j).length > 0), 'a scrape of each job');
  } finally {
    await service.shutdown();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(upOf('tls')[0], '1');
  assert.equal(upOf('tls_no_client_cert')[0], '0');
  assert.equal(upOf('tls_wrong_name')[0], '0');
  assert.ok(written(sink).some((b) => valueOf(b.get(`secure{instance="127.0.0.1:${port}",job="tls"}`)) === '1'));
});

test('scrape offsets are spread over the interval by a hash of the target', () => {
  const interval = 15_000;
  const offsets = Array.from({ length: 200 }, (_, i) => fnv1a(`instance=10.0.${i >> 8}.${i & 255}:9100,job=node|http://10.0.0.${i}:9100/metrics`) % interval);
  // Spread: in every quarter of the interval, and hardly any two alike.
  for (let q = 0; q < 4; q++) assert.ok(offsets.some((o) => o >= (q * interval) / 4 && o < ((q + 1) * interval) / 4), `quarter ${q}`);
  assert.ok(new Set(offsets).size > 190);
  // Each target fires at its phase of the interval, strictly after now.
  assert.equal(nextSlot(1_000_000, 250, 1000), 1_000_250);
  assert.equal(nextSlot(1_000_250, 250, 1000), 1_001_250);
  assert.equal(nextSlot(1_000_300, 250, 1000), 1_001_250);
});

test('shutdown without start, and twice, is safe; a target that never answers does not hold it up', async () => {
  const hang = await httpServer(() => {
    /* never answers */
  });
  const sink = sinkExporter();
  const service = await startService(config(`job_name: h\nscrape_interval: 1s\nscrape_timeout: 1s\nstatic_configs: [{targets: ["127.0.0.1:${hang.port}"]}]`), [prometheus, sink.factory]);
  await until(() => hang.requests.length > 0, 'a scrape request');
  await service.shutdown();
  await service.shutdown();
  await (hang as TestServer).close();
  // The abandoned scrape pushes nothing: no `up = 0` for a scrape cut short by shutdown.
  assert.equal(sink.received.length, 0);
});

test('attribute maps are shared between scrapes only when nothing downstream changes batches', async () => {
  const t = await target('m{a="1"} 1\n');
  const reading = sinkExporter();
  const changing = sinkExporter({ type: 'changer', mutates: true });
  const service = await startService(
    `
receivers:
  prometheus/read: {scrape_configs: [{job_name: r, scrape_interval: 50ms, static_configs: [{targets: ["127.0.0.1:${t.server.port}"]}]}]}
  prometheus/change: {scrape_configs: [{job_name: c, scrape_interval: 50ms, static_configs: [{targets: ["127.0.0.1:${t.server.port}"]}]}]}
exporters: {sink: {}, changer: {}}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics/read: {receivers: [prometheus/read], exporters: [sink]}
    metrics/change: {receivers: [prometheus/change], exporters: [changer]}
`,
    [prometheus, reading.factory, changing.factory],
  );
  const pointOf = (r: (typeof reading.received)[number]) =>
    r.batch.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)).find((m) => m.name === 'm')!.points[0]!;
  try {
    await until(() => reading.received.length >= 2 && changing.received.length >= 1, 'scrapes through both pipelines');
    // The mutating consumer changes its copy; the next scrape must not see it.
    (pointOf(changing.received[0]!).attributes as Record<string, string>).a = 'changed';
    const n = changing.received.length;
    await until(() => changing.received.length > n, 'another scrape for the mutating consumer');
  } finally {
    await service.shutdown();
    await t.server.close();
  }
  const [r1, r2] = reading.received.map(pointOf);
  assert.equal(r1!.attributes, r2!.attributes, 'a reading pipeline gets the series\' own map, scrape after scrape');
  assert.ok(Object.isFrozen(r1!.attributes));
  assert.equal(Object.isFrozen(pointOf(changing.received[0]!).attributes), false);
  assert.equal(pointOf(changing.received.at(-1)!).attributes.a, '1');
});
