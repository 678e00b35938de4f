import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataPointFlags, type HistogramMetric, type Metric, type MetricsBatch, type SumMetric, type SummaryMetric } from '@skein/core';
import { compileRule, ScrapeError, TargetScraper, type RelabelRule } from '../src/index.ts';
import type { ScrapeLimits, ScrapeResult } from '../src/scrape-target.ts';
import { remoteWritten } from './helpers.ts';

const T = 1_700_000_000_000;
const NO_LIMITS: ScrapeLimits = { sampleLimit: 0, labelLimit: 0, labelNameLengthLimit: 0, labelValueLengthLimit: 0 };
const TARGET: [string, string][] = [
  ['instance', '10.0.0.1:9100'],
  ['job', 'node'],
];

function scraper(opts: { honorLabels?: boolean; honorTimestamps?: boolean; relabel?: RelabelRule[]; limits?: Partial<ScrapeLimits>; target?: [string, string][] } = {}) {
  return new TargetScraper({
    targetLabels: opts.target ?? TARGET,
    honorLabels: opts.honorLabels ?? false,
    honorTimestamps: opts.honorTimestamps ?? true,
    metricRelabel: (opts.relabel ?? []).map(compileRule),
    limits: { ...NO_LIMITS, ...opts.limits },
  });
}

const merged = new WeakMap<ScrapeResult, MetricsBatch>();

/** A scrape's batches in one (the translation merges series across resources anyway). */
function batchOf(r: ScrapeResult): MetricsBatch {
  let batch = merged.get(r);
  if (batch === undefined) merged.set(r, (batch = { resourceMetrics: [...r.batches(Infinity)].flatMap((b) => b.resourceMetrics) }));
  return batch;
}

/** Attributes as for-in, Object.keys and JSON see them (without the translation's key). */
const plain = (attrs: object) => Object.fromEntries(Object.entries(attrs));

function metrics(batch: MetricsBatch): Metric[] {
  return batch.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
}

const I = 'instance="10.0.0.1:9100",job="node"';

test('text format: every series comes back exactly through the remote-write translation', () => {
  const text = `# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1.234567e+06
node_cpu_seconds_total{cpu="0",mode="user"} 42.5
# TYPE node_load1 gauge
node_load1 0.25
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 1.5e-05
go_gc_duration_seconds{quantile="0.5"} 3.1e-05
go_gc_duration_seconds{quantile="1"} 0.001
go_gc_duration_seconds_sum 0.25
go_gc_duration_seconds_count 1234
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/",le="0.005"} 3
http_request_duration_seconds_bucket{handler="/",le="0.5"} 10
http_request_duration_seconds_bucket{handler="/",le="+Inf"} 12
http_request_duration_seconds_sum{handler="/"} 3.5
http_request_duration_seconds_count{handler="/"} 12
# TYPE node_textfile_thing untyped
node_textfile_thing{x="y"} -Inf
no_family_at_all NaN
foo__bar 7
`;
  const s = scraper();
  const r = s.scrape(text, 'text', T);
  assert.equal(r.scraped, 16);
  assert.equal(r.postRelabel, 16);
  assert.equal(r.seriesAdded, 16);
  const { samples, types } = remoteWritten(batchOf(r));
  assert.deepEqual(
    Object.fromEntries(samples),
    Object.fromEntries(
      [
        [`node_cpu_seconds_total{cpu="0",${I},mode="idle"}`, '1234567', 'counter'],
        [`node_cpu_seconds_total{cpu="0",${I},mode="user"}`, '42.5', 'counter'],
        [`node_load1{${I}}`, '0.25', 'gauge'],
        [`go_gc_duration_seconds{${I},quantile="0"}`, '0.000015', 'summary'],
        [`go_gc_duration_seconds{${I},quantile="0.5"}`, '0.000031', 'summary'],
        [`go_gc_duration_seconds{${I},quantile="1"}`, '0.001', 'summary'],
        [`go_gc_duration_seconds_sum{${I}}`, '0.25', 'summary'],
        [`go_gc_duration_seconds_count{${I}}`, '1234', 'summary'],
        [`http_request_duration_seconds_bucket{handler="/",${I},le="0.005"}`, '3', 'histogram'],
        [`http_request_duration_seconds_bucket{handler="/",${I},le="0.5"}`, '10', 'histogram'],
        [`http_request_duration_seconds_bucket{handler="/",${I},le="+Inf"}`, '12', 'histogram'],
        [`http_request_duration_seconds_sum{handler="/",${I}}`, '3.5', 'histogram'],
        [`http_request_duration_seconds_count{handler="/",${I}}`, '12', 'histogram'],
        [`node_textfile_thing{${I},x="y"}`, '-Infinity', 'unknown'],
        [`no_family_at_all{${I}}`, 'NaN', 'unknown'],
        [`foo__bar{${I}}`, '7', 'unknown'],
      ].map(([k, v]) => [k, `${v}@${T}`]),
    ),
  );
  assert.equal(types.get(`node_cpu_seconds_total{cpu="0",${I},mode="idle"}`), 'counter');
  assert.equal(types.get(`http_request_duration_seconds_bucket{handler="/",${I},le="0.5"}`), 'histogram');
  assert.equal(types.get(`go_gc_duration_seconds_count{${I}}`), 'summary');
  assert.equal(types.get(`node_textfile_thing{${I},x="y"}`), 'unknown');

  // The OTLP view: job/instance on the resource, proper kinds.
  assert.equal(batchOf(r).resourceMetrics.length, 1);
  assert.deepEqual(batchOf(r).resourceMetrics[0]!.resource.attributes, { 'service.name': 'node', 'service.instance.id': '10.0.0.1:9100' });
  assert.deepEqual(batchOf(r).resourceMetrics[0]!.scopeMetrics[0]!.scope, { name: '@skein/receiver-prometheus', version: '0.1.0' });
  const byName = new Map(metrics(batchOf(r)).map((m) => [m.name, m]));
  const cpu = byName.get('node_cpu_seconds_total') as SumMetric;
  assert.equal(cpu.type, 'sum');
  assert.equal(cpu.isMonotonic, true);
  assert.equal(cpu.description, 'Seconds the CPUs spent in each mode.');
  assert.deepEqual(plain(cpu.points[0]!.attributes), { cpu: '0', mode: 'idle' });
  const h = byName.get('http_request_duration_seconds') as HistogramMetric;
  assert.equal(h.type, 'histogram');
  assert.deepEqual(h.points[0]!.explicitBounds, [0.005, 0.5]);
  assert.deepEqual(h.points[0]!.bucketCounts, [3, 7, 2]);
  assert.equal(h.points[0]!.count, 12);
  assert.equal(h.points[0]!.sum, 3.5);
  assert.deepEqual(plain(h.points[0]!.attributes), { handler: '/' });
  const q = byName.get('go_gc_duration_seconds') as SummaryMetric;
  assert.equal(q.type, 'summary');
  assert.deepEqual(q.points[0]!.quantileValues, [
    { quantile: 0, value: 1.5e-5 },
    { quantile: 0.5, value: 3.1e-5 },
    { quantile: 1, value: 0.001 },
  ]);
  assert.deepEqual(byName.get('node_textfile_thing')!.metadata, { 'prometheus.type': 'unknown' });
});

test('OpenMetrics: le="1.0", _created, info, stateset, gaugehistogram and exemplars come back exactly', () => {
  const text = `# TYPE rpc_seconds histogram
# UNIT rpc_seconds seconds
rpc_seconds_bucket{le="0.5"} 1
rpc_seconds_bucket{le="1.0"} 2 # {trace_id="abc"} 0.7 1700000000.123
rpc_seconds_bucket{le="+Inf"} 3
rpc_seconds_sum 2.5
rpc_seconds_count 3
rpc_seconds_created 1699999000.5
# TYPE jobs counter
# HELP jobs Jobs done.
jobs_total{kind="a"} 5 # {trace_id="def"} 1
jobs_created{kind="a"} 1699990000
# TYPE build info
build_info{version="1.2.3"} 1
# TYPE feature stateset
feature{feature="a"} 1
feature{feature="b"} 0
# TYPE queue gaugehistogram
queue_bucket{le="1"} 4
queue_bucket{le="+Inf"} 5
queue_gcount 5
queue_gsum 3
# TYPE lat summary
lat{quantile="0.9"} 1.5
lat_sum 4
lat_count 2
lat_created 1699999999
# EOF
`;
  const r = scraper().scrape(text, 'openmetrics', T);
  const { samples, types } = remoteWritten(batchOf(r));
  const want: [string, string, string][] = [
    [`rpc_seconds_bucket{${I},le="0.5"}`, '1', 'histogram'],
    [`rpc_seconds_bucket{${I},le="1.0"}`, '2', 'histogram'],
    [`rpc_seconds_bucket{${I},le="+Inf"}`, '3', 'histogram'],
    [`rpc_seconds_sum{${I}}`, '2.5', 'histogram'],
    [`rpc_seconds_count{${I}}`, '3', 'histogram'],
    [`rpc_seconds_created{${I}}`, '1699999000.5', 'gauge'],
    [`jobs_total{${I},kind="a"}`, '5', 'counter'],
    [`jobs_created{${I},kind="a"}`, '1699990000', 'gauge'],
    [`build_info{${I},version="1.2.3"}`, '1', 'info'],
    [`feature{feature="a",${I}}`, '1', 'stateset'],
    [`feature{feature="b",${I}}`, '0', 'stateset'],
    [`queue_bucket{${I},le="1"}`, '4', 'gaugehistogram'],
    [`queue_bucket{${I},le="+Inf"}`, '5', 'gaugehistogram'],
    [`queue_gcount{${I}}`, '5', 'gaugehistogram'],
    [`queue_gsum{${I}}`, '3', 'gaugehistogram'],
    [`lat{${I},quantile="0.9"}`, '1.5', 'summary'],
    [`lat_sum{${I}}`, '4', 'summary'],
    [`lat_count{${I}}`, '2', 'summary'],
    [`lat_created{${I}}`, '1699999999', 'gauge'],
  ];
  assert.deepEqual(Object.fromEntries(samples), Object.fromEntries(want.map(([k, v]) => [k, `${v}@${T}`])));
  assert.deepEqual(Object.fromEntries(types), Object.fromEntries(want.map(([k, , t]) => [k, t])));

  const ms = metrics(batchOf(r));
  // `le="1.0"` cannot come back from a number: the histogram's series travel one by one.
  assert.ok(!ms.some((m) => m.type === 'histogram'));
  const bucket = ms.find((m) => m.name === 'rpc_seconds_bucket')!;
  assert.equal(bucket.unit, 'seconds');
  assert.deepEqual(bucket.points.find((p) => p.attributes.le === '1.0')!.exemplars, [
    { filteredAttributes: { trace_id: 'abc' }, value: 0.7, timeUnixNano: 1_700_000_000_123_000_000n },
  ]);
  // The counter is a sum whose start time is its _created; the summary maps exactly and gets its _created too.
  const jobs = ms.find((m) => m.name === 'jobs_total') as SumMetric;
  assert.equal(jobs.type, 'sum');
  assert.equal(jobs.points[0]!.startTimeUnixNano, 1_699_990_000_000_000_000n);
  assert.deepEqual(jobs.points[0]!.exemplars, [{ filteredAttributes: { trace_id: 'def' }, value: 1, timeUnixNano: 0n }]);
  const lat = ms.find((m) => m.name === 'lat') as SummaryMetric;
  assert.equal(lat.type, 'summary');
  assert.equal(lat.points[0]!.startTimeUnixNano, 1_699_999_999_000_000_000n);
});

test('histograms that a number cannot give back travel series by series, still exactly', () => {
  const text = `# TYPE a histogram
a_bucket{le="1e-05"} 1
a_bucket{le="+Inf"} 2
a_count 2
# TYPE b histogram
b_bucket{le="1"} 1
b_count 1
# TYPE c histogram
c_bucket{le="1"} 1
c_bucket{le="+Inf"} 2
c_count 3
# TYPE d histogram
d_bucket{le="1"} 0.5
d_bucket{le="+Inf"} 1.5
d_count 1.5
# TYPE e histogram
e_bucket{le="2"} 1
e_bucket{le="1"} 1
e_bucket{le="+Inf"} 1
e_count 1
# TYPE f histogram
f_bucket{le="1"} 1 1699999999000
f_bucket{le="+Inf"} 1
f_count 1
# TYPE g histogram
g_bucket{le="1"} 1
g_bucket{le="+Inf"} 2
g_count 2
g_sum 1
g_extra 9
`;
  const r = scraper().scrape(text, 'text', T);
  const { samples, types } = remoteWritten(batchOf(r));
  assert.equal(samples.size, 23);
  assert.equal(samples.get(`a_bucket{${I},le="1e-05"}`), `1@${T}`);
  assert.equal(samples.get(`b_count{${I}}`), `1@${T}`);
  assert.equal(samples.get(`c_count{${I}}`), `3@${T}`);
  assert.equal(samples.get(`c_bucket{${I},le="+Inf"}`), `2@${T}`);
  assert.equal(samples.get(`d_bucket{${I},le="1"}`), `0.5@${T}`);
  assert.equal(samples.get(`e_bucket{${I},le="2"}`), `1@${T}`);
  assert.equal(samples.get(`f_bucket{${I},le="1"}`), `1@1699999999000`);
  assert.equal(samples.get(`f_bucket{${I},le="+Inf"}`), `1@${T}`);
  assert.equal(samples.get(`g_extra{${I}}`), `9@${T}`);
  assert.equal(types.get(`a_bucket{${I},le="1e-05"}`), 'histogram');
  assert.equal(types.get(`g_extra{${I}}`), 'unknown');
  const ms = metrics(batchOf(r));
  // Only g maps onto an OTLP histogram.
  assert.deepEqual(
    ms.filter((m) => m.type === 'histogram').map((m) => m.name),
    ['g'],
  );
});

test('honor_labels: false renames the series\' own job and instance to exported_*', () => {
  const text = 'm{job="theirs",exported_job="taken",instance="i",other="o"} 1\n';
  const r = scraper().scrape(text, 'text', T);
  assert.deepEqual([...remoteWritten(batchOf(r)).samples.keys()], [
    'm{exported_exported_job="theirs",exported_instance="i",exported_job="taken",instance="10.0.0.1:9100",job="node",other="o"}',
  ]);
});

test('honor_labels: true keeps the series\' labels; the target fills in the rest', () => {
  const text = 'm{job="theirs",other="o"} 1\nn 2\n';
  const r = scraper({ honorLabels: true }).scrape(text, 'text', T);
  assert.deepEqual([...remoteWritten(batchOf(r)).samples.keys()].sort(), ['m{instance="10.0.0.1:9100",job="theirs",other="o"}', `n{${I}}`]);
  // Two jobs, two resources.
  assert.deepEqual(
    batchOf(r).resourceMetrics.map((rm) => rm.resource.attributes['service.name']),
    ['theirs', 'node'],
  );
});

test('metric_relabel_configs drop and rewrite series; the counts follow', () => {
  const text = 'keep_me{a="1"} 1\ndrop_me 2\nrename_me 3\n';
  const s = scraper({
    relabel: [
      { source_labels: ['__name__'], regex: 'drop_me', action: 'drop' },
      { source_labels: ['__name__'], regex: 'rename_(.*)', target_label: '__name__', replacement: 'renamed_$1' },
      { regex: 'a', action: 'labeldrop' },
    ],
  });
  const r = s.scrape(text, 'text', T);
  assert.equal(r.scraped, 3);
  assert.equal(r.postRelabel, 2);
  assert.deepEqual([...remoteWritten(batchOf(r)).samples.keys()].sort(), [`keep_me{${I}}`, `renamed_me{${I}}`]);
  // Cached: the second scrape drops the same way without relabeling again.
  const again = s.scrape(text, 'text', T + 1000);
  assert.equal(again.postRelabel, 2);
  assert.equal(again.seriesAdded, 0);
});

test('stale markers: a series that disappears, typed as it was, at the next scrape\'s time', () => {
  const s = scraper();
  const first = `# TYPE c counter
c_total 1
# TYPE g gauge
g 2
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 1
h_count 1
explicit 5 1699999990000
`;
  const r1 = s.scrape(first, 'text', T);
  assert.equal(r1.seriesAdded, 6);
  batchOf(r1);
  const second = s.scrape('g 3\n', 'text', T + 1000);
  assert.equal(second.seriesAdded, 0);
  const { samples, types } = remoteWritten(batchOf(second));
  const at = `@${T + 1000}`;
  assert.deepEqual(Object.fromEntries(samples), {
    [`g{${I}}`]: `3${at}`,
    [`c_total{${I}}`]: `stale${at}`,
    [`h_bucket{${I},le="1"}`]: `stale${at}`,
    [`h_bucket{${I},le="+Inf"}`]: `stale${at}`,
    [`h_count{${I}}`]: `stale${at}`,
    // `explicit` had its own timestamp: no stale marker, as in Prometheus.
  });
  assert.equal(types.get(`c_total{${I}}`), 'counter');
  assert.equal(types.get(`h_count{${I}}`), 'histogram');
  const stalePoints = metrics(batchOf(second)).flatMap((m) => m.points as { flags: number }[]).filter((p) => p.flags & DataPointFlags.NoRecordedValue);
  assert.equal(stalePoints.length, 4);
  // A series stale once and back again is new.
  assert.equal(s.scrape('g 3\nc_total 2\n', 'text', T + 2000).seriesAdded, 1);
});

test('a failed scrape marks every series of the last good one stale; end() adds the report series', () => {
  const s = scraper();
  const r = s.scrape('a 1\nb{x="y"} 2\n', 'text', T);
  s.report(batchOf(r), T, { up: true, durationSeconds: 0.5, scraped: 2, postRelabel: 2, seriesAdded: 2 });
  assert.deepEqual(Object.fromEntries(remoteWritten(batchOf(r)).samples), {
    [`a{${I}}`]: `1@${T}`,
    [`b{${I},x="y"}`]: `2@${T}`,
    [`up{${I}}`]: `1@${T}`,
    [`scrape_duration_seconds{${I}}`]: `0.5@${T}`,
    [`scrape_samples_scraped{${I}}`]: `2@${T}`,
    [`scrape_samples_post_metric_relabeling{${I}}`]: `2@${T}`,
    [`scrape_series_added{${I}}`]: `2@${T}`,
  });
  const failed = s.fail(T + 1000);
  s.report(failed, T + 1000, { up: false, durationSeconds: 0.01, scraped: 0, postRelabel: 0, seriesAdded: 0 });
  assert.deepEqual(Object.fromEntries(remoteWritten(failed).samples), {
    [`a{${I}}`]: `stale@${T + 1000}`,
    [`b{${I},x="y"}`]: `stale@${T + 1000}`,
    [`up{${I}}`]: `0@${T + 1000}`,
    [`scrape_duration_seconds{${I}}`]: `0.01@${T + 1000}`,
    [`scrape_samples_scraped{${I}}`]: `0@${T + 1000}`,
    [`scrape_samples_post_metric_relabeling{${I}}`]: `0@${T + 1000}`,
    [`scrape_series_added{${I}}`]: `0@${T + 1000}`,
  });
  // Nothing left to mark but the report series when the target goes away.
  const ended = s.end(T + 2000)!;
  assert.deepEqual(
    [...remoteWritten(ended).samples.values()],
    Array.from({ length: 5 }, () => `stale@${T + 2000}`),
  );
  assert.equal(s.end(T + 3000), undefined);
});

test('honor_timestamps: false stamps every sample with the scrape time', () => {
  const r = scraper({ honorTimestamps: false }).scrape('a 1 1600000000000\n', 'text', T);
  assert.equal(remoteWritten(batchOf(r)).samples.get(`a{${I}}`), `1@${T}`);
});

test('a series given twice in one scrape keeps its first sample', () => {
  const r = scraper().scrape('a{x="1"} 1\na{x="1"} 2\na{ x="1" } 3\n', 'text', T);
  assert.equal(r.duplicates, 2);
  assert.equal(r.postRelabel, 1);
  assert.equal(remoteWritten(batchOf(r)).samples.get(`a{${I},x="1"}`), `1@${T}`);
});

test('limits fail the scrape with Prometheus\'s messages', () => {
  assert.throws(() => scraper({ limits: { sampleLimit: 2 } }).scrape('a 1\nb 2\nc 3\n', 'text', T), (err: unknown) => {
    assert.ok(err instanceof ScrapeError);
    assert.equal(err.reason, 'sample_limit');
    assert.equal(err.message, 'sample_limit exceeded: 3 samples after metric relabeling, limit 2');
    return true;
  });
  // Relabeling happens first: two of three samples dropped is within a limit of 1.
  assert.equal(scraper({ limits: { sampleLimit: 1 }, relabel: [{ source_labels: ['__name__'], regex: '[bc]', action: 'drop' }] }).scrape('a 1\nb 2\nc 3\n', 'text', T).postRelabel, 1);
  assert.throws(() => scraper({ limits: { labelLimit: 4 } }).scrape('a{x="1"} 1\nb{x="1",y="2"} 1\n', 'text', T), {
    name: 'ScrapeError',
    message: 'label_limit exceeded (metric: b, number of labels: 5, limit: 4)',
  });
  // `__name__` counts too (8 characters).
  assert.equal(scraper({ limits: { labelNameLengthLimit: 8 } }).scrape('a{abcdefgh="1"} 1\n', 'text', T).postRelabel, 1);
  assert.throws(() => scraper({ limits: { labelNameLengthLimit: 8 } }).scrape('a{abcdefghi="1"} 1\n', 'text', T), {
    message: 'label_name_length_limit exceeded (metric: a, label name: abcdefghi, length: 9, limit: 8)',
  });
  assert.throws(() => scraper({ limits: { labelValueLengthLimit: 20 } }).scrape('a{x="abcdefghijklmnopqrstu"} 1\n', 'text', T), {
    message: 'label_value_length_limit exceeded (metric: a, label name: x, value: "abcdefghijklmnopqrstu", length: 21, limit: 20)',
  });
});

test('a series relabeled to no name fails the scrape naming the line', () => {
  const s = scraper({ relabel: [{ regex: '__name__', action: 'labeldrop' }] });
  assert.throws(() => s.scrape('ok 1\n', 'text', T), { name: 'ExpositionError', message: 'line 1: no metric name (__name__) after metric relabeling: "ok 1"' });
});

test('a scrape comes out in batches of a bounded size, stale markers and the report in the last', () => {
  const s = scraper();
  const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `g{i="${i + from}"} ${i}`).join('\n') + '\n';
  [...s.scrape(`# TYPE g gauge\n${lines(10)}`, 'text', T).batches(4)];
  const r = s.scrape(`# TYPE g gauge\n${lines(7, 3)}`, 'text', T + 1000);
  let reported: MetricsBatch | undefined;
  const batches = [...r.batches(4, (last) => {
    reported = last;
    s.report(last, T + 1000, { up: true, durationSeconds: 0, scraped: 7, postRelabel: 7, seriesAdded: 0 });
  })];
  const sizes = batches.map((b) => metrics(b).reduce((n, m) => n + m.points.length, 0));
  // 7 samples, then 3 stale markers, in batches of 4; the report's 5 series join what is left.
  assert.deepEqual(sizes, [4, 4, 2 + 5]);
  assert.equal(reported, batches.at(-1));
  const stale = (b: MetricsBatch) => [...remoteWritten(b).samples.values()].filter((v) => v.startsWith('stale')).length;
  assert.deepEqual(batches.map(stale), [0, 1, 2]);
  assert.throws(() => r.batches(4), { message: 'the batches of a scrape can be taken once' });
});
