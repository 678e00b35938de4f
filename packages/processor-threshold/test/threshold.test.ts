import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cloneBatch,
  ConfigError,
  DataPointFlags,
  gauge,
  metricsBatch,
  MetricsRegistry,
  numberPoint,
  SkeinError,
  silentLogger,
  sum,
  validateAgainst,
  type Consumer,
  type Extension,
  type Host,
  type MetricsBatch,
  type RequestContext,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import thresholdStoreExtension, { createThresholdStore, madThreshold, ThresholdStoreConfigSchema, type ThresholdStoreExtension } from '@skein/extension-threshold-store';
import thresholdProcessor, { createThresholdProcessor, ThresholdConfigSchema } from '../src/index.ts';

function storeOf(raw: Record<string, unknown> = {}, registry = new MetricsRegistry()): ThresholdStoreExtension {
  const { value, issues } = validateAgainst(ThresholdStoreConfigSchema, raw, ['extensions', 'threshold_store'], undefined);
  assert.deepEqual(issues, []);
  return createThresholdStore({ id: 'threshold_store', config: value, logger: silentLogger, telemetry: registry.scoped({ extension: 'threshold_store' }), pipelines: [] });
}

function hostWith(extensions: Record<string, Extension>): Host {
  return {
    getStatus: () => 'running',
    getExtension: <T>(id: string) => {
      if (!(id in extensions)) throw new SkeinError('SKEIN_ERR_EXTENSION_NOT_FOUND', `extension "${id}" is not enabled`);
      return extensions[id] as T;
    },
    extensions: () => new Map(Object.entries(extensions)),
  };
}

/** A downstream that records what reaches it. */
function downstream() {
  const calls: { batch: MetricsBatch; ctx: RequestContext }[] = [];
  const next: Consumer = {
    async consume(batch, ctx) {
      calls.push({ batch, ctx });
    },
  };
  return { next, calls };
}

async function processorWith(raw: Record<string, unknown>, opts: { store?: ThresholdStoreExtension; registry?: MetricsRegistry } = {}) {
  const registry = opts.registry ?? new MetricsRegistry();
  const store = opts.store ?? storeOf({}, registry);
  const { value, issues } = validateAgainst(ThresholdConfigSchema, { store: 'threshold_store', ...raw }, ['processors', 'threshold'], undefined);
  assert.deepEqual(issues, []);
  const d = downstream();
  const processor = createThresholdProcessor(
    { id: 'threshold', config: value, logger: silentLogger, telemetry: registry.scoped({ processor: 'threshold', pipeline: 'metrics/fleet' }), pipelines: ['metrics/fleet'] },
    d.next,
  );
  await processor.start!(hostWith({ threshold_store: store }));
  return { processor, store, registry, calls: d.calls };
}

/** What one agent pushes: a resource with its host name (and cluster, unless left out), one score. */
function push(node: string | undefined, score: number | bigint, opts: { cluster?: string; metric?: string; flags?: number } = {}): MetricsBatch {
  const resource: Record<string, string> = {};
  if (node !== undefined) resource['host.name'] = node;
  if (opts.cluster !== undefined) resource.cluster_id = opts.cluster;
  return metricsBatch([{ resource, scope: 'agent', metrics: [gauge(opts.metric ?? 'health.score', [numberPoint(score, { flags: opts.flags })])] }]);
}

const ctx: RequestContext = { transport: 'http' };
const refused = (registry: MetricsRegistry, reason: string) => registry.value('skein_threshold_refused_scores_total', { reason });

test('passes every batch on unchanged: the same object, deep-equal to what came in', async () => {
  const { processor, calls } = await processorWith({ statistical_min: 1 });
  const batch = metricsBatch([
    { resource: { 'host.name': 'n1', cluster_id: 'c1' }, metrics: [gauge('health.score', [numberPoint(0.9)]), sum('requests', [numberPoint(5n)])] },
    { resource: { 'service.name': 'other' }, metrics: [gauge('cpu', [numberPoint(0.3)])] },
  ]);
  const before = cloneBatch(batch);
  const requestCtx: RequestContext = { transport: 'grpc', clusterId: 'c9' };
  await processor.consume(batch, requestCtx);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.batch, batch);
  assert.equal(calls[0]!.ctx, requestCtx);
  assert.deepEqual(batch, before);
  assert.equal(processor.mutatesData, false);
});

test('folds the score of each node into its cluster, which a resource attribute names', async () => {
  const { processor, store, registry } = await processorWith({ statistical_min: 3 });
  const scores = [0.91, 0.87, 0.95];
  for (const [i, s] of scores.entries()) await processor.consume(push(`n${i}`, s, { cluster: 'eu-1' }), ctx);
  const v = store.get('eu-1');
  assert.equal(v.activeNodes, 3);
  assert.equal(v.quorumMet, true);
  assert.equal(v.threshold, madThreshold(Float64Array.from(scores).sort(), 3));
  assert.equal(registry.value('skein_threshold_accepted_scores_total'), 3);
});

test('the cluster falls back to the request cluster_id; the resource attribute wins over it', async () => {
  const { processor, store } = await processorWith({ statistical_min: 1 });
  await processor.consume(push('n1', 0.5), { transport: 'http', clusterId: 'from-query' });
  await processor.consume(push('n2', 0.5, { cluster: 'from-resource' }), { transport: 'http', clusterId: 'from-query' });
  assert.deepEqual(store.clusters(), ['from-query', 'from-resource']);
  assert.equal(store.get('from-query').activeNodes, 1);
  assert.equal(store.get('from-resource').activeNodes, 1);
});

test('node_key, cluster_key and score_metric are configurable; integers are read as numbers', async () => {
  const { processor, store } = await processorWith({ statistical_min: 1, node_key: 'node', cluster_key: 'dc', score_metric: 'fleet.health', method: 'percentile', p: 50 });
  const batch = metricsBatch([{ resource: { node: 42n, dc: 'west' }, metrics: [gauge('fleet.health', [numberPoint(7n)]), gauge('health.score', [numberPoint(0.1)])] }]);
  await processor.consume(batch, ctx);
  const v = store.get('west');
  assert.equal(v.activeNodes, 1);
  assert.equal(v.threshold, 7);
});

test('NaN, infinite, unidentified and non-gauge scores are refused by reason, and never poison the map', async () => {
  const { processor, store, registry, calls } = await processorWith({ statistical_min: 2, method: 'stddev', k: 1 });
  await processor.consume(push('a', 0.8, { cluster: 'c1' }), ctx);
  await processor.consume(push('b', 0.6, { cluster: 'c1' }), ctx);
  const before = store.get('c1');
  assert.ok(Math.abs(before.threshold - 0.6) < 1e-12);

  await processor.consume(push('a', NaN, { cluster: 'c1' }), ctx);
  await processor.consume(push('b', Infinity, { cluster: 'c1' }), ctx);
  await processor.consume(push('c', -Infinity, { cluster: 'c1' }), ctx);
  await processor.consume(push(undefined, 0.1, { cluster: 'c1' }), ctx);
  await processor.consume(push('d', 0.1), ctx);
  await processor.consume(push('a', 0.1, { cluster: 'c1', flags: DataPointFlags.NoRecordedValue }), ctx);
  await processor.consume(
    metricsBatch([{ resource: { 'host.name': 'a', cluster_id: 'c1' }, metrics: [sum('health.score', [numberPoint(0.1), numberPoint(0.2)])] }]),
    ctx,
  );
  await store.refresh();

  assert.equal(refused(registry, 'nan'), 1);
  assert.equal(refused(registry, 'infinite'), 2);
  assert.equal(refused(registry, 'missing_node'), 1);
  assert.equal(refused(registry, 'missing_cluster'), 1);
  assert.equal(refused(registry, 'no_recorded_value'), 1);
  assert.equal(refused(registry, 'not_gauge'), 2);
  assert.equal(refused(registry, 'cap_nodes'), 0);
  assert.deepEqual(store.clusters(), ['c1']);
  assert.deepEqual(store.get('c1'), before, 'the threshold is what it was');
  assert.equal(calls.length, 9, 'every batch still passed on');
});

test('scores the store caps refuse are counted by the processor under the cap', async () => {
  const registry = new MetricsRegistry();
  const store = storeOf({ max_clusters: 1, max_nodes_per_cluster: 2 }, registry);
  const { processor } = await processorWith({ statistical_min: 1 }, { store, registry });
  for (const n of ['a', 'b', 'c']) await processor.consume(push(n, 0.5, { cluster: 'c1' }), ctx);
  await processor.consume(push('a', 0.5, { cluster: 'c2' }), ctx);
  assert.equal(refused(registry, 'cap_nodes'), 1);
  assert.equal(refused(registry, 'cap_clusters'), 1);
  assert.equal(registry.value('skein_threshold_store_refused_total', { reason: 'cap_nodes' }), 1);
});

test('the store-wide max_nodes cap and over-long IDs are counted under their own reasons', async () => {
  const registry = new MetricsRegistry();
  const store = storeOf({ max_nodes: 2 }, registry);
  const { processor } = await processorWith({ statistical_min: 1 }, { store, registry });
  await processor.consume(push('a', 0.5, { cluster: 'c1' }), ctx);
  await processor.consume(push('b', 0.5, { cluster: 'c2' }), ctx);
  await processor.consume(push('c', 0.5, { cluster: 'c3' }), ctx);
  await processor.consume(push('x'.repeat(300), 0.5, { cluster: 'c1' }), ctx);
  assert.equal(refused(registry, 'cap_total_nodes'), 1);
  assert.equal(refused(registry, 'id_too_long'), 1);
  assert.equal(refused(registry, 'missing_node'), 0);
  assert.deepEqual(store.clusters(), ['c1', 'c2']);
});

test('a downstream refusal reaches the sender, and the scores were folded all the same', async () => {
  const store = storeOf();
  const { value } = validateAgainst(ThresholdConfigSchema, { store: 'threshold_store', statistical_min: 1 }, ['processors', 'threshold'], undefined);
  const failing: Consumer = {
    async consume() {
      throw new Error('exporter down');
    },
  };
  const p = createThresholdProcessor({ id: 'threshold', config: value, logger: silentLogger, telemetry: new MetricsRegistry().scoped({}), pipelines: [] }, failing);
  await p.start!(hostWith({ threshold_store: store }));
  await assert.rejects(p.consume(push('a', 0.5, { cluster: 'c1' }), ctx), /exporter down/);
  assert.equal(store.get('c1').activeNodes, 1);
});

const PIPELINE = (processors: string, extensions = 'threshold_store: {}', enabled = '[threshold_store]') => `
extensions:
  ${extensions}
receivers: {source: {}}
processors:
  ${processors}
exporters: {sink: {}}
service:
  extensions: ${enabled}
  pipelines:
    metrics/fleet: {receivers: [source], processors: [${processors.includes('threshold/b') ? 'threshold, threshold/b' : 'threshold'}], exporters: [sink]}
`;

test('in a service: scores reach the store the processor names, data reaches the exporter', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(PIPELINE('threshold: {store: threshold_store, statistical_min: 2, method: percentile, p: 50}'), [
    source.factory,
    sink.factory,
    thresholdStoreExtension,
    thresholdProcessor,
  ]);
  try {
    const entry = source.consumers.get('source')!;
    await entry.consume(push('a', 0.2), { transport: 'http', clusterId: 'c1' });
    await entry.consume(push('b', 0.4), { transport: 'http', clusterId: 'c1' });
    const store = service.getExtension<ThresholdStoreExtension>('threshold_store');
    assert.deepEqual({ ...store.get('c1'), computedAtMs: 0 }, {
      clusterId: 'c1',
      threshold: 0.30000000000000004,
      quorumMet: true,
      activeNodes: 2,
      statisticalMin: 2,
      method: 'percentile',
      computedAtMs: 0,
      stale: false,
    });
    assert.equal(sink.received.length, 2);
    const text = service.registry.expose();
    assert.match(text, /^skein_fleet_active_nodes\{extension="threshold_store",cluster_id="c1"\} 2$/m);
    assert.match(text, /^skein_threshold_accepted_scores_total\{processor="threshold",pipeline="metrics\/fleet"\} 2$/m);
  } finally {
    await service.shutdown();
  }
});

test('two processors that compute differently cannot share a store', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = PIPELINE('threshold: {store: threshold_store}\n  threshold/b: {store: threshold_store, method: stddev}');
  await assert.rejects(startService(yaml, [source.factory, sink.factory, thresholdStoreExtension, thresholdProcessor]), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_COMPONENT_START');
    // threshold/b feeds the exporter, so it starts (and configures the store) first.
    assert.equal(
      err.message,
      'processors::threshold: failed to start: extension "threshold_store": threshold settings (method mad, k 3, statistical_min 10) differ from those processor "threshold/b" set on the same store (method stddev, k 3, statistical_min 10); thresholds must be computed one way for every reader',
    );
    return true;
  });
});

test('a store that is not enabled, or is not a threshold store, is a start error', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const factories = [source.factory, sink.factory, thresholdStoreExtension, thresholdProcessor];
  await assert.rejects(startService(PIPELINE('threshold: {store: threshold_store}', 'threshold_store: {}', '[]'), factories), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.match(err.message, /^processors::threshold: failed to start: extension "threshold_store" is not enabled/);
    return true;
  });
  const other = { ...sink.factory, kind: 'extension' as const, type: 'other', create: () => ({}) };
  await assert.rejects(startService(PIPELINE('threshold: {store: other}', 'other: {}', '[other]'), [...factories, other]), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.message, 'processors::threshold: failed to start: processors::threshold::store: extension "other" is not a threshold store');
    return true;
  });
});

test('p and k must fit the method; the errors carry their positions', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = PIPELINE('threshold: {store: threshold_store, method: percentile, k: 2}\n  threshold/b: {store: threshold_store, p: 10}');
  await assert.rejects(startService(yaml, [source.factory, sink.factory, thresholdStoreExtension, thresholdProcessor]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.issues.map((i) => i.message),
      [
        'test.yaml:6:59: processors::threshold::k: applies only to methods stddev and mad, got method percentile; remove k or use p',
        'test.yaml:7:41: processors::threshold/b::p: applies only to method percentile, got method mad; remove p or use k',
      ],
    );
    return true;
  });
});
