import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, MetricsRegistry } from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import thresholdStoreExtension, {
  createThresholdStore,
  isThresholdStore,
  madThreshold,
  percentileOf,
  stddevThreshold,
  type ThresholdParams,
} from '../src/index.ts';
import { fakeClock, memoryStore, storeSettings } from './helpers.ts';

const MAD5: ThresholdParams = { method: 'mad', k: 3, p: 5, statisticalMin: 5 };
const sorted = (xs: number[]) => Float64Array.from(xs).sort();

test('an unknown cluster answers threshold 0, quorum not met, no nodes', () => {
  const store = memoryStore();
  assert.deepEqual(store.get('nowhere'), {
    clusterId: 'nowhere',
    threshold: 0,
    quorumMet: false,
    activeNodes: 0,
    statisticalMin: 10,
    method: 'mad',
    computedAtMs: 0,
    stale: false,
  });
  assert.deepEqual(store.clusters(), []);
  assert.ok(isThresholdStore(store));
  assert.ok(!isThresholdStore({ record() {} }));
});

test('quorum: statistical_min − 1 nodes give 0, the push that reaches statistical_min gets the threshold', () => {
  const clock = fakeClock();
  const store = memoryStore({}, { now: clock.now });
  store.configure('threshold', MAD5);
  const scores = [0.9, 0.8, 0.85, 0.95];
  scores.forEach((s, i) => assert.equal(store.record('c1', `n${i}`, s), 'accepted'));
  const below = store.get('c1');
  assert.equal(below.activeNodes, 4);
  assert.equal(below.quorumMet, false);
  assert.equal(below.threshold, 0);

  store.record('c1', 'n4', 0.7);
  const reached = store.get('c1');
  assert.equal(reached.activeNodes, 5);
  assert.equal(reached.quorumMet, true);
  assert.equal(reached.threshold, madThreshold(sorted([...scores, 0.7]), 3));
  assert.equal(reached.computedAtMs, clock.now());
  assert.ok(Object.isFrozen(reached));
});

test('a push is answered with its node counted; the threshold follows at the next refresh', async () => {
  const store = memoryStore();
  store.configure('threshold', { method: 'percentile', k: 3, p: 50, statisticalMin: 3 });
  for (const [n, s] of [['a', 1], ['b', 2], ['c', 3]] as const) store.record('c1', n, s);
  assert.equal(store.get('c1').threshold, 2);

  store.record('c1', 'd', 4);
  const pushed = store.get('c1');
  assert.equal(pushed.activeNodes, 4, 'the new node counts at once');
  assert.equal(pushed.threshold, 2, 'the threshold is the one last computed');
  assert.equal(store.get('c1'), pushed, 'an unchanged cluster answers the same object');

  await store.refresh();
  assert.equal(store.get('c1').threshold, 2.5);
  await store.shutdown();
});

test('a silent node expires after ttl (fake clock), and the quorum goes with it', async () => {
  const registry = new MetricsRegistry();
  const clock = fakeClock();
  const store = memoryStore({ ttl: '30s' }, { now: clock.now, registry });
  store.configure('threshold', { ...MAD5, statisticalMin: 3 });
  store.record('c1', 'a', 0.9);
  store.record('c1', 'b', 0.8);
  clock.advance(10_000);
  store.record('c1', 'c', 0.7);
  assert.equal(store.get('c1').quorumMet, true);

  clock.advance(19_999);
  await store.refresh();
  assert.equal(store.get('c1').activeNodes, 3, 'a and b were seen 29.999 s ago');

  clock.advance(1);
  await store.refresh();
  const after = store.get('c1');
  assert.equal(after.activeNodes, 1);
  assert.equal(after.quorumMet, false);
  assert.equal(after.threshold, 0);
  assert.equal(registry.value('skein_threshold_store_expired_nodes_total'), 2);

  // A node that pushes again is active again.
  store.record('c1', 'a', 0.9);
  assert.equal(store.get('c1').activeNodes, 2);

  clock.advance(30_000);
  await store.refresh();
  assert.deepEqual(store.clusters(), [], 'a cluster left without nodes is forgotten');
  assert.equal(store.get('c1').activeNodes, 0);
});

test('nodes expiring anywhere in a large cluster leave every other node with its own score', async () => {
  const clock = fakeClock();
  const store = memoryStore({ ttl: '30s' }, { now: clock.now });
  store.configure('threshold', { method: 'stddev', k: 2, p: 5, statisticalMin: 3 });
  // 1,000 nodes with distinct scores; every third one pushes 20 s later than the others.
  const scores = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    if (i % 3 === 0) continue;
    scores.set(`n${i}`, i / 1000);
    store.record('c1', `n${i}`, i / 1000);
  }
  clock.advance(20_000);
  for (let i = 0; i < 1000; i += 3) {
    scores.set(`n${i}`, i / 1000);
    store.record('c1', `n${i}`, i / 1000);
  }
  const expect = (what: string) => {
    const view = store.get('c1');
    assert.equal(view.activeNodes, scores.size, what);
    assert.equal(view.threshold, stddevThreshold(sorted([...scores.values()]), 2), what);
  };
  await store.refresh();
  expect('all 1,000 nodes');

  clock.advance(10_000);
  await store.refresh();
  for (const node of [...scores.keys()]) if (Number(node.slice(1)) % 3 !== 0) scores.delete(node);
  expect('the 334 nodes that pushed later');

  // Survivors still update their own score, and a node that expired comes back as new.
  for (const node of ['n0', 'n999', 'n501']) {
    scores.set(node, 2);
    store.record('c1', node, 2);
  }
  scores.set('n1', 0.5);
  store.record('c1', 'n1', 0.5);
  await store.refresh();
  expect('after pushes to survivors and a returning node');
});

test('NaN, infinite scores and empty IDs are refused, counted, and leave the threshold as it was', async () => {
  const registry = new MetricsRegistry();
  const store = memoryStore({}, { registry });
  store.configure('threshold', { method: 'stddev', k: 1, p: 5, statisticalMin: 3 });
  for (const [n, s] of [['a', 1], ['b', 2], ['c', 3]] as const) store.record('c1', n, s);
  const before = store.get('c1');

  assert.equal(store.record('c1', 'd', NaN), 'invalid_score');
  assert.equal(store.record('c1', 'a', Infinity), 'invalid_score');
  assert.equal(store.record('c1', 'e', -Infinity), 'invalid_score');
  assert.equal(store.record('', 'f', 1), 'invalid_id');
  assert.equal(store.record('c1', '', 1), 'invalid_id');
  await store.refresh();

  const after = store.get('c1');
  assert.equal(after.threshold, before.threshold);
  assert.ok(Number.isFinite(after.threshold));
  assert.equal(after.activeNodes, 3);
  assert.equal(registry.value('skein_threshold_store_refused_total', { reason: 'invalid_score' }), 3);
  assert.equal(registry.value('skein_threshold_store_refused_total', { reason: 'invalid_id' }), 2);
});

test('caps on clusters and on nodes per cluster refuse only what is new, and count it', () => {
  const registry = new MetricsRegistry();
  const store = memoryStore({ max_clusters: 2, max_nodes_per_cluster: 3 }, { registry });
  assert.equal(store.record('c1', 'a', 1), 'accepted');
  assert.equal(store.record('c2', 'a', 1), 'accepted');
  assert.equal(store.record('c3', 'a', 1), 'cap_clusters');
  assert.equal(store.record('c1', 'b', 1), 'accepted');
  assert.equal(store.record('c1', 'c', 1), 'accepted');
  assert.equal(store.record('c1', 'd', 1), 'cap_nodes');
  assert.equal(store.record('c1', 'a', 2), 'accepted', 'a known node still updates at the cap');
  assert.deepEqual(store.clusters(), ['c1', 'c2']);
  assert.equal(store.get('c1').activeNodes, 3);
  assert.equal(store.get('c3').activeNodes, 0);
  assert.equal(registry.value('skein_threshold_store_refused_total', { reason: 'cap_clusters' }), 1);
  assert.equal(registry.value('skein_threshold_store_refused_total', { reason: 'cap_nodes' }), 1);
});

test('max_nodes caps the nodes of all clusters together; nodes that expire make room again', async () => {
  const registry = new MetricsRegistry();
  let now = 1_000_000;
  const store = memoryStore({ max_nodes: 3, ttl: '10s' }, { registry, now: () => now });
  assert.equal(store.record('c1', 'a', 1), 'accepted');
  assert.equal(store.record('c1', 'b', 1), 'accepted');
  assert.equal(store.record('c2', 'a', 1), 'accepted');
  assert.equal(store.record('c2', 'b', 1), 'cap_total_nodes', 'a new node of a known cluster');
  assert.equal(store.record('c3', 'a', 1), 'cap_total_nodes', 'a node of a new cluster');
  assert.equal(store.record('c1', 'a', 2), 'accepted', 'a known node still updates at the cap');
  assert.deepEqual(store.clusters(), ['c1', 'c2']);
  assert.equal(registry.value('skein_threshold_store_refused_total', { reason: 'cap_total_nodes' }), 2);
  now += 5_000;
  store.record('c1', 'a', 3);
  now += 6_000; // c1/b and c2/a are 11 s old now, c1/a 6 s
  await store.refresh();
  assert.equal(registry.value('skein_threshold_store_expired_nodes_total'), 2);
  assert.equal(store.record('c3', 'a', 1), 'accepted');
  assert.equal(store.record('c3', 'b', 1), 'accepted');
  assert.equal(store.record('c3', 'c', 1), 'cap_total_nodes');
});

test('an ID longer than 256 characters is refused as invalid_id', () => {
  const store = memoryStore();
  assert.equal(store.record('c1', 'n'.repeat(256), 1), 'accepted');
  assert.equal(store.record('c1', 'n'.repeat(257), 1), 'invalid_id');
  assert.equal(store.record('c'.repeat(257), 'a', 1), 'invalid_id');
  assert.deepEqual(store.clusters(), ['c1']);
});

test('thresholds do not depend on the order scores arrived in', async () => {
  const scores = Array.from({ length: 101 }, (_, i) => Math.sin(i) * 0.3 + 0.6);
  const views = [];
  for (const order of [scores, [...scores].reverse(), [...scores].sort()]) {
    const store = memoryStore();
    store.configure('threshold', { method: 'stddev', k: 3, p: 5, statisticalMin: 10 });
    order.forEach((s) => store.record('c1', `node-${scores.indexOf(s)}`, s));
    await store.refresh();
    views.push(store.get('c1').threshold);
  }
  assert.equal(new Set(views).size, 1);
});

test('configure: the same settings twice are fine, different ones are refused with both named', () => {
  const store = memoryStore();
  store.configure('threshold', MAD5);
  store.configure('threshold', { ...MAD5 });
  store.configure('threshold/other', { ...MAD5 });
  assert.throws(
    () => store.configure('threshold/b', { method: 'percentile', k: 3, p: 10, statisticalMin: 5 }),
    {
      message:
        'extension "threshold_store": threshold settings (method percentile, p 10, statistical_min 5) differ from those processor "threshold" set on the same store (method mad, k 3, statistical_min 5); thresholds must be computed one way for every reader',
    },
  );
  assert.deepEqual(store.params(), MAD5);
});

test('configure recomputes thresholds already served', () => {
  const store = memoryStore();
  for (const [n, s] of Object.entries({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10 })) store.record('c1', n, s);
  assert.equal(store.get('c1').method, 'mad');
  store.configure('threshold', { method: 'percentile', k: 3, p: 50, statisticalMin: 10 });
  const v = store.get('c1');
  assert.equal(v.method, 'percentile');
  assert.equal(v.threshold, percentileOf(sorted([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 50));
});

test('fleet gauges per cluster, removed when the cluster expires', async () => {
  const registry = new MetricsRegistry();
  const clock = fakeClock();
  const store = memoryStore({ ttl: '10s' }, { now: clock.now, registry });
  store.configure('threshold', { method: 'percentile', k: 3, p: 50, statisticalMin: 2 });
  store.record('eu-1', 'a', 0.5);
  store.record('eu-1', 'b', 0.7);
  store.record('us-1', 'a', 0.9);
  const text = registry.expose();
  assert.match(text, /^skein_fleet_active_nodes\{extension="threshold_store",cluster_id="eu-1"\} 2$/m);
  assert.match(text, /^skein_fleet_quorum_met\{extension="threshold_store",cluster_id="eu-1"\} 1$/m);
  assert.match(text, /^skein_fleet_threshold\{extension="threshold_store",cluster_id="eu-1"\} 0\.6$/m);
  assert.match(text, /^skein_fleet_quorum_met\{extension="threshold_store",cluster_id="us-1"\} 0$/m);
  assert.match(text, /^skein_fleet_threshold\{extension="threshold_store",cluster_id="us-1"\} 0$/m);
  assert.match(text, /^skein_threshold_store_nodes\{extension="threshold_store"\} 3$/m);

  clock.advance(5_000);
  store.record('us-1', 'a', 0.9);
  clock.advance(5_000);
  await store.refresh();
  const later = registry.expose();
  assert.doesNotMatch(later, /cluster_id="eu-1"/);
  assert.match(later, /^skein_fleet_active_nodes\{extension="threshold_store",cluster_id="us-1"\} 1$/m);

  // The registry outlives a reload: a store that shut down leaves no fleet series behind.
  await store.shutdown();
  assert.doesNotMatch(registry.expose(), /cluster_id=/);
});

test('config rules the schema cannot state are reported with their paths', () => {
  const problems = (raw: Record<string, unknown>) => thresholdStoreExtension.validate!(storeSettings(raw).config);
  assert.deepEqual(problems({ backend: 'redis' }), [
    { path: ['redis'], message: 'is required with backend redis: give at least redis: {url: redis://host:6379}' },
  ]);
  assert.deepEqual(problems({ redis: { url: 'redis://h:1' } }), [
    { path: ['redis'], message: 'applies only to backend redis; remove it or set backend: redis' },
  ]);
  assert.deepEqual(problems({ backend: 'redis', redis: { url: 'http://h:1', timeout: '0s' }, ttl: '0s' }), [
    { path: ['redis', 'url'], message: 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379, got "http://h:1"' },
    { path: ['ttl'], message: 'must be more than 0s, got "0s"' },
    { path: ['redis', 'timeout'], message: 'must be more than 0s, got "0s"' },
  ]);
  assert.deepEqual(problems({}), []);
  assert.throws(() => createThresholdStore(storeSettings({ refresh_interval: '0ms' })), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, 'extensions::threshold_store::refresh_interval: must be more than 0s, got "0ms"');
    return true;
  });
});

test('in a service config, a broken rule is an error with its position', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = `
extensions:
  threshold_store: {backend: redis}
receivers: {source: {}}
exporters: {sink: {}}
service:
  extensions: [threshold_store]
  pipelines:
    metrics: {receivers: [source], exporters: [sink]}
`;
  await assert.rejects(startService(yaml, [source.factory, sink.factory, thresholdStoreExtension]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.issues.map((i) => i.message),
      ['test.yaml:3:3: extensions::threshold_store::redis: is required with backend redis: give at least redis: {url: redis://host:6379}'],
    );
    return true;
  });
});

test('shutdown is safe without start and safe twice; timers do not hold the process', async () => {
  const idle = memoryStore();
  await idle.shutdown!();
  await idle.shutdown!();
  const started = memoryStore({ refresh_interval: '10ms', ttl: '20ms' });
  await started.start!({} as never);
  started.record('c1', 'a', 1);
  await started.shutdown!();
  await started.shutdown!();
});

test('memory backend: two replicas that each see half the agents disagree', async () => {
  const params: ThresholdParams = { method: 'mad', k: 3, p: 5, statisticalMin: 10 };
  const replicas = [memoryStore(), memoryStore()];
  const whole = memoryStore();
  for (const s of [...replicas, whole]) s.configure('threshold', params);
  // 30 agents, round-robin between the replicas; the slow ones all land on replica 0.
  for (let i = 0; i < 30; i++) {
    const score = i % 2 === 0 ? 0.5 + i / 100 : 0.9 + i / 1000;
    replicas[i % 2]!.record('c1', `node-${i}`, score);
    whole.record('c1', `node-${i}`, score);
  }
  for (const s of [...replicas, whole]) await s.refresh();
  const [a, b] = replicas.map((s) => s.get('c1'));
  const all = whole.get('c1');
  assert.equal(a!.activeNodes, 15);
  assert.equal(b!.activeNodes, 15);
  assert.equal(all.activeNodes, 30);
  assert.notEqual(a!.threshold, b!.threshold);
  assert.notEqual(a!.threshold, all.threshold);
  assert.notEqual(b!.threshold, all.threshold);

  // With a quorum of 20, neither half has one, though the cluster does.
  const strict = { ...params, statisticalMin: 20 };
  const halves = [memoryStore(), memoryStore()];
  for (const s of halves) s.configure('threshold', strict);
  for (let i = 0; i < 30; i++) halves[i % 2]!.record('c1', `node-${i}`, 0.9);
  assert.deepEqual(
    halves.map((s) => s.get('c1').quorumMet),
    [false, false],
  );
});
