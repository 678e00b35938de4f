/**
 * The OTLP push path end to end, as a fleet uses it: N agents, each on its own keep-alive
 * connection, each pushing one `health.score` gauge (OTLP/protobuf with `?cluster_id=`, or gRPC
 * with metadata `cluster_id`), against
 *
 *   skein: the running `otlp` receiver → a no-op exporter (a real Service, self-metrics on);
 *   bare:  the floor, a node:http server that reads the body and answers 200, and a node:http2
 *          server that answers an empty ExportMetricsServiceResponse (--bare-grpc=grpc-js: a
 *          grpc-js server instead).
 *
 * (a) Closed loop: every agent pushes again as soon as it has its answer, for a bounded time;
 *     req/s and latency, in interleaved rounds (bare, skein, bare, skein, …).
 * (b) Open loop: pushes started on a timer at a fixed rate (10,000 agents every 5 s is
 *     2,000/s), a bounded count; latency from each push's start, whatever the server's pace.
 *
 * Each server runs in a child process of its own (push-server.ts), so the load generator here
 * never runs on a server's event loop. They still share the machine's cores, so the agents'
 * clients are hand-written and cheap (raw HTTP/1.1 on net sockets, gRPC on node:http2), and the
 * servers report the CPU they spent per push. Options (or env PUSH_<NAME>): --agents=200
 * --seconds=2 --rounds=3 --rate=2000 --open-count=20000 --open-rounds=2; --only=http|grpc;
 * --library-clients (undici and grpc-js as the agents' clients); --pin (each server on CPU 1, this
 * generator on CPU 0, with taskset).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { Client } from 'undici';
import { METRICS_EXPORT_PATH } from '@skein/receiver-otlp';
import { median } from '../lib/measure.ts';
import { postRequest, rawHttpConnection } from '../lib/raw-http.ts';
import { runWithServiceFlags, serviceNodeFlags } from '../lib/node-flags.ts';
import { count, duration, Report } from '../lib/report.ts';
import type { Begin, Interval, Ready, ServerMode } from './push-server.ts';

// The generator too runs with the service's V8 flags: its own collection pauses would read as
// server latency.
runWithServiceFlags();
const report = new Report(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg?.slice(name.length + 3) ?? process.env[`PUSH_${name.toUpperCase().replaceAll('-', '_')}`];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

const AGENTS = option('agents', 200);
const ROUND_MS = option('seconds', 2) * 1000;
const ROUNDS = option('rounds', 3);
const RATE = option('rate', 2000);
const OPEN_COUNT = option('open-count', 50_000);
const OPEN_ROUNDS = option('open-rounds', 5);
/** Pushes started before each open-loop round's measured ones: one second at the rate. */
const OPEN_WARM_UP = RATE;
const WARM_UP_MS = 1000;
/** undici and grpc-js as the agents' clients, instead of the hand-written ones. */
const LIBRARY_CLIENTS = process.argv.includes('--library-clients');
/** `--only=http` or `--only=grpc` runs one transport. */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
/** The bare gRPC server: node:http2 by hand (the floor), or grpc-js. */
const BARE_GRPC = process.argv.find((a) => a.startsWith('--bare-grpc='))?.slice('--bare-grpc='.length) ?? 'http2';
if (BARE_GRPC !== 'http2' && BARE_GRPC !== 'grpc-js') throw new Error(`--bare-grpc must be http2 or grpc-js, got ${JSON.stringify(BARE_GRPC)}`);
/** Each server on CPU 1 and this generator on CPU 0 (taskset, every thread), so they never share a core. */
const PIN = process.argv.includes('--pin');
if (PIN) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
/** Hard cap on pushes in one closed-loop round, besides its time limit. */
const ROUND_MAX_PUSHES = 2_000_000;
/**
 * A round may overrun its schedule by this much; then every connection is cut, the pushes in
 * flight fail and so does the bench. (One watchdog per round: a timer per push would itself
 * load the generator's heap.)
 */
const OVERRUN_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// What the agents push: one gauge point each, prebuilt

const PROTO_DIR = join(here, '..', '..', 'packages', 'receiver-otlp', 'proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');

const T0 = String(BigInt(Date.UTC(2025, 0, 15, 12)) * 1_000_000n);
const clusterOf = (i: number) => `cluster-${i % 16}`;
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });

const bodies = Array.from({ length: AGENTS }, (_, i) =>
  Buffer.from(
    Request.encode(
      Request.fromObject({
        resourceMetrics: [
          {
            resource: { attributes: [str('service.name', 'skein-agent'), str('host.name', `node-${String(i).padStart(5, '0')}`), str('cluster_id', clusterOf(i))] },
            scopeMetrics: [
              {
                scope: { name: 'skein-agent', version: '1.0.0' },
                metrics: [{ name: 'health.score', unit: '1', gauge: { dataPoints: [{ timeUnixNano: T0, asDouble: (i % 100) / 100 }] } }],
              },
            ],
          },
        ],
      }),
    ).finish(),
  ),
);

// ---------------------------------------------------------------------------------------------
// The servers, each in its own process

interface Server {
  mode: ServerMode;
  ports: Ready['ready'];
  /** Starts an interval; `loopDelay` also samples the server's event-loop delay. */
  begin(loopDelay: boolean): Promise<void>;
  end(): Promise<Interval>;
  stop(): Promise<void>;
}

function reply<T>(child: ChildProcess, what: string, ms = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`push-server: no ${what} within ${ms} ms`)), ms);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
  });
}

async function startServer(mode: ServerMode): Promise<Server> {
  const script = join(here, 'push-server.ts');
  // Both servers run with the V8 flags `skein run` applies; SKEIN_NODE_FLAGS replaces them, as it does for `skein run`.
  const child = fork(script, [mode, BARE_GRPC], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...serviceNodeFlags(), ...process.execArgv] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { ready } = await reply<Ready>(child, 'ready message');
  if (PIN) execFileSync('taskset', ['-a', '-cp', '1', String(child.pid)], { stdio: 'ignore' });
  return {
    mode,
    ports: ready,
    async begin(loopDelay) {
      child.send({ loopDelay } satisfies Begin);
      await reply(child, 'begin');
    },
    end() {
      child.send('end');
      return reply<Interval>(child, 'end');
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
// The agents: one keep-alive connection each

/** Pushes agent i's body; resolves to undefined when accepted, or to what went wrong. */
type Push = (i: number) => Promise<string | undefined>;

interface Agents {
  push: Push;
  /** Cuts every connection at once: the pushes in flight fail. */
  abort(): void;
  close(): Promise<void>;
}

/** The agents' HTTP/1.1 connections, written by hand (bench/lib/raw-http.ts), one per agent. */
async function rawHttpAgents(port: number): Promise<Agents> {
  const requests = bodies.map((body, i) => postRequest(port, `/v1/metrics?cluster_id=${clusterOf(i)}`, 'application/x-protobuf', body));
  const connections = await Promise.all(bodies.map(() => rawHttpConnection(port)));
  return {
    async push(i) {
      const answer = await connections[i]!.send(requests[i]!);
      return typeof answer === 'string' ? answer : answer.status === 200 ? undefined : `HTTP ${answer.status}`;
    },
    abort() {
      for (const c of connections) c.socket.destroy();
    },
    async close() {
      for (const c of connections) c.socket.destroy();
    },
  };
}

/** The same through undici, one Client (one connection) per agent. */
async function undiciAgents(port: number): Promise<Agents> {
  const clients = bodies.map(() => new Client(`http://127.0.0.1:${port}`, { pipelining: 1, keepAliveTimeout: 60_000 }));
  const paths = bodies.map((_, i) => `/v1/metrics?cluster_id=${clusterOf(i)}`);
  const headers = { 'content-type': 'application/x-protobuf' };
  return {
    async push(i) {
      try {
        const res = await clients[i]!.request({ method: 'POST', path: paths[i]!, headers, body: bodies[i] });
        await res.body.dump();
        return res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`;
      } catch (err) {
        return String(err);
      }
    },
    abort() {
      for (const c of clients) void c.destroy();
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

/**
 * The agents' gRPC calls, HTTP/2 written by hand on `net` sockets, one connection per agent:
 * node:http2's client allocates several objects per stream, and its collections showed as
 * multi-millisecond stalls in the generator, read as server latency. Each push is one prebuilt
 * HEADERS frame (HPACK literals, nothing indexed, so the encoder keeps no state) and one DATA
 * frame, with the stream ID patched in. Of the answer only frame headers are read: a call
 * succeeded when a DATA frame (the response message) came before the HEADERS frame that ends
 * the stream; a refusal is Trailers-Only, with no DATA. The servers' own counts (`check`)
 * confirm every push was accepted.
 */
async function rawGrpcAgents(port: number): Promise<Agents> {
  const connections = await Promise.all(bodies.map((body, i) => h2Connection(port, grpcRequest(port, body, clusterOf(i)))));
  return {
    push: (i) => connections[i]!.push(),
    abort() {
      for (const c of connections) c.socket.destroy();
    },
    async close() {
      for (const c of connections) c.socket.destroy();
    },
  };
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const H2 = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

function h2Frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const f = Buffer.alloc(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream, 5);
  f.set(payload, 9);
  return f;
}

/** An HPACK string literal, not Huffman-coded (RFC 7541 §5.2); these are all under 127 bytes. */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length > 126) throw new Error(`header text too long for this encoder: ${text}`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** One Export call as frames: HEADERS then DATA with END_STREAM, stream ID 0 (patched per push). */
function grpcRequest(port: number, body: Uint8Array, clusterId: string): Buffer {
  // Static-table entries (RFC 7541 Appendix A): 3 = :method POST, 6 = :scheme http,
  // names 1 = :authority, 4 = :path, 31 = content-type; the rest literal, without indexing.
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]),
    Buffer.from([0x01]),
    hpackString(`127.0.0.1:${port}`),
    Buffer.from([0x04]),
    hpackString(METRICS_EXPORT_PATH),
    Buffer.from([0x0f, 31 - 15]),
    hpackString('application/grpc'),
    Buffer.from([0x00]),
    hpackString('te'),
    hpackString('trailers'),
    Buffer.from([0x00]),
    hpackString('cluster_id'),
    hpackString(clusterId),
  ]);
  const message = Buffer.alloc(5 + body.length);
  message.writeUInt32BE(body.length, 1);
  message.set(body, 5);
  return Buffer.concat([h2Frame(H2.HEADERS, END_HEADERS, 0, block), h2Frame(H2.DATA, END_STREAM, 0, message)]);
}

/** One agent's HTTP/2 connection: one call in flight, the next queued behind it. */
async function h2Connection(port: number, request: Buffer) {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, 'connect');
  // The connection's receive window to its maximum, so the answers never wait for a WINDOW_UPDATE.
  const windowIncrement = Buffer.alloc(4);
  windowIncrement.writeUInt32BE(2 ** 31 - 1 - 65_535);
  socket.write(Buffer.concat([H2_PREFACE, h2Frame(H2.SETTINGS, 0, 0, Buffer.alloc(0)), h2Frame(H2.WINDOW_UPDATE, 0, 0, windowIncrement)]));
  const dataOffset = 9 + request.readUIntBE(0, 3);
  const waiting: ((failure: string | undefined) => void)[] = [];
  let stream = 1;
  let gotData = false;
  let pending: Buffer | undefined;
  const failAll = (why: string) => {
    for (const resolve of waiting.splice(0)) resolve(why);
  };
  const send = () => {
    const frames = Buffer.from(request);
    frames.writeUInt32BE(stream, 5);
    frames.writeUInt32BE(stream, dataOffset + 5);
    gotData = false;
    socket.write(frames);
  };
  const finish = (failure: string | undefined) => {
    stream += 2;
    waiting.shift()!(failure);
    if (waiting.length > 0) send();
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    while (pending.length - at >= 9) {
      const length = pending.readUIntBE(at, 3);
      if (pending.length - at < 9 + length) break;
      const type = pending[at + 3]!;
      const flags = pending[at + 4]!;
      const id = pending.readUInt32BE(at + 5) & 0x7fffffff;
      if (type === H2.SETTINGS && !(flags & ACK)) socket.write(h2Frame(H2.SETTINGS, ACK, 0, Buffer.alloc(0)));
      else if (type === H2.PING && !(flags & ACK)) socket.write(h2Frame(H2.PING, ACK, 0, pending.subarray(at + 9, at + 17)));
      else if (type === H2.GOAWAY) failAll('the server sent GOAWAY');
      else if (id === stream && waiting.length > 0) {
        if (type === H2.DATA && length > 0) gotData = true;
        else if (type === H2.RST_STREAM) finish(`stream reset, code ${pending.readUInt32BE(at + 9)}`);
        else if (type === H2.HEADERS && flags & END_STREAM) finish(gotData ? undefined : 'a Trailers-Only answer (the call was refused)');
      }
      at += 9 + length;
    }
    pending = at === pending.length ? undefined : pending.subarray(at);
  });
  socket.on('error', (err) => failAll(String(err)));
  socket.on('close', () => failAll('the server closed the connection'));
  return {
    socket,
    push: () =>
      new Promise<string | undefined>((resolve) => {
        if (socket.destroyed) return resolve('the connection is closed');
        waiting.push(resolve);
        if (waiting.length === 1) send();
      }),
  };
}

const raw = (b: Buffer) => b;
const ExportClient = grpc.makeGenericClientConstructor(
  { Export: { path: METRICS_EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
  'Export',
);
type ExportCall = (body: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void;

/** The same through grpc-js, a generic client per agent. */
async function grpcJsAgents(port: number): Promise<Agents> {
  // A local subchannel pool per client: each agent gets a connection of its own, as a fleet does.
  const clients = bodies.map(() => new ExportClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 30_000, (err) => (err ? reject(err) : resolve())))));
  const metadata = bodies.map((_, i) => {
    const md = new grpc.Metadata();
    md.set('cluster_id', clusterOf(i));
    return md;
  });
  const exports = clients.map((c) => (c as unknown as { Export: ExportCall }).Export.bind(c));
  return {
    push: (i) =>
      new Promise((resolve) => {
        // A deadline per call, as agents built on grpc-js set one (the OpenTelemetry exporter does).
        exports[i]!(bodies[i]!, metadata[i]!, { deadline: Date.now() + OVERRUN_MS }, (err) => resolve(err ? `gRPC ${grpc.status[err.code]}: ${err.details}` : undefined));
      }),
    abort() {
      // Calls in flight end at their deadlines.
      for (const c of clients) c.close();
    },
    async close() {
      for (const c of clients) c.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Loops

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface Run {
  pushes: number;
  seconds: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  max: number;
  server: Interval;
}

/** The server must have taken every push the agents saw accepted, and the agents must have seen no failure. */
function check(what: string, failures: string[], pushes: number, server: Interval): void {
  if (failures.length > 0) throw new Error(`${what}: ${failures.length} of ${pushes} pushes failed, first: ${failures[0]}`);
  if (server.handled !== pushes) throw new Error(`${what}: the agents saw ${pushes} pushes accepted, the server counted ${server.handled}`);
}

/** Latency percentiles over every push of `runs`, with the server's intervals added up. */
function pooled(runs: { latencies: Float64Array; seconds: number; server: Interval }[]): Run {
  const all = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of runs) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  all.sort();
  const seconds = runs.reduce((t, r) => t + r.seconds, 0);
  const server: Interval = {
    handled: runs.reduce((n, r) => n + r.server.handled, 0),
    cpuUs: runs.reduce((n, r) => n + r.server.cpuUs, 0),
    elu: runs.reduce((n, r) => n + r.server.elu * r.seconds, 0) / seconds,
  };
  const delays = runs.map((r) => r.server.loopDelayP99Ms).filter((d) => d !== undefined);
  if (delays.length > 0) server.loopDelayP99Ms = Math.max(...delays);
  return { pushes: all.length, seconds, p50: quantile(all, 0.5), p99: quantile(all, 0.99), max: all[all.length - 1]!, server };
}

/** Every agent pushes, waits for the answer, pushes again, until `ms` have passed. */
async function closedLoop(what: string, server: Server, agents: Agents, ms: number): Promise<Run> {
  const latencies = new Float64Array(ROUND_MAX_PUSHES);
  const failures: string[] = [];
  let n = 0;
  await server.begin(false);
  const start = performance.now();
  const until = start + ms;
  const watchdog = setTimeout(() => agents.abort(), ms + OVERRUN_MS);
  await Promise.all(
    bodies.map(async (_, i) => {
      while (n < ROUND_MAX_PUSHES && performance.now() < until) {
        const t = performance.now();
        const failure = await agents.push(i);
        latencies[n++] = performance.now() - t;
        if (failure) failures.push(failure);
      }
    }),
  );
  clearTimeout(watchdog);
  const seconds = (performance.now() - start) / 1000;
  const interval = await server.end();
  check(what, failures, n, interval);
  return pooled([{ latencies: latencies.subarray(0, n), seconds, server: interval }]);
}

interface OpenRound {
  latencies: Float64Array;
  /** How late the generator started each push against its schedule (ms). */
  lag: Float64Array;
  seconds: number;
  /** From the first push started to the last. */
  startingSeconds: number;
  server: Interval;
}

/**
 * Starts push k at `k / rate` seconds (agent k mod N), without waiting for earlier answers:
 * `warmUp` pushes, then `total` measured ones on the same schedule, so that the measured ones
 * meet both processes in their steady state at that rate. Latency runs from the moment a push
 * is started to its answer. The server's figures cover the warm-up too.
 */
async function openLoop(what: string, server: Server, agents: Agents, rate: number, warmUp: number, total: number): Promise<OpenRound> {
  const all = warmUp + total;
  const latencies = new Float64Array(all);
  const lag = new Float64Array(all);
  const failures: string[] = [];
  await server.begin(true);
  const start = performance.now();
  let lastStart = start;
  const watchdog = setTimeout(() => agents.abort(), (all * 1000) / rate + OVERRUN_MS);
  await new Promise<void>((resolve) => {
    let next = 0;
    let done = 0;
    const tick = () => {
      const due = Math.min(all, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; next < due; next++) {
        const k = next;
        const t = performance.now();
        lag[k] = t - (start + (k * 1000) / rate);
        lastStart = t;
        void agents.push(k % AGENTS).then((failure) => {
          latencies[k] = performance.now() - t;
          if (failure) failures.push(failure);
          if (++done === all) resolve();
        });
      }
      if (next < all) setTimeout(tick, 1);
    };
    tick();
  });
  clearTimeout(watchdog);
  const seconds = (performance.now() - start) / 1000;
  const interval = await server.end();
  check(what, failures, all, interval);
  return {
    latencies: latencies.subarray(warmUp),
    lag: lag.subarray(warmUp),
    seconds,
    startingSeconds: (lastStart - start) / 1000,
    server: interval,
  };
}

// ---------------------------------------------------------------------------------------------
// The runs

const ms = (v: number) => duration(v * 1e6);
const perPush = (r: Run) => duration((r.server.cpuUs * 1000) / r.server.handled);
const busy = (r: Run) => `${(r.server.elu * 100).toFixed(0)} %`;
const MODES = ['bare', 'skein'] as const;
/** The server column: which bare server answered gRPC. */
const serverName = (transport: string, mode: (typeof MODES)[number]) =>
  mode === 'bare' && transport === 'gRPC' ? `bare (${BARE_GRPC === 'http2' ? 'node:http2' : 'grpc-js'})` : mode;

const servers = { bare: await startServer('bare'), skein: await startServer('skein') };
const transports = (
  LIBRARY_CLIENTS
    ? [
        { name: 'HTTP (protobuf)', agents: (s: Server) => undiciAgents(s.ports.http) },
        { name: 'gRPC', agents: (s: Server) => grpcJsAgents(s.ports.grpc) },
      ]
    : [
        { name: 'HTTP (protobuf)', agents: (s: Server) => rawHttpAgents(s.ports.http) },
        { name: 'gRPC', agents: (s: Server) => rawGrpcAgents(s.ports.grpc) },
      ]
).filter((t) => !ONLY || t.name.toLowerCase().startsWith(ONLY));

const closedRows: (string | number)[][] = [];
const openRows: (string | number)[][] = [];
const verdicts: (string | number)[][] = [];
try {
  for (const transport of transports) {
    const fleets = { bare: await transport.agents(servers.bare), skein: await transport.agents(servers.skein) };
    try {
      for (const mode of MODES) await closedLoop(`${transport.name} ${mode} warm-up`, servers[mode], fleets[mode], WARM_UP_MS);

      // (a) interleaved rounds; each ratio is taken within its round
      const runs: Record<(typeof MODES)[number], Run[]> = { bare: [], skein: [] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const mode of MODES) runs[mode].push(await closedLoop(`${transport.name} ${mode}`, servers[mode], fleets[mode], ROUND_MS));
      }
      const rps = (run: Run) => run.pushes / run.seconds;
      const cpu = (run: Run) => run.server.cpuUs / run.server.handled;
      for (const mode of MODES) {
        const mid = [...runs[mode]].sort((a, b) => rps(a) - rps(b))[ROUNDS >> 1]!;
        const pushes = runs[mode].reduce((n, run) => n + run.pushes, 0);
        closedRows.push([transport.name, serverName(transport.name, mode), count(pushes), count(rps(mid)), ms(mid.p50), ms(mid.p99), perPush(mid), busy(mid)]);
      }
      const throughput = median(runs.skein.map((s, r) => rps(s) / rps(runs.bare[r]!)));
      const cost = median(runs.skein.map((s, r) => cpu(s) / cpu(runs.bare[r]!)));
      report.figure(`${transport.name}: receiver req/s ÷ bare server req/s (closed loop)`, throughput, '×');
      report.figure(`${transport.name}: receiver CPU per push ÷ bare server's (closed loop)`, cost, '×');
      // Two readings of one target. req/s moves with the CPU share the server got from a shared
      // machine; CPU per push does not, and its inverse is what the server could carry on equal CPU.
      const capacity = 1 / cost;
      verdicts.push([
        `${transport.name}: ≥ 50 % of the bare server's req/s`,
        `${(throughput * 100).toFixed(0)} % by req/s, ${(capacity * 100).toFixed(0)} % by CPU per push`,
        Math.min(throughput, capacity) >= 0.5 ? 'met' : 'NOT met',
      ]);

      // (b) the fleet's pace, in interleaved rounds whose pushes are pooled
      const open: Record<(typeof MODES)[number], OpenRound[]> = { bare: [], skein: [] };
      for (let r = 0; r < OPEN_ROUNDS; r++) {
        for (const mode of MODES) {
          open[mode].push(await openLoop(`${transport.name} ${mode} open loop`, servers[mode], fleets[mode], RATE, OPEN_WARM_UP, Math.ceil(OPEN_COUNT / OPEN_ROUNDS)));
        }
      }
      let bareP99 = 0;
      for (const mode of MODES) {
        const run = pooled(open[mode]);
        const started = open[mode].reduce((n, r) => n + r.server.handled, 0) / open[mode].reduce((t, r) => t + r.startingSeconds, 0);
        const lag = pooled(open[mode].map((r) => ({ ...r, latencies: r.lag }))).p99;
        // A stall from elsewhere on a shared machine spoils the round it falls in; the median of
        // the rounds' p99s is the figure judged, the pooled p99 is shown beside it.
        const roundP99s = open[mode].map((r) => pooled([r]).p99).sort((a, b) => a - b);
        const p99 = median(roundP99s);
        const byRound = `${ms(roundP99s[0]!)} – ${ms(roundP99s[roundP99s.length - 1]!)}`;
        openRows.push([transport.name, serverName(transport.name, mode), count(run.pushes), count(started), ms(run.p50), ms(p99), byRound, ms(run.p99), ms(run.max), ms(lag), ms(run.server.loopDelayP99Ms!), perPush(run), busy(run)]);
        if (mode === 'bare') bareP99 = p99;
        else {
          report.figure(`${transport.name}: receiver p99 at ${count(RATE)} req/s (median of rounds)`, p99, 'ms');
          report.figure(`${transport.name}: receiver p99 at ${count(RATE)} req/s (all rounds pooled)`, run.p99, 'ms');
          const held = started >= RATE * 0.95;
          verdicts.push([
            `${transport.name}: p99 < 5 ms at ${count(RATE)} req/s`,
            `${ms(p99)} at ${count(started)} req/s, median of ${OPEN_ROUNDS} rounds (bare server: ${ms(bareP99)}); pooled ${ms(run.p99)}`,
            !held ? 'NOT met (the generator did not hold the rate)' : p99 < 5 ? 'met' : 'NOT met',
          ]);
        }
      }
    } finally {
      await Promise.all([fleets.bare.close(), fleets.skein.close()]);
    }
  }
} finally {
  await Promise.all([servers.bare.stop(), servers.skein.stop()]);
}

report.table({
  title: `(a) Closed loop: ${count(AGENTS)} agents on keep-alive connections, each pushing again on its answer (median of ${ROUNDS} interleaved rounds of ${ROUND_MS / 1000} s)`,
  columns: ['transport', 'server', 'pushes', 'req/s', 'p50', 'p99', 'server CPU / push', 'server event loop busy'],
  rows: closedRows,
});
report.table({
  title: `(b) Open loop: ${count(OPEN_COUNT)} pushes started at ${count(RATE)}/s over ${count(AGENTS)} connections (${OPEN_ROUNDS} interleaved rounds, each after ${count(OPEN_WARM_UP)} unmeasured pushes)`,
  columns: ['transport', 'server', 'pushes', 'started/s', 'p50', 'p99 (median of rounds)', 'p99 by round', 'p99 pooled', 'max', 'generator lag p99', 'server loop delay p99', 'server CPU / push', 'server event loop busy'],
  rows: openRows,
});
report.table({ title: 'Targets', columns: ['target', 'measured', 'verdict'], rows: verdicts });
report.finish();
