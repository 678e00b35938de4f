/**
 * Fleet thresholds: does the cost of a push grow with the size of its cluster?
 *
 *   (a) one push through the threshold processor (`consume` of a 1-point `health.score`
 *       batch, then the store's `get`, as the threshold_headers middleware would), timed
 *       call by call, into clusters of 100, 10,000 and 100,000 nodes, memory and Redis
 *       backends;
 *   (b) one refresh of a cluster whose scores changed (memory: sweep + recompute; Redis: write
 *       the logged scores, read back what changed, recompute), per method and size, and the
 *       whole read a new Redis replica makes once.
 *
 * The Redis figures use a redis-server this script starts on a free loopback port.
 */
import {
  gauge,
  metricsBatch,
  MetricsRegistry,
  numberPoint,
  silentLogger,
  validateAgainst,
  type Consumer,
  type Host,
  type MetricsBatch,
  type Processor,
  type RequestContext,
} from '@skein/core';
import {
  createThresholdStore,
  ThresholdStoreConfigSchema,
  type ThresholdMethod,
  type ThresholdStoreExtension,
} from '@skein/extension-threshold-store';
import { startRedisServer } from '@skein/extension-threshold-store/testing';
import { createThresholdProcessor, ThresholdConfigSchema } from '@skein/processor-threshold';
import { time } from '../lib/measure.ts';
import { runWithServiceFlags } from '../lib/node-flags.ts';
import { count, duration, ratio, Report } from '../lib/report.ts';

runWithServiceFlags();
const report = new Report(import.meta.url);
const SIZES = [100, 10_000, 100_000];
const CLUSTER = 'eu-west-1a';
/** Timed pushes per size and round, rounds interleaving the sizes, and the warm-up per size. */
const PUSHES = { perRound: 40_000, rounds: 9, warmUp: 20_000, maxMsPerRound: 2_000 };
/**
 * Every push is followed by a turn of the event loop, as in a server where each push is an I/O
 * event of its own: the Redis backend's writes go out between pushes, and a 100-node cluster's
 * writes coalesce no more than a 100,000-node cluster's.
 */
const POOL = 4096;

const redis = await startRedisServer();
const noop: Consumer = { async consume() {} };
const host = (store: ThresholdStoreExtension): Host => ({
  getStatus: () => 'running',
  getExtension: <T>() => store as T,
  extensions: () => new Map([['threshold_store', store]]),
});

function storeFor(backend: 'memory' | 'redis', registry: MetricsRegistry, prefix: string): ThresholdStoreExtension {
  const raw =
    backend === 'memory'
      ? { refresh_interval: '1h', ttl: '1h' }
      : { backend, refresh_interval: '1h', ttl: '1h', redis: { url: redis.url, key_prefix: prefix, timeout: '10s' } };
  const { value, issues } = validateAgainst(ThresholdStoreConfigSchema, raw, ['extensions', 'threshold_store'], undefined);
  if (issues.length > 0) throw new Error(issues.map((i) => i.message).join('\n'));
  return createThresholdStore({ id: 'threshold_store', config: value, logger: silentLogger, telemetry: registry.scoped({ extension: 'threshold_store' }), pipelines: [] });
}

async function processorFor(store: ThresholdStoreExtension, registry: MetricsRegistry, method: ThresholdMethod = 'mad'): Promise<Processor> {
  const { value } = validateAgainst(ThresholdConfigSchema, { store: 'threshold_store', statistical_min: 10, method }, ['processors', 'threshold'], undefined);
  const p = createThresholdProcessor({ id: 'threshold', config: value, logger: silentLogger, telemetry: registry.scoped({ processor: 'threshold' }), pipelines: [] }, noop);
  await p.start!(host(store));
  return p;
}

let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const nodeName = (i: number) => `node-${String(i).padStart(6, '0')}`;
const agentPush = (node: string, score: number): MetricsBatch =>
  metricsBatch([{ resource: { 'host.name': node, cluster_id: CLUSTER }, scope: 'skein-agent', metrics: [gauge('health.score', [numberPoint(score)])] }]);

interface Case {
  backend: 'memory' | 'redis';
  nodes: number;
  store: ThresholdStoreExtension;
  processor: Processor;
  registry: MetricsRegistry;
  pool: MetricsBatch[];
  /** Nanoseconds per timed push, one array per round. */
  rounds: number[][];
  pushed: number;
}

async function makeCase(backend: 'memory' | 'redis', nodes: number): Promise<Case> {
  const registry = new MetricsRegistry();
  const store = storeFor(backend, registry, `bench:${nodes}:`);
  await store.start();
  const processor = await processorFor(store, registry);
  for (let i = 0; i < nodes; i++) store.record(CLUSTER, nodeName(i), 0.6 + 0.3 * rand());
  await store.refresh();
  const pool = Array.from({ length: POOL }, () => agentPush(nodeName(Math.floor(rand() * nodes)), 0.6 + 0.3 * rand()));
  return { backend, nodes, store, processor, registry, pool, rounds: [], pushed: 0 };
}

const ctx: RequestContext = { transport: 'http', clusterId: CLUSTER };
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/** Pushes `n` batches, timing each push (consume + get) when `timed`. */
async function pushes(c: Case, n: number, timed: boolean): Promise<void> {
  const samples: number[] = [];
  if (timed) c.rounds.push(samples);
  const deadline = performance.now() + PUSHES.maxMsPerRound;
  for (let i = 0; i < n; i++) {
    const batch = c.pool[(c.pushed + i) & (POOL - 1)]!;
    const t0 = performance.now();
    await c.processor.consume(batch, ctx);
    const v = c.store.get(CLUSTER);
    const t1 = performance.now();
    if (timed) samples.push((t1 - t0) * 1e6);
    if (!v.quorumMet) throw new Error('the cluster lost its quorum during the bench');
    await yieldToLoop();
    if (t1 > deadline) {
      c.pushed += i + 1;
      return;
    }
  }
  c.pushed += n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

// (a) per-push cost
const pushRows: (string | number)[][] = [];
const p99: Record<string, Record<number, number>> = { memory: {}, redis: {} };
for (const backend of ['memory', 'redis'] as const) {
  const cases: Case[] = [];
  for (const n of SIZES) cases.push(await makeCase(backend, n));
  for (const c of cases) await pushes(c, PUSHES.warmUp, false);
  for (let r = 0; r < PUSHES.rounds; r++) for (const c of cases) await pushes(c, PUSHES.perRound, true);
  for (const c of cases) {
    await c.store.refresh();
    const accepted = c.registry.sum('skein_threshold_accepted_scores_total');
    if (accepted !== c.pushed) throw new Error(`${backend}/${c.nodes}: ${accepted} scores accepted for ${c.pushed} pushes`);
    if (c.store.get(CLUSTER).activeNodes !== c.nodes) throw new Error(`${backend}/${c.nodes}: ${c.store.get(CLUSTER).activeNodes} active nodes`);
    const all = c.rounds.flat();
    const sorted = Float64Array.from(all).sort();
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    // The p99 of each round, then their median: one round spoiled by a neighbour does not decide.
    const roundP99 = median(c.rounds.map((r) => percentile(Float64Array.from(r).sort(), 99)));
    p99[backend]![c.nodes] = roundP99;
    pushRows.push([
      backend,
      count(c.nodes),
      count(all.length),
      duration(mean),
      duration(percentile(sorted, 50)),
      duration(percentile(sorted, 99)),
      duration(roundP99),
      duration(percentile(sorted, 99.9)),
      `${ratio(roundP99 / p99[backend]![SIZES[0]!]!)}×`,
    ]);
    await c.store.shutdown();
  }
  const r = p99[backend]![100_000]! / p99[backend]![100]!;
  report.figure(`${backend}: push p99 at 100,000 nodes ÷ at 100 nodes (target ≤ 1.5)`, r, '×');
}
report.table({
  title: `(a) One push (processor consume of a 1-point batch + store get), each after a turn of the event loop, timed call by call (two clock reads included); ${PUSHES.rounds} rounds interleaving the sizes`,
  columns: ['backend', 'cluster nodes', 'pushes', 'mean', 'p50', 'p99', 'p99 (median of rounds)', 'p99.9', '÷ 100 nodes'],
  rows: pushRows,
});

// (b) refresh cost
const refreshRows: (string | number)[][] = [];
const refreshCases: { backend: 'memory' | 'redis'; method: ThresholdMethod; changed: 'one' | 'tenth' }[] = [
  { backend: 'memory', method: 'mad', changed: 'one' },
  { backend: 'memory', method: 'stddev', changed: 'one' },
  { backend: 'memory', method: 'percentile', changed: 'one' },
  { backend: 'redis', method: 'mad', changed: 'one' },
  { backend: 'redis', method: 'mad', changed: 'tenth' },
];
for (const { backend, method, changed } of refreshCases) {
  for (const n of SIZES) {
    const registry = new MetricsRegistry();
    const prefix = `bench:refresh:${method}:${changed}:${n}:`;
    const store = storeFor(backend, registry, prefix);
    await store.start();
    await processorFor(store, registry, method);
    for (let i = 0; i < n; i++) store.record(CLUSTER, nodeName(i), 0.6 + 0.3 * rand());
    await store.refresh();
    let next = 0;
    // One score, or a tenth of the nodes (agents pushing every 10 s, refreshed every 1 s), changes
    // before each refresh, so the cluster is recomputed every time.
    const perRefresh = changed === 'one' ? 1 : n / 10;
    const t = report.record(
      await time(`${backend} ${method} refresh at ${n}, ${changed} changed`, async () => {
        for (let k = 0; k < perRefresh; k++) store.record(CLUSTER, nodeName(next++ % n), 0.6 + 0.3 * rand());
        await store.refresh();
      }),
    );
    if (!store.get(CLUSTER).quorumMet || !Number.isFinite(store.get(CLUSTER).threshold)) throw new Error('refresh lost the threshold');
    refreshRows.push([backend, method, count(n), changed === 'one' ? '1 score' : `${count(perRefresh)} scores`, duration(t.avgNs), duration(t.p50Ns), duration(t.p99Ns), duration(t.p50Ns / n)]);
    if (backend === 'redis' && changed === 'tenth') {
      // A replica that starts (or reconnects) reads the whole cluster once.
      const starts: number[] = [];
      for (let r = 0; r < 5; r++) {
        const replica = storeFor('redis', new MetricsRegistry(), prefix);
        const t0 = performance.now();
        await replica.start();
        starts.push((performance.now() - t0) * 1e6);
        if (replica.get(CLUSTER).activeNodes !== n) throw new Error(`a new replica read ${replica.get(CLUSTER).activeNodes} of ${n} nodes`);
        await replica.shutdown();
      }
      const mid = median(starts);
      refreshRows.push(['redis', method, count(n), 'first read: connect + whole cluster', duration(starts.reduce((a, b) => a + b, 0) / starts.length), duration(mid), '', duration(mid / n)]);
    }
    await store.shutdown();
  }
}
report.table({
  title:
    '(b) One refresh after scores changed. Memory: sweep + recompute. Redis: write the logged scores, read back what changed since the last read, recompute; and a new replica\'s first, whole read (median of 5)',
  columns: ['backend', 'method', 'cluster nodes', 'changed', 'mean', 'p50', 'p99', 'p50 per node'],
  rows: refreshRows,
});

// Heap held per node by the memory backend.
globalThis.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const heapStore = storeFor('memory', new MetricsRegistry(), '');
for (let i = 0; i < 100_000; i++) heapStore.record(CLUSTER, nodeName(i), 0.5);
globalThis.gc?.();
const perNode = (process.memoryUsage().heapUsed - heapBefore) / 100_000;
report.figure('memory backend: heap per node (100,000 nodes, 11-character IDs)', perNode, 'bytes');
if (heapStore.get(CLUSTER).activeNodes !== 100_000) throw new Error('heap store lost nodes');

await redis.stop();
report.finish();
