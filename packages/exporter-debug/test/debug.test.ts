import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cloneBatch,
  ConfigError,
  createLogger,
  exponentialHistogramPoint,
  gauge,
  histogram,
  histogramPoint,
  MetricsRegistry,
  metricsBatch,
  numberPoint,
  sum,
  summary,
  summaryPoint,
  Temporality,
  validateAgainst,
  type LogLevel,
  type MetricsBatch,
  type RequestContext,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import debugExporter, { createDebugExporter, DebugConfigSchema } from '../src/index.ts';

const T = 1_700_000_000_123_456_789n;
const ctx: RequestContext = { transport: 'http', receiver: 'otlp', clusterId: 'eu-1' };

function capture(level: LogLevel = 'info') {
  const lines: string[] = [];
  const logger = createLogger({ level, format: 'json', write: (l) => lines.push(l) });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

function settings(raw: Record<string, unknown>, logger = capture().logger) {
  const { value, issues } = validateAgainst(DebugConfigSchema, raw, ['exporters', 'debug'], undefined);
  assert.deepEqual(issues, []);
  return { id: 'debug', config: value, logger, telemetry: new MetricsRegistry().scoped({ exporter: 'debug' }), pipelines: ['metrics'] };
}

/** Two resources, three metrics, five points. */
function sample(): MetricsBatch {
  return metricsBatch([
    {
      resource: { 'service.name': 'agent', 'host.id': 42n },
      scope: { name: 'fleet', version: '1.2.0' },
      metrics: [
        gauge('health.score', [numberPoint(0.75, { timeUnixNano: T, attributes: { node: 'a' } }), numberPoint(12n, { timeUnixNano: T })]),
        sum('requests', [numberPoint(9_007_199_254_740_993n, { timeUnixNano: T, startTimeUnixNano: T - 1_000_000_000n })], {
          temporality: Temporality.Delta,
          monotonic: true,
        }),
      ],
    },
    {
      resource: { 'service.name': 'node' },
      scope: 'prom',
      metrics: [
        histogram('latency', [
          histogramPoint({ explicitBounds: [0.1, 1], bucketCounts: [1, 2, 3], sum: 4.5, min: 0.01, max: Infinity }, { timeUnixNano: T }),
          histogramPoint({ explicitBounds: [0.1, 1], bucketCounts: [0, 0, 1], sum: NaN }, { timeUnixNano: T }),
        ]),
      ],
    },
  ]);
}

test('basic writes one line per batch with the counts and where the batch came from', async () => {
  const { logger, records } = capture();
  const exporter = createDebugExporter(settings({}, logger));
  await exporter.consume(sample(), ctx);
  const recs = records();
  assert.equal(recs.length, 1);
  const { time: _t, ...rest } = recs[0]!;
  assert.deepEqual(rest, {
    level: 'info',
    msg: 'metrics',
    transport: 'http',
    receiver: 'otlp',
    clusterId: 'eu-1',
    resourceMetrics: 2,
    metrics: 3,
    dataPoints: 5,
  });
});

test('normal adds one line per metric with its name, type and number of points', async () => {
  const { logger, records } = capture();
  const exporter = createDebugExporter(settings({ verbosity: 'normal' }, logger));
  await exporter.consume(sample(), ctx);
  const recs = records();
  assert.deepEqual(
    recs.map((r) => r.msg),
    ['metrics', 'metric', 'metric', 'metric'],
  );
  assert.deepEqual(
    recs.slice(1).map(({ time: _t, level: _l, ...r }) => r),
    [
      { msg: 'metric', resource: 0, scope: 'fleet', name: 'health.score', type: 'gauge', dataPoints: 2 },
      { msg: 'metric', resource: 0, scope: 'fleet', name: 'requests', type: 'sum', dataPoints: 1 },
      { msg: 'metric', resource: 1, scope: 'prom', name: 'latency', type: 'histogram', dataPoints: 2 },
    ],
  );
});

test('detailed writes every resource, scope, metric and data point, bigint- and NaN-safe', async () => {
  const { logger, lines, records } = capture();
  const exporter = createDebugExporter(settings({ verbosity: 'detailed' }, logger));
  await exporter.consume(sample(), ctx);
  for (const l of lines) assert.ok(!l.includes('\n'));
  const recs = records();
  assert.deepEqual(
    recs.map((r) => r.msg),
    ['metrics', 'resource', 'scope', 'metric', 'data point', 'data point', 'metric', 'data point', 'resource', 'scope', 'metric', 'data point', 'data point'],
  );
  const strip = ({ time: _t, level: _l, ...r }: Record<string, unknown>) => r;
  assert.deepEqual(strip(recs[1]!), { msg: 'resource', resource: 0, attributes: { 'service.name': 'agent', 'host.id': '42' } });
  assert.deepEqual(strip(recs[2]!), { msg: 'scope', resource: 0, scope: 'fleet', version: '1.2.0' });
  assert.deepEqual(strip(recs[6]!), {
    msg: 'metric',
    resource: 0,
    scope: 'fleet',
    name: 'requests',
    type: 'sum',
    dataPoints: 1,
    description: '',
    unit: '',
    temporality: 'delta',
    monotonic: true,
  });
  assert.deepEqual(strip(recs[4]!), {
    msg: 'data point',
    resource: 0,
    scope: 'fleet',
    metric: 'health.score',
    type: 'gauge',
    point: 0,
    attributes: { node: 'a' },
    startTimeUnixNano: '0',
    timeUnixNano: '1700000000123456789',
    timeIso: '2023-11-14T22:13:20.123Z',
    flags: 0,
    value: 0.75,
    valueType: 'double',
  });
  assert.equal(recs[5]!.value, '12');
  assert.equal(recs[5]!.valueType, 'int');
  // 2^53 + 1: exact only as a string.
  assert.equal(recs[7]!.value, '9007199254740993');
  assert.equal(recs[7]!.startTimeUnixNano, '1699999999123456789');
  assert.deepEqual(strip(recs[11]!), {
    msg: 'data point',
    resource: 1,
    scope: 'prom',
    metric: 'latency',
    type: 'histogram',
    point: 0,
    attributes: {},
    startTimeUnixNano: '0',
    timeUnixNano: '1700000000123456789',
    timeIso: '2023-11-14T22:13:20.123Z',
    flags: 0,
    count: 6,
    sum: 4.5,
    min: 0.01,
    max: '+Inf',
    explicitBounds: [0.1, 1],
    bucketCounts: [1, 2, 3],
  });
  assert.equal(recs[12]!.sum, 'NaN');
});

test('detailed shows exponential histograms, summaries, bytes and exemplars', async () => {
  const { logger, records } = capture();
  const exporter = createDebugExporter(settings({ verbosity: 'detailed' }, logger));
  const exp = exponentialHistogramPoint(
    { scale: 2, zeroCount: 1, positive: { offset: -1, bucketCounts: [2, 3] }, sum: 7.5, zeroThreshold: 0.001 },
    { timeUnixNano: T, attributes: { raw: new Uint8Array([1, 2, 255]), list: [1n, 'x'] } },
  );
  exp.exemplars.push({
    filteredAttributes: { user: 'u' },
    timeUnixNano: T,
    value: 3n,
    traceId: new Uint8Array([0xab, 0xcd]),
    spanId: new Uint8Array([0x01]),
  });
  const batch = metricsBatch([
    {
      metrics: [
        { type: 'exponential_histogram', name: 'sizes', description: 'd', unit: 'By', temporality: Temporality.Cumulative, points: [exp] },
        summary('rtt', [summaryPoint({ count: 3, sum: 0.6, quantiles: { 0.5: 0.2, 0.99: Infinity } }, { timeUnixNano: T })]),
      ],
    },
  ]);
  await exporter.consume(batch, { transport: 'grpc' });
  const points = records().filter((r) => r.msg === 'data point');
  assert.equal(points.length, 2);
  const e = points[0]!;
  assert.deepEqual(e.attributes, { raw: 'AQL/', list: ['1', 'x'] });
  assert.equal(e.count, 6);
  assert.equal(e.scale, 2);
  assert.equal(e.zeroCount, 1);
  assert.equal(e.zeroThreshold, 0.001);
  assert.deepEqual(e.positive, { offset: -1, bucketCounts: [2, 3] });
  assert.deepEqual(e.negative, { offset: 0, bucketCounts: [] });
  assert.deepEqual(e.exemplars, [
    { value: '3', timeUnixNano: '1700000000123456789', filteredAttributes: { user: 'u' }, traceId: 'abcd', spanId: '01' },
  ]);
  const s = points[1]!;
  assert.equal(s.count, 3);
  assert.equal(s.sum, 0.6);
  assert.deepEqual(s.quantileValues, [
    { quantile: 0.5, value: 0.2 },
    { quantile: 0.99, value: '+Inf' },
  ]);
});

test('never changes the batch and says so', async () => {
  for (const verbosity of ['basic', 'normal', 'detailed']) {
    const exporter = createDebugExporter(settings({ verbosity }));
    assert.equal(exporter.mutatesData, false);
    const batch = sample();
    const before = cloneBatch(batch);
    await exporter.consume(batch, ctx);
    assert.deepEqual(batch, before);
  }
});

test('writes nothing when the log level hides info', async () => {
  const { logger, lines } = capture('warn');
  const exporter = createDebugExporter(settings({ verbosity: 'detailed' }, logger));
  await exporter.consume(sample(), ctx);
  assert.deepEqual(lines, []);
});

test('output stdout writes there, with the exporter ID, and not to the service log', async () => {
  const { logger, lines: logLines } = capture();
  const out: string[] = [];
  const exporter = createDebugExporter(settings({ verbosity: 'normal', output: 'stdout' }, logger), {
    writeStdout: (l) => out.push(l),
    stdoutIsTTY: false,
  });
  await exporter.consume(sample(), ctx);
  assert.deepEqual(logLines, []);
  assert.equal(out.length, 4);
  const first = JSON.parse(out[0]!);
  assert.equal(first.msg, 'metrics');
  assert.equal(first.exporter, 'debug');
  assert.equal(first.dataPoints, 5);
});

test('in a running pipeline it logs what passes through the service logger', async () => {
  const { logger, records } = capture();
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = `
receivers: {source: {}}
exporters:
  debug: {verbosity: normal}
  sink: {}
service:
  pipelines:
    metrics: {receivers: [source], exporters: [debug, sink]}
`;
  const service = await startService(yaml, [source.factory, sink.factory, debugExporter], { logger });
  try {
    await source.consumers.get('source')!.consume(sample(), { transport: 'internal' });
    const mine = records().filter((r) => r.exporter === 'debug');
    assert.deepEqual(
      mine.map((r) => r.msg),
      ['metrics', 'metric', 'metric', 'metric'],
    );
    assert.equal(sink.received.length, 1);
  } finally {
    await service.shutdown();
  }
});

test('an unknown verbosity is a config error naming the allowed values', async () => {
  const yaml = `
receivers: {source: {}}
exporters:
  debug: {verbosity: loud}
service:
  pipelines:
    metrics: {receivers: [source], exporters: [debug]}
`;
  const source = sourceReceiver();
  await assert.rejects(startService(yaml, [source.factory, debugExporter]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    assert.equal(err.message, 'test.yaml:4:11: exporters::debug::verbosity: must be one of "basic", "normal", "detailed", got "loud"');
    return true;
  });
});
