import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  Factories,
  gauge,
  internalContext,
  loadWithPlugins,
  metricsBatch,
  numberPoint,
  Service,
  silentLogger,
  SkeinError,
  sum,
  type MetricsBatch,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import dropMetrics from '../src/index.ts';

const CONFIG = (processorConfig: string) => `
receivers: {source: {}}
processors:
  drop_metrics: ${processorConfig}
exporters: {sink: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [drop_metrics], exporters: [sink]}
`;

function batch(): MetricsBatch {
  return metricsBatch([
    { resource: { host: 'a' }, metrics: [gauge('noise', [numberPoint(1), numberPoint(2)]), gauge('cpu', [numberPoint(0.5)])] },
    { resource: { host: 'b' }, metrics: [sum('http_requests', [numberPoint(10n)]), sum('xhttp_requests', [numberPoint(3n)])] },
    { resource: { host: 'c' }, metrics: [gauge('http_errors', [numberPoint(0)])] },
  ]);
}

const names = (b: MetricsBatch) => b.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => m.name)));

test('drops listed names and whole-name pattern matches, counts the points, passes the rest on', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(CONFIG(`{names: [noise], patterns: ["http_.*"]}`), [source.factory, dropMetrics, sink.factory]);
  try {
    await source.consumers.get('source')!.consume(batch(), internalContext('source'));
    assert.equal(sink.received.length, 1);
    const out = sink.received[0]!.batch;
    assert.deepEqual(names(out), ['cpu', 'xhttp_requests']);
    // The resource left with no metrics is gone, not passed on empty.
    assert.deepEqual(out.resourceMetrics.map((rm) => rm.resource.attributes.host), ['a', 'b']);
    assert.equal(service.registry.value('skein_processor_drop_metrics_dropped_points_total', { processor: 'drop_metrics', reason: 'filtered' }), 4);
  } finally {
    await service.shutdown();
  }
});

test('a batch with nothing left is accepted and not passed on', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(CONFIG(`{patterns: [".*"]}`), [source.factory, dropMetrics, sink.factory]);
  try {
    await source.consumers.get('source')!.consume(batch(), internalContext('source'));
    assert.equal(sink.received.length, 0);
    assert.equal(service.registry.value('skein_processor_drop_metrics_dropped_points_total', { processor: 'drop_metrics' }), 6);
  } finally {
    await service.shutdown();
  }
});

test('an invalid pattern fails when the processor is created', async () => {
  await assert.rejects(startService(CONFIG(`{patterns: ["("]}`), [sourceReceiver().factory, dropMetrics, sinkExporter().factory]), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_COMPONENT_CREATE');
    assert.match(err.message, /^processors::drop_metrics: cannot create: patterns: "\(" is not a valid regular expression: /);
    return true;
  });
});

test('config mistakes are reported with their key by the schema', async () => {
  await assert.rejects(
    startService(CONFIG(`{name: [noise], patterns: [""]}`), [sourceReceiver().factory, dropMetrics, sinkExporter().factory]),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.message),
        [
          'test.yaml:4:18: processors::drop_metrics::name: unknown key; allowed keys: names, patterns',
          'test.yaml:4:44: processors::drop_metrics::patterns::0: must not be empty',
        ],
      );
      return true;
    },
  );
});

for (const how of ['path', 'package'] as const) {
  test(`loads through plugins: in a config, by ${how}`, async () => {
    const source = sourceReceiver();
    const sink = sinkExporter();
    const factories = new Factories([source.factory, sink.factory]);
    assert.equal(factories.get('processor', 'drop_metrics'), undefined);
    const file = fileURLToPath(new URL(`testdata/by-${how}.yaml`, import.meta.url));
    const loaded = await loadWithPlugins([file], factories);
    assert.equal(factories.get('processor', 'drop_metrics'), dropMetrics, 'the plugin registers the very factory this package exports');
    const service = await Service.create(loaded, { factories, logger: silentLogger });
    await service.start();
    try {
      await source.consumers.get('source')!.consume(batch(), internalContext('source'));
      assert.deepEqual(names(sink.received[0]!.batch), ['cpu', 'http_requests', 'xhttp_requests', 'http_errors']);
    } finally {
      await service.shutdown();
    }
  });
}
