/**
 * Replicas: with the memory backend two Skein services that each see half of a cluster's
 * agents disagree; with `backend: redis` two `skein run` processes fed by a round-robin split
 * of the agents answer the same threshold and quorum, and a Redis outage costs no push.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gauge, metricsBatch, MetricsRegistry, numberPoint, type Service } from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import thresholdStoreExtension, { madThreshold, type ThresholdStoreExtension, type ThresholdView } from '@skein/extension-threshold-store';
import { startRedisServer, type RedisServer } from '@skein/extension-threshold-store/testing';
import thresholdProcessor from '../src/index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'packages/cli/src/main.ts');
const FIXTURE = fileURLToPath(new URL('./fixtures/fleet-push.ts', import.meta.url));

/** 40 agents; the even ones are slow, so either half alone gives another threshold. */
const AGENTS = Array.from({ length: 40 }, (_, i) => ({ node: `node-${String(i).padStart(2, '0')}`, score: i % 2 === 0 ? 0.5 + i / 100 : 0.9 + i / 1000 }));
const EXPECTED = madThreshold(Float64Array.from(AGENTS, (a) => a.score).sort(), 3);

let redis: RedisServer;
const dir = mkdtempSync(join(tmpdir(), 'skein-replicas-'));
before(async () => {
  redis = await startRedisServer();
});
after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const push = (node: string, score: number) =>
  metricsBatch([{ resource: { 'host.name': node }, scope: 'agent', metrics: [gauge('health.score', [numberPoint(score)])] }]);

function serviceYaml(store: string): string {
  return `
extensions:
  threshold_store: ${store}
receivers: {source: {}}
processors:
  threshold: {store: threshold_store, statistical_min: 10}
exporters: {sink: {}}
service:
  extensions: [threshold_store]
  pipelines:
    metrics/fleet: {receivers: [source], processors: [threshold], exporters: [sink]}
`;
}

async function replicaService(store: string, registry = new MetricsRegistry()) {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const service = await startService(serviceYaml(store), [source.factory, sink.factory, thresholdStoreExtension, thresholdProcessor], { registry });
  return { service, entry: source.consumers.get('source')!, store: service.getExtension<ThresholdStoreExtension>('threshold_store') };
}

test('memory backend: two replicas that each see half of a cluster disagree, or have no quorum', async () => {
  const replicas = [await replicaService('{}'), await replicaService('{}')];
  try {
    for (const [i, a] of AGENTS.entries()) await replicas[i % 2]!.entry.consume(push(a.node, a.score), { transport: 'http', clusterId: 'eu-1' });
    for (const r of replicas) await r.store.refresh();
    const [a, b] = replicas.map((r) => r.store.get('eu-1'));
    assert.equal(a!.activeNodes, 20);
    assert.equal(b!.activeNodes, 20);
    assert.notEqual(a!.threshold, b!.threshold);
    assert.notEqual(a!.threshold, EXPECTED);
    assert.notEqual(b!.threshold, EXPECTED);

    // Twelve agents in a cluster with a quorum of 10: six per replica, no quorum anywhere.
    for (const [i, a] of AGENTS.slice(0, 12).entries()) await replicas[i % 2]!.entry.consume(push(a.node, a.score), { transport: 'http', clusterId: 'us-1' });
    assert.deepEqual(
      replicas.map((r) => [r.store.get('us-1').activeNodes, r.store.get('us-1').quorumMet]),
      [
        [6, false],
        [6, false],
      ],
    );
  } finally {
    for (const r of replicas) await r.service.shutdown();
  }
});

interface Replica {
  child: ChildProcess;
  port: number;
  output(): string;
}

/** Runs `skein run` with the fixture plugin; resolves once its push port is known. */
async function skeinRun(name: string, prefix: string): Promise<Replica> {
  const portFile = join(dir, `${name}.port`);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    `
extensions:
  threshold_store:
    backend: redis
    refresh_interval: 200ms
    redis: {url: "${redis.url}", key_prefix: "${prefix}"}
receivers:
  fleet_push: {store: threshold_store, port_file: "${portFile}"}
processors:
  threshold: {store: threshold_store, statistical_min: 10}
exporters:
  debug: {}
service:
  extensions: [threshold_store]
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
  pipelines:
    metrics/fleet: {receivers: [fleet_push], processors: [threshold], exporters: [debug]}
`,
  );
  const child = spawn(process.execPath, [MAIN, 'run', '--config', config, '--plugin', FIXTURE], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await eventually(`${name} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    return existsSync(portFile) && readFileSync(portFile, 'utf8') !== '';
  });
  return { child, port: Number(readFileSync(portFile, 'utf8')), output: () => output };
}

async function stop(r: Replica): Promise<number | null> {
  if (r.child.exitCode !== null) return r.child.exitCode;
  const exited = new Promise<number | null>((resolve) => r.child.once('exit', (code) => resolve(code)));
  r.child.kill('SIGTERM');
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

type Wire = Omit<ThresholdView, 'computedAtMs'> & { computedAtMs?: number };
async function call(r: Replica, path: string, body?: unknown): Promise<Wire> {
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return (await res.json()) as Wire;
}

test('backend redis: two `skein run` replicas fed round-robin answer the same threshold and quorum', { timeout: 120_000 }, async () => {
  const prefix = `replicas:${process.pid}:`;
  const replicas = [await skeinRun('a', prefix), await skeinRun('b', prefix)];
  try {
    for (const [i, a] of AGENTS.entries()) {
      const r = replicas[i % 2]!;
      const before = (await call(r, '/threshold?cluster_id=eu-1')).activeNodes;
      const answer = await call(r, '/push?cluster_id=eu-1', a);
      // The reply reflects the push itself: its node is counted.
      assert.ok(answer.activeNodes >= before + 1, `push ${i}: ${before} → ${answer.activeNodes}`);
    }
    let views: Wire[] = [];
    await eventually('both replicas to see the whole cluster', async () => {
      views = await Promise.all(replicas.map((r) => call(r, '/threshold?cluster_id=eu-1')));
      return views.every((v) => v.activeNodes === 40 && v.threshold === EXPECTED);
    });
    const [a, b] = views.map(({ computedAtMs: _t, ...v }) => v);
    assert.deepEqual(a, b);
    assert.deepEqual(a, { clusterId: 'eu-1', threshold: EXPECTED, quorumMet: true, activeNodes: 40, statisticalMin: 10, method: 'mad', stale: false });
    for (const r of replicas) {
      const metrics = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
      assert.match(metrics, new RegExp(`^skein_fleet_threshold\\{extension="threshold_store",cluster_id="eu-1"\\} ${EXPECTED}$`, 'm'));
      assert.match(metrics, /^skein_fleet_quorum_met\{extension="threshold_store",cluster_id="eu-1"\} 1$/m);
      assert.match(metrics, /^skein_fleet_active_nodes\{extension="threshold_store",cluster_id="eu-1"\} 40$/m);
    }
  } finally {
    const codes = [];
    for (const r of replicas) codes.push(await stop(r));
    assert.deepEqual(codes, [0, 0], replicas.map((r) => r.output()).join('\n'));
  }
});

test('backend redis outage: no push fails, errors are counted, last known values are served, and replicas converge after', { timeout: 120_000 }, async () => {
  const store = `{backend: redis, refresh_interval: 100ms, redis: {url: "${redis.url}", key_prefix: "outage:${process.pid}:", timeout: 500ms}}`;
  const registries = [new MetricsRegistry(), new MetricsRegistry()];
  const replicas = [await replicaService(store, registries[0]), await replicaService(store, registries[1])];
  const services: Service[] = replicas.map((r) => r.service);
  const ctx = { transport: 'http', clusterId: 'eu-1' };
  try {
    for (const [i, a] of AGENTS.entries()) await replicas[i % 2]!.entry.consume(push(a.node, a.score), ctx);
    await eventually('the replicas to agree', () => replicas.every((r) => r.store.get('eu-1').threshold === EXPECTED && r.store.get('eu-1').activeNodes === 40));

    await redis.kill();
    await eventually('both replicas to notice', () => replicas.every((r) => r.store.get('eu-1').stale));
    // Pushes during the outage: none is refused, each is answered from what the replica knows.
    for (const [i, a] of AGENTS.entries()) await replicas[i % 2]!.entry.consume(push(a.node, a.score), ctx);
    await replicas[0]!.entry.consume(push('node-new', 0.95), ctx);
    for (const r of replicas) {
      const v = r.store.get('eu-1');
      assert.equal(v.quorumMet, true);
      assert.equal(v.threshold, EXPECTED, 'the last known threshold');
    }
    assert.equal(replicas[0]!.store.get('eu-1').activeNodes, 41);
    assert.equal(replicas[1]!.store.get('eu-1').activeNodes, 40);
    for (const registry of registries) {
      assert.ok(registry.sum('skein_threshold_store_errors_total') > 0);
      assert.equal(registry.sum('skein_processor_refused_points_total'), 0);
      assert.equal(registry.sum('skein_threshold_refused_scores_total'), 0);
    }

    // Redis comes back empty on the same port; the replicas refill it and agree again.
    await redis.restart();
    const withNew = madThreshold(Float64Array.from([...AGENTS.map((a) => a.score), 0.95]).sort(), 3);
    await eventually('the replicas to converge after the outage', () =>
      replicas.every((r) => {
        const v = r.store.get('eu-1');
        return !v.stale && v.activeNodes === 41 && v.threshold === withNew;
      }),
    );
  } finally {
    for (const s of services) await s.shutdown();
  }
});
