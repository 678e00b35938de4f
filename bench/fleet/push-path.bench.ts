/**
 * The fleet's push path end to end over OTLP/HTTP: 10,000 agents, each pushing its
 * `health.score` every 5 s with `?cluster_id=`, which is 2,000 pushes/s, against a Skein whose
 * server process runs on one core. Each push goes through the OTLP receiver, the threshold
 * processor (into a memory threshold_store) and the threshold_headers middleware, and the
 * generator checks that every reply carries `ingero-threshold` and `ingero-quorum-met: true`.
 *
 * Three servers, each in a child process of its own (fleet-server.ts), measured in interleaved
 * rounds:
 *   receiver  the OTLP receiver alone → a no-op exporter: the floor the fleet path adds to;
 *   fleet     receiver + threshold_headers → threshold → no-op exporter;
 *   default   configs/default.yaml as `npm start` runs it (its exporter is `prometheus`);
 *   fleet-100, fleet-100k   the fleet server again, with the same agents spread over clusters of
 *             100 nodes, or all in one cluster the store fills up to 100,000 nodes with nodes
 *             that never push: does a push cost more in a large cluster?
 *
 * Open loop: push k starts at k / rate seconds whatever the server's pace, agent k mod N, so a
 * slow server shows as latency rather than as a lower rate. A warm-up round pushes every agent
 * once (so every node is in the store and every cluster has its quorum); then `rounds` rounds
 * of `agents` pushes are measured, latency from each push's start to its whole reply.
 *
 * With `taskset` and at least two cores, each server is pinned to CPU 1: "one core". The
 * generator is left to the scheduler, so that other work landing on a fixed core cannot stall
 * it (`--pin-generator` puts it on CPU 0). Options (or env FLEET_<NAME>): --agents=10000
 * --interval=5 --connections=1000 --clusters=10 --rounds=3 --small-cluster=100
 * --large-cluster=100000, --no-pin, --pin-generator, --modes=receiver,fleet,default,fleet-100,fleet-100k.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { runWithServiceFlags, serviceNodeFlags } from '../lib/node-flags.ts';
import { headerValue, postRequest, rawHttpConnection } from '../lib/raw-http.ts';
import { count, duration, Report } from '../lib/report.ts';
import type { FleetServerMode, Interval, Ready } from './fleet-server.ts';

// The generator too runs with the service's V8 flags: its own collection pauses would read as
// server latency.
runWithServiceFlags();
const report = new Report(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg?.slice(name.length + 3) ?? process.env[`FLEET_${name.toUpperCase().replaceAll('-', '_')}`];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

const AGENTS = option('agents', 10_000);
const INTERVAL_S = option('interval', 5);
const RATE = AGENTS / INTERVAL_S;
const CONNECTIONS = Math.min(AGENTS, option('connections', 1000));
const CLUSTERS = option('clusters', 10);
const ROUNDS = option('rounds', 3);
const SMALL_CLUSTER = option('small-cluster', 100);
const LARGE_CLUSTER = option('large-cluster', 100_000);

/** A server to measure: which fleet-server.ts mode, how the agents are spread, what the store holds first. */
interface ModeSpec {
  server: FleetServerMode;
  clusters: number;
  /** Silent nodes put in cluster-0 before the agents start. */
  prefill?: number;
  /** Measured with no other server up, one server per round (see below). */
  alone?: boolean;
}
const MODE_SPECS: Record<string, () => ModeSpec> = {
  receiver: () => ({ server: 'receiver', clusters: CLUSTERS }),
  fleet: () => ({ server: 'fleet', clusters: CLUSTERS }),
  default: () => ({ server: 'default', clusters: CLUSTERS }),
  'fleet-100': () => {
    if (AGENTS % SMALL_CLUSTER !== 0) throw new Error(`fleet-100: --agents (${AGENTS}) must be a multiple of --small-cluster (${SMALL_CLUSTER})`);
    return { server: 'fleet', clusters: AGENTS / SMALL_CLUSTER, alone: true };
  },
  'fleet-100k': () => {
    if (LARGE_CLUSTER < AGENTS) throw new Error(`fleet-100k: --large-cluster (${LARGE_CLUSTER}) must be at least --agents (${AGENTS})`);
    return { server: 'fleet', clusters: 1, prefill: LARGE_CLUSTER - AGENTS, alone: true };
  },
};
const MODES = (process.argv.find((a) => a.startsWith('--modes='))?.slice(8) ?? 'receiver,fleet,default,fleet-100,fleet-100k').split(',');
for (const m of MODES) if (!(m in MODE_SPECS)) throw new Error(`--modes: unknown mode ${JSON.stringify(m)}; use ${Object.keys(MODE_SPECS).join(', ')}`);
const PIN = !process.argv.includes('--no-pin') && cpus().length >= 2 && hasTaskset();
/** Also pin this generator to CPU 0; by default it may run on any core, so other work on CPU 0 does not stall it. */
const PIN_GENERATOR = PIN && process.argv.includes('--pin-generator');
/** No single push may take longer than this; one that does fails the bench. */
const PUSH_TIMEOUT_MS = 10_000;
const TARGET_P99_MS = 5;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
if (PIN_GENERATOR) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

// ---------------------------------------------------------------------------------------------
// What the agents push: one gauge point each, as the OpenTelemetry SDK sends it, prebuilt

const PROTO_DIR = join(here, '..', '..', 'packages', 'receiver-otlp', 'proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');

const T0 = String(BigInt(Date.UTC(2025, 0, 15, 12)) * 1_000_000n);
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const nodeOf = (i: number) => `node-${String(i).padStart(5, '0')}`;

/** Every agent's push, agent i in cluster `i mod clusters`: the protobuf bodies and the request paths. */
function agentPushes(clusters: number): { bodies: Buffer[]; paths: string[] } {
  const clusterOf = (i: number) => `cluster-${i % clusters}`;
  const bodies = Array.from({ length: AGENTS }, (_, i) =>
    Buffer.from(
    Request.encode(
      Request.fromObject({
        resourceMetrics: [
          {
            resource: { attributes: [str('service.name', 'skein-agent'), str('service.instance.id', nodeOf(i)), str('host.name', nodeOf(i)), str('cluster_id', clusterOf(i))] },
            scopeMetrics: [
              {
                scope: { name: 'skein-agent' },
                // Scores spread over 0.5…1 so the thresholds are real numbers, not ties.
                metrics: [{ name: 'health.score', unit: '1', gauge: { dataPoints: [{ timeUnixNano: T0, asDouble: 0.5 + ((i * 7919) % 1000) / 2000 }] } }],
              },
            ],
          },
        ],
      }),
    ).finish(),
    ),
  );
  return { bodies, paths: bodies.map((_, i) => `/v1/metrics?cluster_id=${clusterOf(i)}`) };
}

// ---------------------------------------------------------------------------------------------
// The server, in its own process

interface Server {
  port: number;
  begin(): Promise<void>;
  end(): Promise<Interval>;
  /** A full collection in the server, between rounds. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

function reply<T>(child: ChildProcess, what: string, ms = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fleet-server: no ${what} within ${ms} ms`)), ms);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
  });
}

async function startServer(spec: ModeSpec): Promise<Server> {
  const script = join(here, 'fleet-server.ts');
  // --expose-gc only lets the bench ask for the collection after the warm-up (see warmUp).
  const node = [process.execPath, ...serviceNodeFlags(), '--expose-gc', script, spec.server, ...(spec.prefill ? [`--prefill=cluster-0:${spec.prefill}`] : [])];
  const command = PIN ? ['taskset', '-c', '1', ...node] : node;
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { ready } = await reply<Ready>(child, 'ready message');
  return {
    port: ready.http,
    async begin() {
      child.send('begin');
      await reply(child, 'begin');
    },
    end() {
      child.send('end');
      return reply<Interval>(child, 'end');
    },
    async settle() {
      child.send('settle');
      await reply(child, 'settle');
    },
    async stop() {
      child.disconnect();
      const timer = setTimeout(() => child.kill(), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The agents: `CONNECTIONS` keep-alive connections, agent i on connection i mod CONNECTIONS


/** What a reply must carry: nothing (the receiver alone), the two headers (warm-up), or a threshold with the quorum met. */
type Expect = 'nothing' | 'headers' | 'quorum';

async function fleet(port: number, clusters: number) {
  const { bodies, paths } = agentPushes(clusters);
  const connections = await Promise.all(Array.from({ length: CONNECTIONS }, () => rawHttpConnection(port)));
  const requests = bodies.map((body, i) => postRequest(port, paths[i]!, 'application/x-protobuf', body));
  const agents = {
    expect: 'nothing' as Expect,
    /** Resolves to undefined when the push was accepted and answered as `expect` says, or to what went wrong. */
    async push(i: number): Promise<string | undefined> {
      const answer = await connections[i % CONNECTIONS]!.send(requests[i]!);
      if (typeof answer === 'string') return answer;
      if (answer.status !== 200) return `HTTP ${answer.status}`;
      if (agents.expect === 'nothing') return undefined;
      const quorum = headerValue(answer.head, 'ingero-quorum-met');
      const threshold = Number(headerValue(answer.head, 'ingero-threshold'));
      const ok = agents.expect === 'headers' ? (quorum === 'true' || quorum === 'false') && Number.isFinite(threshold) : quorum === 'true' && threshold > 0;
      return ok ? undefined : `reply headers: quorum ${String(quorum)}, threshold ${String(headerValue(answer.head, 'ingero-threshold'))}`;
    },
    close: async () => {
      for (const c of connections) c.socket.destroy();
    },
  };
  return agents;
}

// ---------------------------------------------------------------------------------------------
// The open loop

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface Round {
  latencies: Float64Array;
  lag: Float64Array;
  /** This generator's event-loop utilisation over the round, 0…1. */
  elu: number;
  /** Pushes started per second, over the time it took to start them all. */
  rate: number;
  server: Interval;
}

/** Starts push k at `k / rate` s (agent `first + k` mod AGENTS) without waiting for earlier answers. */
async function openLoop(what: string, server: Server, agents: Awaited<ReturnType<typeof fleet>>, total: number, first: number): Promise<Round> {
  const latencies = new Float64Array(total);
  const lag = new Float64Array(total);
  const failures: string[] = [];
  await server.begin();
  const eluFrom = performance.eventLoopUtilization();
  const start = performance.now();
  let lastStart = start;
  await new Promise<void>((resolve) => {
    let next = 0;
    let done = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1000) + 1);
      for (; next < due; next++) {
        const k = next;
        const t = performance.now();
        lag[k] = t - (start + (k * 1000) / RATE);
        lastStart = t;
        void agents.push((first + k) % AGENTS).then((failure) => {
          latencies[k] = performance.now() - t;
          if (failure) failures.push(failure);
          if (++done === total) resolve();
        });
      }
      if (next < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elu = performance.eventLoopUtilization(eluFrom).utilization;
  const interval = await server.end();
  if (failures.length > 0) throw new Error(`${what}: ${failures.length} of ${total} pushes failed, first: ${failures[0]}`);
  if (interval.handled !== total) throw new Error(`${what}: the agents saw ${total} pushes accepted, the server counted ${interval.handled} points`);
  return { latencies, lag, elu, rate: total / ((lastStart - start) / 1000), server: interval };
}

// ---------------------------------------------------------------------------------------------
// The runs

const ms = (v: number) => duration(v * 1e6);
const rows: (string | number)[][] = [];
const verdicts: (string | number)[][] = [];
const cpuPerPush: Record<string, number> = {};

/** Between rounds, never during one: the generator's own collections must not stall the pushes it times. */
const collect = typeof globalThis.gc === 'function' ? () => globalThis.gc!() : () => {};

type Run = { mode: string; spec: ModeSpec; server?: Server; agents?: Awaited<ReturnType<typeof fleet>>; rounds: Round[] };

/** Connects the agents and pushes every agent once: every node is then in the store and every cluster has its quorum. */
async function warmUp(run: Run, server: Server): Promise<void> {
  // Connected only now: Node's read_header_timeout also closes a connection that has sent nothing yet.
  run.agents = await fleet(server.port, run.spec.clusters);
  run.agents.expect = run.mode === 'receiver' ? 'nothing' : 'headers';
  await openLoop(`${run.mode} warm-up`, server, run.agents, AGENTS, 0);
  // The warm-up took on every node at once (in `default`, about 48 MB of exporter series and
  // translation caches for 10,000 nodes); the first full collection after that is a one-off of
  // up to 60 ms, which would otherwise land in whichever round comes next. The rounds measure
  // the steady state.
  await server.settle();
  // From now on every reply must carry a threshold with the quorum met.
  if (run.mode !== 'receiver') run.agents.expect = 'quorum';
}

async function stopRun(run: Run): Promise<void> {
  await run.agents?.close();
  await run.server?.stop();
  run.agents = undefined;
  run.server = undefined;
}

// The shared servers run for the whole of their phase (idle ones cost nothing), and the rounds
// interleave (receiver, fleet, default, receiver, …), so a spell of load from elsewhere on the
// machine falls on every mode alike instead of spoiling one. The servers that run alone (the
// cluster sizes) get a server of their own per round, started when no other server is up: the
// store of a 100,000-node server is a heap whose idle-time collections would otherwise land in
// the other servers' rounds, on the same core.
const runs: Run[] = MODES.map((mode) => ({ mode, spec: MODE_SPECS[mode]!(), rounds: [] }));
const shared = runs.filter((r) => !r.spec.alone);
const alone = runs.filter((r) => r.spec.alone);
try {
  for (const run of shared) run.server = await startServer(run.spec);
  for (const run of shared) await warmUp(run, run.server!);
  for (let r = 0; r < ROUNDS; r++) {
    for (const run of shared) {
      collect();
      run.rounds.push(await openLoop(`${run.mode} round ${r + 1}`, run.server!, run.agents!, AGENTS, 0));
    }
  }
  for (const run of shared) await stopRun(run);
  for (let r = 0; r < ROUNDS; r++) {
    for (const run of alone) {
      run.server = await startServer(run.spec);
      await warmUp(run, run.server);
      collect();
      run.rounds.push(await openLoop(`${run.mode} round ${r + 1}`, run.server, run.agents!, AGENTS, 0));
      await stopRun(run);
    }
  }
} finally {
  for (const run of runs) await stopRun(run);
}

for (const { mode, rounds } of runs) {
  const all = new Float64Array(rounds.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of rounds) (all.set(r.latencies, at), (at += r.latencies.length));
  all.sort();
  const lag = Float64Array.from(rounds.flatMap((r) => [...r.lag])).sort();
  const roundP99 = rounds.map((r) => quantile(r.latencies.slice().sort(), 0.99));
  const cpuUs = rounds.reduce((n, r) => n + r.server.cpuUs, 0);
  const handled = rounds.reduce((n, r) => n + r.server.handled, 0);
  const elu = rounds.reduce((n, r) => n + r.server.elu, 0) / rounds.length;
  const rate = Math.min(...rounds.map((r) => r.rate));
  const timed = rounds.reduce((n, r) => n + r.server.timed, 0);
  const within = rounds.reduce((n, r) => n + r.server.within5ms, 0);
  if (timed !== all.length) throw new Error(`${mode}: the receiver timed ${timed} requests, the agents sent ${all.length}`);
  cpuPerPush[mode] = (cpuUs * 1000) / handled;
  const p99 = quantile(all, 0.99);
  rows.push([
    mode,
    count(all.length),
    count(rate),
    ms(quantile(all, 0.5)),
    ms(p99),
    `${ms(Math.min(...roundP99))} – ${ms(Math.max(...roundP99))}`,
    ms(quantile(all, 0.999)),
    ms(all[all.length - 1]!),
    ms(quantile(lag, 0.99)),
    `${((rounds.reduce((n, r) => n + r.elu, 0) / rounds.length) * 100).toFixed(0)} %`,
    `${((within / timed) * 100).toFixed(2)} %`,
    `${ms(Math.max(...rounds.map((r) => r.server.loopDelayP99)))} / ${ms(Math.max(...rounds.map((r) => r.server.loopDelayMax)))}`,
    duration(cpuPerPush[mode]),
    `${(elu * 100).toFixed(0)} %`,
  ]);
  if (mode !== 'receiver') {
    report.figure(`${mode}: p99 at ${count(RATE)} pushes/s`, p99, 'ms');
    const kept = rate >= RATE * 0.95;
    verdicts.push([
      `${mode}: p99 < ${TARGET_P99_MS} ms at ${count(RATE)} pushes/s${PIN ? ', server on one core' : ''}`,
      `${ms(p99)} at ${count(rate)} pushes/s`,
      p99 < TARGET_P99_MS && kept ? 'met' : kept ? 'NOT met' : 'NOT met (the generator could not hold the rate)',
    ]);
  }
}
if (cpuPerPush.receiver !== undefined && cpuPerPush.fleet !== undefined) {
  report.figure('fleet ÷ receiver server CPU per push', cpuPerPush.fleet / cpuPerPush.receiver, '×');
}
const small = runs.find((r) => r.mode === 'fleet-100');
const large = runs.find((r) => r.mode === 'fleet-100k');
if (small && large) {
  // Round k of the two ran back to back, so each round's ratio compares like with like; the
  // median of those ratios decides, so that one round spoiled by a neighbour does not.
  const ratios = small.rounds.map((r, k) => quantile(large.rounds[k]!.latencies.slice().sort(), 0.99) / quantile(r.latencies.slice().sort(), 0.99));
  const ratio = ratios.slice().sort((a, b) => a - b)[ratios.length >> 1]!;
  const what = `p99 in one ${count(LARGE_CLUSTER)}-node cluster ÷ in ${count(SMALL_CLUSTER)}-node clusters`;
  report.figure(`${what} (median of the rounds' ratios; target ≤ 1.5)`, ratio, '×');
  verdicts.push([`${what} ≤ 1.5 (median of rounds)`, `${ratio.toFixed(2)}× (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`, ratio <= 1.5 ? 'met' : 'NOT met']);
}

report.table({
  title: `Open loop: ${count(AGENTS)} agents (${CLUSTERS} clusters; fleet-100: ${count(AGENTS / SMALL_CLUSTER)} clusters of ${count(SMALL_CLUSTER)}; fleet-100k: one cluster of ${count(LARGE_CLUSTER)}, of which ${count(LARGE_CLUSTER - AGENTS)} never push) pushing every ${INTERVAL_S} s = ${count(RATE)} pushes/s over ${count(CONNECTIONS)} keep-alive connections; ${ROUNDS} interleaved rounds of ${count(AGENTS)} pushes per server after a warm-up round; server ${PIN ? `pinned to one core (CPU 1), generator ${PIN_GENERATOR ? 'on CPU 0' : 'not pinned'}` : 'not pinned'}`,
  columns: [
    'server',
    'pushes',
    'started/s',
    'p50',
    'p99',
    'p99 by round',
    'p99.9',
    'max',
    'generator: start lag p99',
    'generator: loop busy',
    'server: answered within 5 ms',
    'server: loop delay p99 / max',
    'server: CPU / push',
    'server: loop busy',
  ],
  rows,
});
report.table({ title: 'Targets', columns: ['target', 'measured', 'verdict'], rows: verdicts });
report.finish();
