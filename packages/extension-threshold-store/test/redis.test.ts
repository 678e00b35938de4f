/**
 * `backend: redis` against a real redis-server that the tests start (and kill, for outages).
 * Each store has its own Redis connection, as two replicas would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { MetricsRegistry } from '@skein/core';
import { requireTool } from '@skein/core/testing';
import { createClient } from 'redis';
import { createThresholdStore, madThreshold, type ThresholdParams, type ThresholdStoreExtension, type ThresholdView } from '../src/index.ts';
import { freePort, startRedisServer, type RedisServer } from '../src/testing.ts';
import { eventually, memoryStore, storeSettings } from './helpers.ts';

const PARAMS: ThresholdParams = { method: 'mad', k: 3, p: 5, statisticalMin: 10 };
const host = {} as never;

let server: RedisServer;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  await server?.stop();
});

let prefixes = 0;
const freshPrefix = () => `test:${process.pid}:${++prefixes}:`;

const started: ThresholdStoreExtension[] = [];
after(async () => {
  for (const s of started) await s.shutdown!();
});

async function redisStore(opts: { prefix: string; url?: string; registry?: MetricsRegistry; redis?: Record<string, unknown>; extra?: Record<string, unknown> }) {
  const raw = {
    backend: 'redis',
    // Refreshes are driven by the tests; the timer only has to stay out of the way.
    refresh_interval: '1h',
    ...opts.extra,
    redis: { url: opts.url ?? server.url, key_prefix: opts.prefix, timeout: '500ms', ...opts.redis },
  };
  const store = createThresholdStore(storeSettings(raw, { registry: opts.registry }));
  started.push(store);
  await store.start!(host);
  store.configure('threshold', PARAMS);
  return store;
}

/** A view without the time it was computed, which differs between replicas. */
const comparable = ({ computedAtMs: _t, ...rest }: ThresholdView) => rest;

async function rawClient() {
  const c = createClient({ url: server.url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

test('two replicas fed by a round-robin split of the agents return the same threshold and quorum', { timeout: 60_000 }, async () => {
  const prefix = freshPrefix();
  const a = await redisStore({ prefix });
  const b = await redisStore({ prefix });
  const whole = memoryStore();
  whole.configure('threshold', PARAMS);
  const replicas = [a, b];
  for (let i = 0; i < 40; i++) {
    // The slow half of the fleet all lands on replica a: alone, the replicas would disagree.
    const score = i % 2 === 0 ? 0.5 + i / 100 : 0.9 + i / 1000;
    for (const s of [replicas[i % 2]!, whole]) assert.equal(s.record('eu-1', `node-${i}`, score), 'accepted');
    replicas[i % 2]!.record('us-1', `node-${i}`, 0.8);
  }
  await whole.refresh();
  const expected = whole.get('eu-1');
  assert.equal(expected.threshold, madThreshold(Float64Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 0.5 + i / 100 : 0.9 + i / 1000)).sort(), 3));

  await eventually('both replicas hold all 40 agents', async () => {
    await a.refresh();
    await b.refresh();
    return a.get('eu-1').activeNodes === 40 && b.get('eu-1').activeNodes === 40;
  });
  assert.deepEqual(comparable(a.get('eu-1')), comparable(expected));
  assert.deepEqual(comparable(b.get('eu-1')), comparable(expected));
  assert.deepEqual(comparable(a.get('us-1')), comparable(b.get('us-1')));
  assert.equal(a.get('us-1').activeNodes, 40);
  assert.equal(a.get('eu-1').stale, false);
  assert.deepEqual(a.clusters(), ['eu-1', 'us-1']);
  assert.deepEqual(b.clusters(), ['eu-1', 'us-1']);
});

test('the score seen last wins, whatever order the replicas write in', { timeout: 30_000 }, async () => {
  const prefix = freshPrefix();
  const a = await redisStore({ prefix });
  const b = await redisStore({ prefix });
  const t = Date.now();
  a.record('c1', 'x', 0.25, t);
  await a.refresh();
  // b heard an older push from x, and writes it later.
  b.record('c1', 'x', 0.75, t - 1000);
  await b.refresh();
  await a.refresh();
  for (const s of [a, b]) assert.equal(s.get('c1').activeNodes, 1);
  const c = await rawClient();
  try {
    assert.equal(await c.hGet(`${prefix}c:c1:scores`, 'x'), `0.25 ${t}`);
  } finally {
    c.destroy();
  }
});

test('nodes past ttl are expired in Redis too, and their keys expire by themselves', { timeout: 30_000 }, async () => {
  const prefix = freshPrefix();
  const registry = new MetricsRegistry();
  const a = await redisStore({ prefix, registry, extra: { ttl: '30s' } });
  const now = Date.now();
  a.record('c1', 'fresh', 0.5, now);
  a.record('c1', 'old', 0.5, now - 31_000);
  a.record('c2', 'old', 0.5, now - 31_000);
  await a.refresh();
  await a.refresh();
  assert.deepEqual(a.clusters(), ['c1']);
  assert.equal(a.get('c1').activeNodes, 1);
  const c = await rawClient();
  try {
    assert.deepEqual(await c.hKeys(`${prefix}c:c1:scores`), ['fresh']);
    assert.deepEqual(await c.sMembers(`${prefix}clusters`), ['c1']);
    assert.equal(await c.exists(`${prefix}c:c2:scores`), 0);
    const ttl = await c.pTTL(`${prefix}c:c1:scores`);
    assert.ok(ttl > 0 && ttl <= 90_000, `key ttl ${ttl}`);
  } finally {
    c.destroy();
  }
});

test('after its first read of a cluster a replica reads only what changed since', { timeout: 30_000 }, async () => {
  const prefix = freshPrefix();
  const a = await redisStore({ prefix });
  const b = await redisStore({ prefix });
  for (let i = 0; i < 10; i++) a.record('c1', `n${i}`, i / 10);
  await a.refresh();
  await b.refresh();
  assert.equal(b.get('c1').activeNodes, 10);

  // A node put into Redis behind the scripts' back: no version of the cluster names it.
  const c = await rawClient();
  try {
    const now = Date.now();
    await c.hSet(`${prefix}c:c1:scores`, 'ghost', `0.5 ${now}`);
    await c.zAdd(`${prefix}c:c1:seen`, { score: now, value: 'ghost' });
  } finally {
    c.destroy();
  }
  a.record('c1', 'n0', 0.6);
  await a.refresh();
  await b.refresh();
  const whole = memoryStore();
  whole.configure('threshold', PARAMS);
  for (let i = 0; i < 10; i++) whole.record('c1', `n${i}`, i === 0 ? 0.6 : i / 10);
  assert.equal(b.get('c1').activeNodes, 10, 'b read the change, not the whole cluster');
  assert.equal(b.get('c1').threshold, whole.get('c1').threshold);

  // A replica that starts now reads the cluster whole.
  const fresh = await redisStore({ prefix });
  assert.equal(fresh.get('c1').activeNodes, 11);
});

test('key prefixes keep fleets apart', { timeout: 30_000 }, async () => {
  const a = await redisStore({ prefix: freshPrefix() });
  const b = await redisStore({ prefix: freshPrefix() });
  a.record('c1', 'a', 1);
  await a.refresh();
  await b.refresh();
  assert.equal(b.get('c1').activeNodes, 0);
  assert.equal(a.get('c1').activeNodes, 1);
});

test('a Redis outage: pushes still answered from the last known values, errors counted, state converges after', { timeout: 90_000 }, async () => {
  const prefix = freshPrefix();
  const registry = new MetricsRegistry();
  const a = await redisStore({ prefix, registry });
  const b = await redisStore({ prefix });
  for (let i = 0; i < 20; i++) [a, b][i % 2]!.record('c1', `node-${i}`, 0.6 + i / 50);
  await eventually('both replicas hold the 20 agents', async () => {
    await a.refresh();
    await b.refresh();
    return a.get('c1').activeNodes === 20 && b.get('c1').activeNodes === 20;
  });
  const known = a.get('c1');
  assert.equal(known.quorumMet, true);

  await server.kill();
  await eventually('the store notices', () => registry.value('skein_threshold_store_redis_up', { extension: 'threshold_store' }) === 0);

  // Pushes keep being taken and answered, with what the replica knew plus its own pushes.
  assert.equal(a.record('c1', 'node-0', 0.1), 'accepted');
  assert.equal(a.record('c1', 'node-20', 0.99), 'accepted');
  await assert.rejects(a.refresh());
  const during = a.get('c1');
  assert.equal(during.stale, true);
  assert.equal(during.quorumMet, true);
  assert.equal(during.activeNodes, 21);
  assert.ok(Number.isFinite(during.threshold) && during.threshold > 0);
  assert.ok(registry.sum('skein_threshold_store_errors_total') > 0, 'errors are counted');
  assert.ok(a.pendingWrites >= 2);
  assert.deepEqual(comparable(b.get('c1')), { ...comparable(known), stale: b.get('c1').stale }, 'b answers its last known values');

  // Redis comes back empty (no persistence); both replicas write back what they know.
  await server.restart();
  await eventually(
    'both replicas agree again',
    async () => {
      const ok = await Promise.all([a.refresh(), b.refresh()].map((p) => p.then(() => true, () => false)));
      if (!ok.every(Boolean)) return false;
      const [va, vb] = [a.get('c1'), b.get('c1')];
      return !va.stale && !vb.stale && va.activeNodes === 21 && vb.activeNodes === 21 && va.threshold === vb.threshold;
    },
    30_000,
  );
  const whole = memoryStore();
  whole.configure('threshold', PARAMS);
  for (let i = 0; i < 20; i++) whole.record('c1', `node-${i}`, 0.6 + i / 50);
  whole.record('c1', 'node-0', 0.1);
  whole.record('c1', 'node-20', 0.99);
  assert.equal(a.get('c1').threshold, whole.get('c1').threshold);
  assert.equal(a.pendingWrites, 0);
  assert.equal(registry.value('skein_threshold_store_redis_up', { extension: 'threshold_store' }), 1);
  assert.ok(registry.value('skein_threshold_store_last_sync_timestamp_seconds', { extension: 'threshold_store' })! > 0);
});

test('while Redis is down the write queue is bounded, dropping the oldest scores', { timeout: 60_000 }, async () => {
  const registry = new MetricsRegistry();
  const a = await redisStore({ prefix: freshPrefix(), registry, redis: { max_pending_writes: 5 } });
  await server.kill();
  try {
    await eventually('the store notices', () => !registry.value('skein_threshold_store_redis_up', { extension: 'threshold_store' }));
    for (let i = 0; i < 8; i++) assert.equal(a.record('c1', `node-${i}`, 0.5), 'accepted');
    a.record('c1', 'node-7', 0.6);
    assert.equal(a.pendingWrites, 5);
    assert.equal(registry.value('skein_threshold_store_dropped_writes_total', { extension: 'threshold_store' }), 3);
    assert.equal(a.get('c1').activeNodes, 8, 'dropped writes still count locally');
  } finally {
    await server.restart();
  }
});

test('a store whose Redis is not there at start still starts, and answers from local scores', { timeout: 30_000 }, async () => {
  const registry = new MetricsRegistry();
  const port = await freePort();
  const t0 = Date.now();
  const a = await redisStore({ prefix: freshPrefix(), url: `redis://127.0.0.1:${port}`, registry, redis: { timeout: '300ms' } });
  assert.ok(Date.now() - t0 < 10_000);
  assert.equal(a.record('c1', 'a', 0.5), 'accepted');
  const v = a.get('c1');
  assert.equal(v.stale, true);
  assert.equal(v.activeNodes, 1);
  await assert.rejects(a.refresh(), /redis is not connected/);
  await eventually('connection errors are counted', () => (registry.value('skein_threshold_store_errors_total', { extension: 'threshold_store', op: 'connect' }) ?? 0) > 0);
  await a.shutdown!();
  await a.shutdown!();
});

test('the self-metrics, Redis ones included, pass promtool check metrics', { timeout: 60_000 }, async () => {
  const registry = new MetricsRegistry();
  const a = await redisStore({ prefix: freshPrefix(), registry });
  for (let i = 0; i < 12; i++) a.record('c1', `node-${i}`, 0.5 + i / 100);
  a.record('c1', 'bad', NaN);
  await a.refresh();
  const text = registry.expose();
  for (const name of ['skein_fleet_threshold', 'skein_threshold_store_errors_total', 'skein_threshold_store_refresh_duration_seconds_bucket']) {
    assert.ok(text.includes(name), name);
  }
  const run = spawnSync(requireTool('promtool', 'prometheus'), ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.error, undefined);
  assert.equal((run.stdout + run.stderr).trim(), '');
  assert.equal(run.status, 0);
});
