import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  DataPointFlags,
  defineExporter,
  exponentialHistogram,
  exponentialHistogramPoint,
  gauge,
  histogram,
  histogramPoint,
  metricsBatch,
  MetricsRegistry,
  numberPoint,
  SkeinError,
  sum,
  summary,
  summaryPoint,
  Temporality,
  type Metric,
  type MetricsBatch,
} from '@skein/core';
import { builtinsLoadedBy, requireTool, sourceReceiver, startService } from '@skein/core/testing';
import prometheusExporter, { createPrometheusExporter, type PrometheusExporter } from '../src/index.ts';

/** 2025-01-15T12:00:00Z */
const MS = 1_736_942_400_000;
const T = BigInt(MS) * 1_000_000n;
const at = (offsetMs: number) => T + BigInt(offsetMs) * 1_000_000n;

const RESOURCE = { 'service.name': 'checkout', 'service.namespace': 'shop', 'service.instance.id': 'pod-7', 'host.name': 'node-1' };

/** The prometheus factory, keeping each instance so a test can find the port it listens on. */
function capturing() {
  const instances: PrometheusExporter[] = [];
  const factory = defineExporter({
    ...prometheusExporter,
    create: (settings) => {
      const e = createPrometheusExporter(settings);
      instances.push(e);
      return e;
    },
  });
  return { factory, instances };
}

async function pipeline(exporterConfig = '{endpoint: "127.0.0.1:0"}') {
  const source = sourceReceiver();
  const prom = capturing();
  const registry = new MetricsRegistry();
  const yaml = `
receivers: {source: {}}
exporters:
  prometheus: ${exporterConfig}
service:
  pipelines:
    metrics: {receivers: [source], exporters: [prometheus]}
`;
  const service = await startService(yaml, [source.factory, prom.factory], { registry });
  const exporter = prom.instances[0]!;
  const url = `http://127.0.0.1:${exporter.address!.port}/metrics`;
  const push = (batch: MetricsBatch) => source.consumers.get('source')!.consume(batch, { transport: 'internal' });
  const scrape = async (headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  return { service, exporter, registry, url, push, scrape };
}

function batchOf(metrics: Metric[], resource: Record<string, string> = RESOURCE): MetricsBatch {
  return metricsBatch([{ resource, scope: 'test', metrics }]);
}

function promtool(body: string): { status: number | null; output: string } {
  const bin = requireTool('promtool', 'prometheus');
  const r = spawnSync(bin, ['check', 'metrics'], { input: body, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const MIXED = () =>
  batchOf([
    gauge('queue.depth', [numberPoint(12n, { timeUnixNano: T, attributes: { queue: 'orders' } })], { description: 'Items waiting.' }),
    sum('http.requests', [numberPoint(1027n, { timeUnixNano: T, startTimeUnixNano: at(-60_000), attributes: { code: '200' } })], {
      unit: '{requests}',
      description: 'Requests served.',
    }),
    histogram(
      'http.server.duration',
      [histogramPoint({ explicitBounds: [0.1, 1], bucketCounts: [3, 2, 1], sum: 2.5 }, { timeUnixNano: T, startTimeUnixNano: at(-60_000) })],
      { unit: 's', description: 'Time to answer a request.' },
    ),
    summary('gc.pause', [summaryPoint({ count: 4, sum: 0.5, quantiles: { 0.5: 0.1, 0.99: 0.25 } }, { timeUnixNano: T })], {
      unit: 's',
      description: 'Garbage collection pauses.',
    }),
    gauge('memory.utilization', [numberPoint(0.42, { timeUnixNano: T })], { unit: '1', description: 'Share of memory in use.' }),
  ]);

const ID = 'instance="pod-7",job="shop/checkout"';

test('serves a batch at /metrics in the text format, one HELP/TYPE per family, valid for promtool', async () => {
  const p = await pipeline();
  try {
    await p.push(MIXED());
    const res = await p.scrape();
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(
      res.body,
      [
        '# HELP gc_pause_seconds Garbage collection pauses.',
        '# TYPE gc_pause_seconds summary',
        `gc_pause_seconds{${ID},quantile="0.5"} 0.1`,
        `gc_pause_seconds{${ID},quantile="0.99"} 0.25`,
        `gc_pause_seconds_sum{${ID}} 0.5`,
        `gc_pause_seconds_count{${ID}} 4`,
        '# HELP http_requests_total Requests served.',
        '# TYPE http_requests_total counter',
        `http_requests_total{code="200",${ID}} 1027`,
        '# HELP http_server_duration_seconds Time to answer a request.',
        '# TYPE http_server_duration_seconds histogram',
        `http_server_duration_seconds_bucket{${ID},le="0.1"} 3`,
        `http_server_duration_seconds_bucket{${ID},le="1"} 5`,
        `http_server_duration_seconds_bucket{${ID},le="+Inf"} 6`,
        `http_server_duration_seconds_sum{${ID}} 2.5`,
        `http_server_duration_seconds_count{${ID}} 6`,
        '# HELP memory_utilization_ratio Share of memory in use.',
        '# TYPE memory_utilization_ratio gauge',
        `memory_utilization_ratio{${ID}} 0.42`,
        '# HELP queue_depth Items waiting.',
        '# TYPE queue_depth gauge',
        `queue_depth{${ID},queue="orders"} 12`,
        '# HELP target_info Target metadata',
        '# TYPE target_info gauge',
        `target_info{host_name="node-1",${ID}} 1`,
        '',
      ].join('\n'),
    );
    const check = promtool(res.body);
    assert.equal(check.output, '');
    assert.equal(check.status, 0);
  } finally {
    await p.service.shutdown();
  }
});

test('keeps the newest value of each series, ignores older points, and removes a series on a stale marker', async () => {
  const p = await pipeline();
  const g = (value: number, offsetMs: number, flags = 0) => batchOf([gauge('temp', [numberPoint(value, { timeUnixNano: at(offsetMs), flags })])], {});
  try {
    await p.push(g(1, 0));
    await p.push(g(2, 1000));
    await p.push(g(9, 500));
    assert.equal((await p.scrape()).body, '# TYPE temp gauge\ntemp 2\n');
    await p.push(g(0, 2000, DataPointFlags.NoRecordedValue));
    assert.equal((await p.scrape()).body, '');
    assert.equal(p.registry.value('skein_exporter_prometheus_series', { exporter: 'prometheus' }), 0);
  } finally {
    await p.service.shutdown();
  }
});

test('deltas and exponential histograms are not served, and counted by reason', async () => {
  const p = await pipeline();
  try {
    await p.push(
      batchOf(
        [
          sum('d', [numberPoint(1, { timeUnixNano: T }), numberPoint(2, { timeUnixNano: at(1) })], { temporality: Temporality.Delta }),
          exponentialHistogram('e', [exponentialHistogramPoint({ scale: 0, positive: { offset: 0, bucketCounts: [1] } }, { timeUnixNano: T })]),
          gauge('kept', [numberPoint(1, { timeUnixNano: T })]),
        ],
        {},
      ),
    );
    assert.equal((await p.scrape()).body, '# TYPE kept gauge\nkept 1\n');
    const dropped = (reason: string) => p.registry.value('skein_exporter_prometheus_dropped_points_total', { exporter: 'prometheus', reason });
    assert.equal(dropped('delta_temporality'), 2);
    assert.equal(dropped('native_histogram_unsupported'), 1);
    assert.equal(p.registry.value('skein_exporter_prometheus_series', { exporter: 'prometheus' }), 1);
  } finally {
    await p.service.shutdown();
  }
});

test('a family name another family of another type holds is refused and counted', async () => {
  const p = await pipeline('{endpoint: "127.0.0.1:0", add_metric_suffixes: false}');
  try {
    await p.push(batchOf([gauge('jobs', [numberPoint(3, { timeUnixNano: T })])], {}));
    await p.push(batchOf([sum('jobs', [numberPoint(7, { timeUnixNano: T, attributes: { a: 'b' } })])], {}));
    assert.equal((await p.scrape()).body, '# TYPE jobs gauge\njobs 3\n');
    assert.equal(p.registry.value('skein_exporter_prometheus_dropped_points_total', { exporter: 'prometheus', reason: 'type_conflict' }), 1);
  } finally {
    await p.service.shutdown();
  }
});

test('series not updated within metric_expiration disappear; series still updated stay', { timeout: 10_000 }, async () => {
  const p = await pipeline('{endpoint: "127.0.0.1:0", metric_expiration: 200ms}');
  const g = (name: string) => batchOf([gauge(name, [numberPoint(1, { timeUnixNano: T })])], {});
  try {
    await p.push(g('old'));
    await p.push(g('fresh'));
    assert.equal((await p.scrape()).body, '# TYPE fresh gauge\nfresh 1\n# TYPE old gauge\nold 1\n');
    const deadline = Date.now() + 5000;
    let body = '';
    while (Date.now() < deadline) {
      await p.push(g('fresh'));
      body = (await p.scrape()).body;
      if (!body.includes('old')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(body, '# TYPE fresh gauge\nfresh 1\n');
    assert.equal(p.registry.value('skein_exporter_prometheus_expired_series_total', { exporter: 'prometheus' }), 1);
  } finally {
    await p.service.shutdown();
  }
});

test('const_labels, resource_to_telemetry_conversion and add_metric_suffixes: false', async () => {
  const p = await pipeline('{endpoint: "127.0.0.1:0", const_labels: {cluster: eu-1, job: ignored}, resource_to_telemetry_conversion: true, add_metric_suffixes: false}');
  try {
    await p.push(batchOf([sum('node_cpu_seconds_total', [numberPoint(5.5, { timeUnixNano: T })], { unit: 's', description: 'CPU time.' })], { 'service.name': 'node', region: 'eu' }));
    assert.equal(
      (await p.scrape()).body,
      [
        '# HELP node_cpu_seconds_total CPU time.',
        '# TYPE node_cpu_seconds_total counter',
        'node_cpu_seconds_total{cluster="eu-1",job="node",region="eu",service_name="node"} 5.5',
        '# HELP target_info Target metadata',
        '# TYPE target_info gauge',
        'target_info{cluster="eu-1",job="node",region="eu"} 1',
        '',
      ].join('\n'),
    );
  } finally {
    await p.service.shutdown();
  }
});

test('with enable_open_metrics, a scraper that asks gets OpenMetrics with _created, UNIT and target as info', async () => {
  const p = await pipeline('{endpoint: "127.0.0.1:0", enable_open_metrics: true}');
  try {
    await p.push(MIXED());
    const om = await p.scrape({ Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
    assert.equal(om.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const created = (MS - 60_000) / 1000;
    assert.equal(
      om.body,
      [
        '# TYPE gc_pause_seconds summary',
        '# UNIT gc_pause_seconds seconds',
        '# HELP gc_pause_seconds Garbage collection pauses.',
        `gc_pause_seconds{${ID},quantile="0.5"} 0.1`,
        `gc_pause_seconds{${ID},quantile="0.99"} 0.25`,
        `gc_pause_seconds_count{${ID}} 4`,
        `gc_pause_seconds_sum{${ID}} 0.5`,
        '# TYPE http_requests counter',
        '# HELP http_requests Requests served.',
        `http_requests_total{code="200",${ID}} 1027`,
        `http_requests_created{code="200",${ID}} ${created}`,
        '# TYPE http_server_duration_seconds histogram',
        '# UNIT http_server_duration_seconds seconds',
        '# HELP http_server_duration_seconds Time to answer a request.',
        `http_server_duration_seconds_bucket{${ID},le="0.1"} 3`,
        `http_server_duration_seconds_bucket{${ID},le="1"} 5`,
        `http_server_duration_seconds_bucket{${ID},le="+Inf"} 6`,
        `http_server_duration_seconds_count{${ID}} 6`,
        `http_server_duration_seconds_sum{${ID}} 2.5`,
        `http_server_duration_seconds_created{${ID}} ${created}`,
        '# TYPE memory_utilization_ratio gauge',
        '# UNIT memory_utilization_ratio ratio',
        '# HELP memory_utilization_ratio Share of memory in use.',
        `memory_utilization_ratio{${ID}} 0.42`,
        '# TYPE queue_depth gauge',
        '# HELP queue_depth Items waiting.',
        `queue_depth{${ID},queue="orders"} 12`,
        '# TYPE target info',
        '# HELP target Target metadata',
        `target_info{host_name="node-1",${ID}} 1`,
        '# EOF',
        '',
      ].join('\n'),
    );
    const text = await p.scrape();
    assert.equal(text.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(text.body, /^# HELP gc_pause_seconds /);
  } finally {
    await p.service.shutdown();
  }
});

test('other paths answer 404, other methods 405, HEAD has no body', async () => {
  const p = await pipeline();
  try {
    const other = await fetch(p.url.replace('/metrics', '/'));
    assert.equal(other.status, 404);
    assert.equal(await other.text(), 'not found: metrics are served on /metrics\n');
    const post = await fetch(p.url, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.text();
    await p.push(batchOf([gauge('g', [numberPoint(1, { timeUnixNano: T })])], {}));
    const head = await fetch(p.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  } finally {
    await p.service.shutdown();
  }
});

test('bad const_labels and a zero metric_expiration are config errors', async () => {
  const source = sourceReceiver();
  const yaml = (cfg: string) => `
receivers: {source: {}}
exporters:
  prometheus: ${cfg}
service:
  pipelines:
    metrics: {receivers: [source], exporters: [prometheus]}
`;
  const fails = async (cfg: string, message: string) =>
    assert.rejects(startService(yaml(cfg), [source.factory, prometheusExporter]), (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
      assert.equal(err.message, message);
      return true;
    });
  await fails(
    '{const_labels: {0zone: a}}',
    'test.yaml:4:31: exporters::prometheus::const_labels::0zone: must be a label name: letters, digits and _, not starting with a digit or __',
  );
  await fails('{const_labels: {zone: ""}}', 'test.yaml:4:31: exporters::prometheus::const_labels::zone: must not be empty (Prometheus drops labels with empty values)');
  await fails('{metric_expiration: 0s}', 'test.yaml:4:16: exporters::prometheus::metric_expiration: must be more than 0s, got "0s"');
});

test('shutdown is safe without start and safe twice; the port is released', async () => {
  const p = await pipeline();
  const url = p.url;
  await p.service.shutdown();
  await p.service.shutdown();
  await assert.rejects(fetch(url));
  const lone = createPrometheusExporter({
    id: 'prometheus',
    config: { endpoint: '127.0.0.1:0', metric_expiration: '5m', add_metric_suffixes: true, resource_to_telemetry_conversion: false, const_labels: {}, enable_open_metrics: false },
    logger: p.service.logger,
    telemetry: new MetricsRegistry().scoped({ exporter: 'prometheus' }),
    pipelines: [],
  });
  await lone.shutdown?.();
  await lone.shutdown?.();
  assert.equal(lone.address, undefined);
});

test("importing the exporter leaves Node's bundled undici unloaded (node:http is not imported as an ES module)", async () => {
  const loaded = await builtinsLoadedBy(import.meta.resolve('../src/index.ts'));
  assert.ok(loaded.includes('http'), 'node:http is loaded');
  assert.ok(!loaded.includes('internal/deps/undici/undici'), 'undici is not');
});
