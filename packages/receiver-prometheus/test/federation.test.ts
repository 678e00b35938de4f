/**
 * Lossless federation, end to end with real programs: Debian's node_exporter is scraped by
 * Skein (prometheus receiver → prometheusremotewrite exporter) into Debian's Prometheus. Every
 * series of every scrape must be in Prometheus with the same name, labels, value and
 * timestamp, and nothing else may be there.
 *
 * What Skein scraped is known exactly: it scrapes node_exporter through a recording proxy in
 * this test, so each exposition body it read is kept and parsed here by a separate, minimal
 * reference parser. The k-th body belongs to the k-th scrape the pipeline's sink received (the
 * batches up to the one holding `up`), which gives the scrape's timestamp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { requireTool, sinkExporter, startService } from '@skein/core/testing';
import remoteWrite from '@skein/exporter-prometheusremotewrite';
import { startPrometheus } from '@skein/exporter-prometheusremotewrite/test/prometheus-server';
import prometheus from '../src/index.ts';
import { httpServer, remoteWritten, until } from './helpers.ts';

/** Series node_exporter reads from a textfile: the shapes a plain node_exporter may not have. */
const TEXTFILE = `# HELP skein_test_untyped An untyped metric with awkward label values.
# TYPE skein_test_untyped untyped
skein_test_untyped{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb",utf8="Grüße ☃",empty=""} 42
# TYPE skein_test_latency_seconds histogram
skein_test_latency_seconds_bucket{le="0.00001"} 1
skein_test_latency_seconds_bucket{le="0.5"} 3
skein_test_latency_seconds_bucket{le="+Inf"} 4
skein_test_latency_seconds_sum 1.25
skein_test_latency_seconds_count 4
# TYPE skein_test_regular_seconds histogram
skein_test_regular_seconds_bucket{le="0.1"} 1
skein_test_regular_seconds_bucket{le="1"} 2
skein_test_regular_seconds_bucket{le="+Inf"} 2
skein_test_regular_seconds_sum 0.6
skein_test_regular_seconds_count 2
# TYPE skein_test_double__underscore gauge
skein_test_double__underscore 1
# TYPE skein_test_special gauge
skein_test_special{kind="nan"} NaN
skein_test_special{kind="neg_inf"} -Inf
skein_test_special{kind="tiny"} 5e-324
`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface RefSeries {
  key: string;
  name: string;
  value: number;
}

/** A deliberately small text-format reader (what node_exporter writes), independent of the receiver's parser. */
function referenceParse(body: string, extra: Record<string, string>): { series: RefSeries[]; types: Map<string, string> } {
  const series: RefSeries[] = [];
  const types = new Map<string, string>();
  for (const line of body.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2] === 'untyped' ? 'unknown' : type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unexpected line ${line}`);
    const labels: Record<string, string> = { ...extra };
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const value = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      // Prometheus keeps no label with an empty value.
      if (value !== '') labels[l[1]!] = value;
    }
    const key = `${m[1]}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
    const raw = m[3]!;
    const value = raw === 'NaN' ? NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    series.push({ key, name: m[1]!, value });
  }
  return { series, types };
}

/** The family type of a series name, from the exposition's TYPE lines. */
function familyType(name: string, types: Map<string, string>): string {
  if (types.has(name)) return types.get(name)!;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const family = name.endsWith(suffix) ? types.get(name.slice(0, -suffix.length)) : undefined;
    if (family === 'histogram' || family === 'summary') return family;
  }
  return 'unknown';
}

const sameValue = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

test('node_exporter → Skein → Prometheus: every scraped series, with identical labels, values and timestamps, and nothing else', async () => {
  const nodeExporter = requireTool('prometheus-node-exporter', 'prometheus-node-exporter');
  const prom = await startPrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'skein-federation-'));
  writeFileSync(join(dir, 'skein.prom'), TEXTFILE);
  const nePort = await freePort();
  let neLog = '';
  const ne = spawn(
    nodeExporter,
    [
      `--web.listen-address=127.0.0.1:${nePort}`,
      '--collector.disable-defaults',
      '--collector.cpu',
      '--collector.meminfo',
      '--collector.loadavg',
      '--collector.filesystem',
      '--collector.stat',
      '--collector.netdev',
      '--collector.uname',
      '--collector.textfile',
      `--collector.textfile.directory=${dir}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  ne.stderr!.on('data', (c: Buffer) => (neLog += c.toString()));
  // The recording proxy: what Skein reads, kept byte for byte (and sent gzipped, as node_exporter would).
  const bodies: string[] = [];
  const proxy = await httpServer((req, res) => {
    fetch(`http://127.0.0.1:${nePort}/metrics`)
      .then(async (upstream) => {
        const body = await upstream.text();
        bodies.push(body);
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain', 'content-encoding': 'gzip' });
        res.end(gzipSync(body));
      })
      .catch((err: Error) => res.writeHead(502).end(err.message));
  });
  const instance = `127.0.0.1:${proxy.port}`;
  const sink = sinkExporter();
  let service;
  try {
    await until(() => neLog.includes('Listening on'), `node_exporter to listen:\n${neLog}`);
    service = await startService(
      `
receivers:
  prometheus/node:
    scrape_configs:
      - job_name: node
        scrape_interval: 1s
        static_configs: [{targets: ["${instance}"]}]
exporters:
  prometheusremotewrite:
    endpoint: ${prom.writeUrl}
    add_metric_suffixes: false
    target_info: {enabled: false}
    sending: {batch_send_deadline: 50ms}
  sink: {}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [prometheus/node], exporters: [prometheusremotewrite, sink]}
`,
      [prometheus, remoteWrite, sink.factory],
    );
    // A scrape reaches the pipeline in one or more batches; the last holds `up`.
    const hasUp = (batch: (typeof sink.received)[number]['batch']) =>
      batch.resourceMetrics.some((rm) => rm.scopeMetrics.some((sm) => sm.metrics.some((m) => m.name === 'up')));
    await until(() => sink.received.filter((r) => hasUp(r.batch)).length >= 4, 'four scrapes', 30_000);
    // Shutdown drains the exporter's queue into Prometheus.
    await service.shutdown();

    const scrapeBatches: (typeof sink.received)[number]['batch'][] = [];
    let pending: (typeof sink.received)[number]['batch']['resourceMetrics'] = [];
    for (const r of sink.received) {
      pending.push(...r.batch.resourceMetrics);
      if (hasUp(r.batch)) {
        scrapeBatches.push({ resourceMetrics: pending });
        pending = [];
      }
    }
    const scrapes = scrapeBatches.length;
    assert.ok(bodies.length >= scrapes);
    const expected = new Map<string, Map<number, number>>();
    const put = (key: string, t: number, v: number) => {
      let byTime = expected.get(key);
      if (!byTime) expected.set(key, (byTime = new Map()));
      assert.equal(byTime.has(t), false, `${key} twice at ${t}`);
      byTime.set(t, v);
    };
    const base = `instance=${JSON.stringify(instance)},job="node"`;
    let previous = new Set<string>();
    let checkedTypes = 0;
    for (let k = 0; k < scrapes; k++) {
      const sent = remoteWritten(scrapeBatches[k]!);
      const [upValue, at] = sent.samples.get(`up{${base}}`)!.split('@');
      assert.equal(upValue, '1', `scrape ${k} failed`);
      const t = Number(at);
      const { series, types } = referenceParse(bodies[k]!, { job: 'node', instance });
      for (const s of series) {
        put(s.key, t, s.value);
        // Types: the translation of what Skein passed on gives each series its family's type.
        assert.equal(sent.types.get(s.key), familyType(s.name, types), `type of ${s.key}`);
        checkedTypes++;
      }
      const keys = new Set(series.map((s) => s.key));
      put(`up{${base}}`, t, 1);
      put(`scrape_samples_scraped{${base}}`, t, series.length);
      put(`scrape_samples_post_metric_relabeling{${base}}`, t, series.length);
      put(`scrape_series_added{${base}}`, t, [...keys].filter((key) => !previous.has(key)).length);
      put(`scrape_duration_seconds{${base}}`, t, Number(sent.samples.get(`scrape_duration_seconds{${base}}`)!.split('@')[0]));
      previous = keys;
    }
    assert.ok(checkedTypes > 4 * 200, `only ${checkedTypes} series checked`);
    for (const key of [`skein_test_latency_seconds_bucket{${base},le="1e-05"}`, `skein_test_double__underscore{${base}}`, `skein_test_special{${base},kind="nan"}`]) {
      assert.ok(expected.has(key), `node_exporter did not expose ${key}`);
    }

    // Everything Prometheus holds, with every sample's timestamp.
    const now = Date.now() / 1000 + 1;
    const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('{__name__=~".+"}[10m]')}&time=${now}`);
    const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
    assert.equal(body.status, 'success');
    const stored = new Map<string, Map<number, number>>();
    for (const r of body.data.result) {
      const { __name__: name, ...labels } = r.metric;
      const key = `${name}{${Object.keys(labels)
        .sort()
        .map((k) => `${k}=${JSON.stringify(labels[k])}`)
        .join(',')}}`;
      stored.set(key, new Map(r.values.map(([ts, v]) => [Math.round(ts * 1000), v === 'NaN' ? NaN : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v)])));
    }
    const missing = [...expected.keys()].filter((k) => !stored.has(k));
    const invented = [...stored.keys()].filter((k) => !expected.has(k));
    assert.deepEqual(missing, [], 'series Skein scraped that Prometheus does not have');
    assert.deepEqual(invented, [], 'series in Prometheus that were never scraped');
    let compared = 0;
    for (const [key, want] of expected) {
      const got = stored.get(key)!;
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `timestamps of ${key}`);
      for (const [t, v] of want) {
        assert.ok(sameValue(got.get(t)!, v), `${key} at ${t}: Prometheus has ${got.get(t)}, the scrape had ${v}`);
        compared++;
      }
    }
    assert.equal(compared, [...expected.values()].reduce((n, m) => n + m.size, 0));
  } finally {
    await service?.shutdown();
    await proxy.close();
    ne.kill('SIGTERM');
    await prom.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
