/**
 * The server side of fleet/push-path, run by push-path.bench.ts in a child process of its own so
 * that the load generator never runs on the server's event loop.
 *
 *   node bench/fleet/fleet-server.ts receiver  # otlp (HTTP) → no-op exporter: the floor
 *   node bench/fleet/fleet-server.ts fleet     # otlp + threshold_headers → threshold → no-op, memory threshold_store
 *   node bench/fleet/fleet-server.ts default   # configs/default.yaml as `npm start` runs it, on free ports
 *   node bench/fleet/fleet-server.ts fleet --prefill=cluster-0:90000
 *                                              # fleet, its store first given 90,000 silent nodes in cluster-0
 *
 * Over IPC it sends `{ready: {http}}` (a port on 127.0.0.1), and answers `begin` and `end` with
 * what it did in between: points the receiver's pipelines accepted, CPU time, event-loop
 * utilisation. `settle` runs a full collection (when started with --expose-gc) and answers
 * `settled`. It exits when its parent disconnects.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { loadBuiltins } from '@skein/cli/distribution';
import { defineExporter, MetricsRegistry, Type } from '@skein/core';
import { startService } from '@skein/core/testing';
import type { ThresholdStoreExtension } from '@skein/extension-threshold-store';
import type { OtlpReceiver } from '@skein/receiver-otlp';

export type FleetServerMode = 'receiver' | 'fleet' | 'default';

export interface Ready {
  ready: { http: number };
}

/** What the server did between `begin` and `end`. */
export interface Interval {
  /** Points the OTLP receiver's pipelines accepted (one per push). */
  handled: number;
  /** User + system CPU of the whole process (all its threads), µs. */
  cpuUs: number;
  /** Share of the interval the event loop was busy, 0…1. */
  elu: number;
  /** Requests the receiver itself timed (from their headers to the reply), and those it answered within 5 ms. */
  timed: number;
  within5ms: number;
  /** How late the server's event loop ran its timers (perf_hooks, 1 ms resolution): p99 and max, ms. */
  loopDelayP99: number;
  loopDelayMax: number;
}

const mode = process.argv[2] as FleetServerMode;
if (mode !== 'receiver' && mode !== 'fleet' && mode !== 'default') throw new Error(`usage: fleet-server.ts receiver|fleet|default, got ${JSON.stringify(process.argv[2])}`);
if (!process.send) throw new Error('fleet-server.ts runs as a child of push-path.bench.ts (it needs an IPC channel)');

/** Drops every batch: what is measured is everything in front of the exporter. */
const noop = defineExporter({
  type: 'noop',
  description: 'Drops every batch (benchmarks).',
  stability: 'development',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create: () => ({ consume: async () => {} }),
});

/**
 * `--prefill=<cluster>:<n>`: n nodes that never push are put in the store before the agents
 * start, so the agents' pushes land in a cluster that size. They stand for the rest of a large
 * cluster; the ttl is raised to 10 minutes so that they stay active for the whole bench.
 */
const prefillArg = process.argv.find((a) => a.startsWith('--prefill='))?.slice('--prefill='.length);
const prefill = prefillArg === undefined ? undefined : { cluster: prefillArg.slice(0, prefillArg.lastIndexOf(':')), nodes: Number(prefillArg.slice(prefillArg.lastIndexOf(':') + 1)) };
if (prefill && (mode !== 'fleet' || prefill.cluster === '' || !Number.isSafeInteger(prefill.nodes) || prefill.nodes < 1)) {
  throw new Error(`--prefill=<cluster>:<nodes> applies to mode fleet, got ${JSON.stringify(prefillArg)} for ${mode}`);
}

const FLEET = `
extensions:
  threshold_store: {ttl: ${prefill ? '10m' : '30s'}}
  threshold_headers: {store: threshold_store}
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:0", middlewares: [threshold_headers]}
processors:
  threshold: {store: threshold_store, statistical_min: 10}
exporters:
  noop: {}
service:
  extensions: [threshold_store, threshold_headers]
  pipelines:
    metrics: {receivers: [otlp], processors: [threshold], exporters: [noop]}
`;

const RECEIVER = `
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:0"}
exporters:
  noop: {}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [noop]}
`;

/** configs/default.yaml with every listener on a free port, so a running `npm start` does not clash. */
function defaultConfig(): string {
  const text = readFileSync(new URL('../../configs/default.yaml', import.meta.url), 'utf8');
  return text.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:0');
}

const registry = new MetricsRegistry();
const yaml = mode === 'receiver' ? RECEIVER : mode === 'fleet' ? FLEET : defaultConfig();
const service = await startService(yaml, [...(await loadBuiltins()).map((b) => b.factory), noop], { registry });
const receiver = service.getComponent<OtlpReceiver>('receivers', 'otlp')!;
if (prefill) {
  const store = service.getComponent<ThresholdStoreExtension>('extensions', 'threshold_store')!;
  for (let i = 0; i < prefill.nodes; i++) {
    const outcome = store.record(prefill.cluster, `silent-${String(i).padStart(6, '0')}`, 0.5 + ((i * 7919) % 1000) / 2000);
    if (outcome !== 'accepted') throw new Error(`prefill: node ${i} of ${prefill.nodes} was refused (${outcome})`);
  }
  await store.refresh();
}
const handled = () => registry.sum('skein_receiver_accepted_points_total', { receiver: 'otlp' });

/** The receiver's own request-duration histogram: its count, and its 5 ms bucket. */
function durations(): { timed: number; within5ms: number } {
  const text = registry.expose();
  const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    timed: read(/^skein_receiver_request_duration_seconds_count\{[^}]*transport="http"[^}]*\} (\S+)$/m),
    within5ms: read(/^skein_receiver_request_duration_seconds_bucket\{[^}]*transport="http"[^}]*le="0\.005"\} (\S+)$/m),
  };
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

let from: { handled: number; cpu: NodeJS.CpuUsage; elu: EventLoopUtilization; timed: number; within5ms: number } | undefined;
process.on('message', (msg: 'begin' | 'end' | 'settle') => {
  if (msg === 'settle') {
    globalThis.gc?.();
    process.send!('settled');
  } else if (msg === 'begin') {
    loopDelay.reset();
    from = { handled: handled(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), ...durations() };
    process.send!('begun');
  } else if (msg === 'end' && from) {
    const cpu = process.cpuUsage(from.cpu);
    const d = durations();
    const interval: Interval = {
      handled: handled() - from.handled,
      cpuUs: cpu.user + cpu.system,
      elu: performance.eventLoopUtilization(from.elu).utilization,
      timed: d.timed - from.timed,
      within5ms: d.within5ms - from.within5ms,
      // The monitor's timer fires `resolution` late by design; what is above that is delay.
      loopDelayP99: Math.max(0, loopDelay.percentile(99) / 1e6 - 1),
      loopDelayMax: Math.max(0, loopDelay.max / 1e6 - 1),
    };
    process.send!(interval);
  }
});
// The parent went away (finished, or crashed): stop rather than linger with open ports.
process.on('disconnect', () => {
  void service.shutdown().finally(() => process.exit(0));
});
process.send({ ready: { http: receiver.httpAddress!.port } } satisfies Ready);
