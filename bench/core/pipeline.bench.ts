/**
 * What the framework itself costs on the hot path: a real Service (source receiver →
 * pass-through processor → no-op exporter), so every batch crosses the wrappers the graph
 * builder adds (point counting, self-metric counters, the pipeline entry, fan-out when there
 * are several exporters) and nothing else.
 *
 *   (a) throughput in data points per second, for 1-point and 1,000-point batches;
 *   (b) per-batch cost of that pipeline as a ratio to building the batch, with a direct
 *       call to the no-op exporter as the floor.
 */
import {
  countDataPoints,
  defineExporter,
  defineProcessor,
  SelfMetricNames,
  Type,
  type Exporter,
  type RequestContext,
} from '@skein/core';
import { sourceReceiver, startService } from '@skein/core/testing';
import { compare, COMPARE_LIMITS, do_not_optimize, drive, type Drive } from '../lib/measure.ts';
import { agentPush, bigBatch, expectPoints } from '../lib/payload.ts';
import { count, duration, ratio, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);
const noConfig = Type.Object({}, { additionalProperties: false });

/** Accepts every batch and does nothing with it. Keeps its instances for the floor measurement. */
const noopInstances: Exporter[] = [];
const noopExporter = defineExporter({
  type: 'noop',
  description: 'Accepts and drops every batch (benchmarks).',
  stability: 'development',
  configSchema: noConfig,
  create: () => {
    const exporter: Exporter = { async consume() {} };
    noopInstances.push(exporter);
    return exporter;
  },
});

/** Hands every batch on untouched (and says so: it does not mutate). */
const passThrough = defineProcessor({
  type: 'passthrough',
  description: 'Passes every batch on unchanged (benchmarks).',
  stability: 'development',
  configSchema: noConfig,
  create: (_s, next) => ({ mutatesData: false, consume: (batch, ctx) => next.consume(batch, ctx) }),
});

const ONE_EXPORTER = `
receivers: {source: {}}
processors: {passthrough: {}}
exporters: {noop: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [passthrough], exporters: [noop]}
`;
const TWO_EXPORTERS = `
receivers: {source: {}}
processors: {passthrough: {}}
exporters: {noop: {}, noop/2: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [passthrough], exporters: [noop, noop/2]}
`;

// Prebuilt batches, pushed round-robin: the pipeline only reads them, so they can be reused.
const SIZES = [
  { points: 1, pool: Array.from({ length: 1024 }, (_, i) => expectPoints(agentPush({ host: `node-${i}` }), 1)), build: () => agentPush() },
  { points: 1000, pool: Array.from({ length: 16 }, () => expectPoints(bigBatch(1000), 1000)), build: () => bigBatch(1000) },
];
/** Bounds of one load round, whichever comes first, and how many rounds per case. */
const LOAD = { count: 2_000_000, maxMs: 300 };
const ROUNDS = 5;
const WARM_UP = { count: 200_000, maxMs: 500 };

const ctx = (): RequestContext => ({ transport: 'internal' });

async function pipeline(yaml: string) {
  const source = sourceReceiver();
  noopInstances.length = 0;
  const service = await startService(yaml, [source.factory, passThrough, noopExporter]);
  const entry = source.consumers.get('source')!;
  return { service, entry, exporters: [...noopInstances] };
}

/** Points the exporters' framework counters saw: proof that the pushes went all the way through. */
function sentPoints(service: Awaited<ReturnType<typeof pipeline>>['service']): number {
  return service.registry.sum(SelfMetricNames.exporterSent);
}

// (a) throughput
const one = await pipeline(ONE_EXPORTER);
const throughput: (string | number)[][] = [];
// Warm up with both sizes first, so neither is measured on code tuned to only one shape.
for (const { pool } of SIZES) await drive((i) => one.entry.consume(pool[i & (pool.length - 1)]!, ctx()), WARM_UP);
for (const size of SIZES) {
  const { pool, points, build } = size;
  const mask = pool.length - 1;
  // Prebuilt: the pipeline alone. Built per push: what a receiver that decodes each request pays too.
  const modes = [
    { mode: 'prebuilt', push: (i: number) => one.entry.consume(pool[i & mask]!, ctx()) },
    { mode: 'built per push', push: () => one.entry.consume(build(), ctx()) },
  ];
  for (const { mode, push } of modes) {
    const before = sentPoints(one.service);
    // Several short rounds, reporting the median one: a neighbour stealing the CPU spoils one
    // round, not the figure.
    const rounds: Drive[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await drive(push, LOAD));
    const batches = rounds.reduce((n, r) => n + r.iterations, 0);
    const typical = rounds.map((r) => r.elapsedNs / r.iterations).sort((a, b) => a - b)[ROUNDS >> 1]!;
    const seconds = rounds.reduce((t, r) => t + r.elapsedNs, 0) / 1e9;
    const pointsPerSecond = (points * 1e9) / typical;
    throughput.push([count(points), mode, count(batches), `${seconds.toFixed(2)} s`, count(1e9 / typical), count(pointsPerSecond), duration(typical)]);
    report.figure(`throughput, ${count(points)}-point batches, ${mode}`, pointsPerSecond / 1e6, 'M points/s');
    const pushed = sentPoints(one.service) - before;
    if (pushed !== batches * points) throw new Error(`the exporter counted ${pushed} points, expected ${batches * points}`);
  }
}
report.table({
  title: `(a) Throughput: source → pass-through processor → no-op exporter, one push in flight (median of ${ROUNDS} rounds)`,
  columns: ['points/batch', 'batches', 'pushed', 'elapsed', 'batches/s', 'points/s', 'per batch'],
  rows: throughput,
});

// (b) per-batch cost: build vs. push vs. the floor, interleaved so that each ratio is taken
// within one round
const two = await pipeline(TWO_EXPORTERS);
const cost: (string | number)[][] = [];
for (const size of SIZES) {
  const { pool, points, build } = size;
  const mask = pool.length - 1;
  let i = 0;
  const label = `${count(points)}-point`;
  const { timings, ratios } = await compare([
    { name: `${label}: build the batch (builders)`, fn: () => do_not_optimize(build()) },
    { name: `${label}: no-op exporter, direct call (floor)`, fn: () => one.exporters[0]!.consume(pool[i++ & mask]!, ctx()) },
    { name: `${label}: through the pipeline`, fn: () => one.entry.consume(pool[i++ & mask]!, ctx()) },
    { name: `${label}: through the pipeline, 2 exporters (fan-out)`, fn: () => two.entry.consume(pool[i++ & mask]!, ctx()) },
  ]);
  timings.forEach((t, k) => {
    report.record(t);
    cost.push([label, t.name.slice(label.length + 2), duration(t.avgNs), duration(t.p50Ns), duration(t.p99Ns), `${ratio(ratios[k]!)}×`]);
  });
  const [, floor, pushed, fanned] = [0, 1, 2, 3].map((k) => ratios[k]!);
  report.figure(`${label}: pipeline / build`, pushed!, '× build');
  report.figure(`${label}: (pipeline − floor) / build`, pushed! - floor!, '× build');
  report.figure(`${label}: framework wrapping (pipeline − floor)`, timings[2]!.p50Ns - timings[1]!.p50Ns, 'ns');
  report.figure(`${label}: fan-out to 2 / 1 exporter`, fanned! / pushed!, '×');
}
report.table({
  title: `(b) Per-batch cost, relative to building the batch (${COMPARE_LIMITS.rounds} interleaved rounds; ÷ build is the median of per-round ratios of medians)`,
  columns: ['batch', 'what', 'mean', 'median', 'p99', '÷ build'],
  rows: cost,
});

// A last check that the measured calls carried what they claim to.
const sample = SIZES[1]!.pool[0]!;
const beforeCheck = sentPoints(two.service);
await two.entry.consume(sample, ctx());
if (sentPoints(two.service) - beforeCheck !== 2 * countDataPoints(sample)) throw new Error('fan-out did not deliver to both exporters');

await one.service.shutdown();
await two.service.shutdown();
report.finish();
