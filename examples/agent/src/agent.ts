#!/usr/bin/env node
/**
 * A fleet agent: it pushes its health score to Skein every interval over OTLP (HTTP or gRPC)
 * with its `cluster_id`, learns the cluster's threshold from each reply's headers, and says
 * whether it is below it. On a cold start, before its first push has been answered, it asks
 * the threshold API instead.
 *
 *   npx node examples/agent/src/agent.ts --protocol grpc --cluster demo --node n1 --score walk
 *
 * Prints one line per reply: `node n1 score 0.82 threshold 0.61 quorum true: above`.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { DEFAULT_HEADERS, GrpcThresholdExporter, HttpThresholdExporter, parseThresholdHeaders, type HeaderNames, type PushResult, type ThresholdReply } from './exporters.ts';

export { DEFAULT_HEADERS, GrpcThresholdExporter, HttpThresholdExporter, parseThresholdHeaders, type HeaderNames, type PushResult, type ThresholdReply } from './exporters.ts';

export type Protocol = 'http' | 'grpc';

/** Where the agent's score comes from: read once per push. */
export type ScoreSource = () => number;

export interface AgentOptions {
  protocol: Protocol;
  /** HTTP: the OTLP/HTTP base URL (`/v1/metrics` is added). gRPC: `host:port`. */
  endpoint: string;
  cluster: string;
  node: string;
  intervalMs: number;
  score: ScoreSource;
  /** The threshold API for the cold start. Default: `/api/v1/threshold` on the HTTP endpoint, or on port 4318 of the gRPC host. */
  api?: string;
  headers?: HeaderNames;
  /** Where the agent's lines go (default: stdout). */
  print?: (line: string) => void;
}

/** What the agent knows about its cluster, and where it learnt it. */
export interface ThresholdState extends ThresholdReply {
  source: 'api' | 'headers';
  /** When it was learnt (ms since the epoch). */
  at: number;
}

export interface Agent {
  readonly node: string;
  /** Undefined until the API or a reply has answered. */
  readonly state: ThresholdState | undefined;
  /** The score of the last push (or the first score, before any push). */
  readonly score: number;
  /** Settles when the cold-start API request has (whether it answered or not). */
  readonly coldStart: Promise<void>;
  /** Pushes now, outside the interval; resolves once the reply has been read. */
  pushNow(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_ENDPOINTS: Record<Protocol, string> = { http: 'http://127.0.0.1:4318', grpc: '127.0.0.1:4317' };

/** `below`, `above`, or that there is no threshold yet. */
export function verdict(score: number, s: ThresholdReply): string {
  if (!s.quorumMet) return 'no quorum yet';
  return score < s.threshold ? 'below' : 'above';
}

const shown = (x: number) => String(Math.round(x * 10_000) / 10_000);

export function statusLine(node: string, score: number, s: ThresholdReply, source: ThresholdState['source']): string {
  const line = `node ${node} score ${shown(score)} threshold ${shown(s.threshold)} quorum ${s.quorumMet}: ${verdict(score, s)}`;
  return source === 'api' ? `${line} (from the API: cold start)` : line;
}

export function defaultApiUrl(protocol: Protocol, endpoint: string): string {
  if (protocol === 'http') return new URL('/api/v1/threshold', endpoint).href;
  const host = new URL(`http://${endpoint.replace(/^https?:\/\//, '')}`).hostname;
  return `http://${host.includes(':') ? `[${host}]` : host}:4318/api/v1/threshold`;
}

/** Asks the threshold API; undefined when it cannot be reached or answers something else. */
export async function fetchThreshold(api: string, cluster: string, names: HeaderNames = DEFAULT_HEADERS): Promise<ThresholdReply | undefined> {
  const url = new URL(api);
  url.searchParams.set('cluster_id', cluster);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { threshold?: unknown; quorum_met?: unknown };
    if (typeof body.threshold !== 'number' || typeof body.quorum_met !== 'boolean') {
      // An API behind a proxy that rewrote the body: the headers say the same.
      return parseThresholdHeaders(res.headers.get(names.threshold), res.headers.get(names.quorum));
    }
    return { threshold: body.threshold, quorumMet: body.quorum_met };
  } catch {
    return undefined;
  }
}

export function startAgent(o: AgentOptions): Agent {
  const print = o.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  let score = o.score();
  let state: ThresholdState | undefined;
  let replied = false;
  let warnedNoHeaders = false;

  const onPush = (r: PushResult) => {
    if (r.reply) {
      replied = true;
      state = { ...r.reply, source: 'headers', at: Date.now() };
      print(statusLine(o.node, score, state, 'headers') + (r.ok ? '' : ` (push refused: ${r.error})`));
    } else if (!r.ok) {
      print(`node ${o.node} score ${shown(score)}: push failed: ${r.error}`);
    } else if (!warnedNoHeaders) {
      warnedNoHeaders = true;
      print(`node ${o.node}: the reply has no ${(o.headers ?? DEFAULT_HEADERS).threshold} header; is threshold_headers in the receiver's middlewares?`);
    }
  };
  const timeoutMs = Math.min(o.intervalMs, 10_000);
  const exporterOptions = { cluster: o.cluster, timeoutMs, onPush, ...(o.headers && { headers: o.headers }) };
  const exporter = o.protocol === 'http' ? new HttpThresholdExporter(o.endpoint, exporterOptions) : new GrpcThresholdExporter(o.endpoint, exporterOptions);

  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'skein-agent', 'service.instance.id': o.node, 'host.name': o.node, cluster_id: o.cluster }),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: o.intervalMs, exportTimeoutMillis: timeoutMs })],
  });
  provider
    .getMeter('skein-agent')
    .createObservableGauge('health.score', { description: "This node's health, 0 (broken) to 1 (perfect).", unit: '1' })
    .addCallback((result) => {
      score = o.score();
      result.observe(score);
    });

  // Cold start: nothing is known until the first push is answered, an interval away.
  const api = o.api ?? defaultApiUrl(o.protocol, o.endpoint);
  const coldStart = fetchThreshold(api, o.cluster, o.headers).then((reply) => {
    if (replied) return; // a push's reply came first, and is newer
    if (reply === undefined) {
      print(`node ${o.node}: the threshold API at ${api} did not answer; waiting for the first push's reply`);
      return;
    }
    state = { ...reply, source: 'api', at: Date.now() };
    print(statusLine(o.node, score, state, 'api'));
  });

  return {
    node: o.node,
    get state() {
      return state;
    },
    get score() {
      return score;
    },
    coldStart,
    pushNow: () => provider.forceFlush(),
    async stop() {
      await coldStart;
      await provider.shutdown();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Command line

/** `5s`, `500ms`, `1m`, or seconds as a bare number. */
export function parseInterval(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`--interval must be a duration such as 5s, 500ms or 1m, got ${JSON.stringify(s)}`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms < 10) throw new Error(`--interval must be at least 10ms, got ${JSON.stringify(s)}`);
  return ms;
}

/**
 * `0.82`: always that score. `walk`: a random walk that starts between 0.7 and 0.95.
 * `walk:0.3`: a random walk around 0.3. Walks step by up to ±0.03, drift back toward their
 * centre, and stay within 0…1.
 */
export function parseScore(s: string, random: () => number = Math.random): ScoreSource {
  if (s === 'walk' || s.startsWith('walk:')) {
    const centre = s === 'walk' ? 0.7 + random() * 0.25 : Number(s.slice(5));
    if (!Number.isFinite(centre)) throw new Error(`--score walk:<centre> needs a number, got ${JSON.stringify(s)}`);
    let x = centre;
    let first = true;
    return () => {
      if (first) first = false;
      else x = Math.min(1, Math.max(0, x + 0.1 * (centre - x) + (random() - 0.5) * 0.06));
      return x;
    };
  }
  const fixed = Number(s);
  if (s.trim() === '' || !Number.isFinite(fixed)) throw new Error(`--score must be a number, walk or walk:<centre>, got ${JSON.stringify(s)}`);
  return () => fixed;
}

const USAGE = `usage: npx node examples/agent/src/agent.ts [flags]
  --protocol http|grpc   how to push (default http)
  --endpoint URL         OTLP/HTTP base URL (default http://127.0.0.1:4318) or gRPC host:port (default 127.0.0.1:4317)
  --cluster ID           the cluster_id to push with (default demo)
  --node ID              this node's name, resource attribute host.name (default: the host name)
  --interval D           push every D: 5s, 500ms, 1m (default 5s)
  --score S              a fixed score such as 0.82, walk, or walk:<centre> (default walk)
  --api URL              the threshold API for the cold start (default: /api/v1/threshold on the HTTP port)`;

export function parseAgentArgs(argv: string[]): AgentOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      protocol: { type: 'string', default: 'http' },
      endpoint: { type: 'string' },
      cluster: { type: 'string', default: 'demo' },
      node: { type: 'string', default: hostname() },
      interval: { type: 'string', default: '5s' },
      score: { type: 'string', default: 'walk' },
      api: { type: 'string' },
    },
    strict: true,
  });
  const protocol = values.protocol;
  if (protocol !== 'http' && protocol !== 'grpc') throw new Error(`--protocol must be http or grpc, got ${JSON.stringify(protocol)}`);
  if (values.cluster === '') throw new Error('--cluster must not be empty');
  if (values.node === '') throw new Error('--node must not be empty');
  return {
    protocol,
    endpoint: values.endpoint ?? DEFAULT_ENDPOINTS[protocol],
    cluster: values.cluster,
    node: values.node,
    intervalMs: parseInterval(values.interval),
    score: parseScore(values.score),
    ...(values.api !== undefined && { api: values.api }),
  };
}

/** Runs until SIGINT or SIGTERM. */
export async function runUntilSignal(stop: () => Promise<void>): Promise<void> {
  // The SDK's export timer does not keep the process alive; this does, until a signal.
  const alive = setInterval(() => {}, 1 << 30);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  clearInterval(alive);
  process.stderr.write(`${signal}: stopping\n`);
  await stop();
}

if (import.meta.main) {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  let options: AgentOptions;
  try {
    options = parseAgentArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exit(2);
  }
  const agent = startAgent(options);
  await runUntilSignal(() => agent.stop());
}
