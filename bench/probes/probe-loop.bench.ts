/**
 * What the tcpcheck probe loop costs the process it runs in: CPU and RSS while it probes
 * 1,000 targets at the default 30 s interval, one probe at a time (the defaults).
 *
 * The 1,000 upstreams are loopback listeners in a child process, so their accepts are not
 * billed to the process measured. This process runs a real Service: tcpcheck (1,000 targets,
 * IP literals, so no DNS) → a no-op exporter, with the probes extension keeping the results.
 *
 *   (a) steady state: the real 30 s schedule for `--intervals` whole intervals (default 2,
 *       about 65 s): CPU share and RSS, sampled every 250 ms; skipped with --quick;
 *   (b) per cycle: cycles run back to back (the receiver's runCycle()): CPU per cycle,
 *       extrapolated to a 30 s interval with the idle cost between cycles, and the RSS this
 *       stress reaches (cycles every ~0.1 s instead of every 30 s);
 *   (c) RSS, against the same process before the service started (Skein loaded, idle); with
 *       --config-only, only what loading and checking the 1,000-target config costs.
 *
 * Targets: < 1 % of a core and < 50 MiB RSS for the process.
 */
import { parseArgs } from 'node:util';
import { countDataPoints, defineExporter, Factories, loadConfigText, planGraph, Type, type ReceiverFactory } from '@skein/core';
import { startService } from '@skein/core/testing';
import probesExtension from '@skein/extension-probes';
import type { ProbeReceiver } from '@skein/probe-loop';
import tcpCheckReceiver from '@skein/receiver-tcpcheck';
import { count, ratio, Report } from '../lib/report.ts';
import { startUpstreams } from './upstreams.ts';

const report = new Report(import.meta.url);
const TARGETS = 1000;
const INTERVAL_S = 30;
const CYCLES = 10;
const IDLE_WINDOW_MS = 10_000;
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    intervals: { type: 'string', default: '2' },
    'config-only': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
const INTERVALS = Number(args.intervals);
if (!(INTERVALS >= 1)) throw new Error(`--intervals must be at least 1, got ${args.intervals}`);
const MiB = 2 ** 20;
const MB = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

const gc = () => (typeof globalThis.gc === 'function' ? globalThis.gc() : undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const { ports, process: upstreams } = await startUpstreams(TARGETS);

// Counts what reaches the exporter, so the bench can prove every cycle probed every target.
let emittedPoints = 0;
const noopExporter = defineExporter({
  type: 'noop',
  description: 'Counts and drops every batch (benchmarks).',
  stability: 'development',
  configSchema: Type.Object({}),
  create: () => ({
    async consume(batch) {
      emittedPoints += countDataPoints(batch);
    },
  }),
});
// tcpcheck itself, with the instance kept so the bench can run cycles outside the schedule.
let receiver: ProbeReceiver | undefined;
const capturing: ReceiverFactory<typeof tcpCheckReceiver.configSchema> = {
  ...tcpCheckReceiver,
  create: async (settings, next) => (receiver = (await tcpCheckReceiver.create(settings, next)) as ProbeReceiver),
};

const yaml = `
extensions: {probes: {endpoint: "127.0.0.1:0"}}
receivers:
  tcpcheck:
    collection_interval: ${INTERVAL_S}s
    probes: probes
    targets:
${ports.map((p, i) => `      - {endpoint: "127.0.0.1:${p}", name: upstream-${i}}`).join('\n')}
exporters: {noop: {}}
service:
  extensions: [probes]
  pipelines: {metrics: {receivers: [tcpcheck], exporters: [noop]}}
`;

// Baseline: everything imported and the upstreams up, nothing started.
gc();
await sleep(500);
const baselineRss = process.memoryUsage().rss;

if (args['config-only']) {
  // What reading and checking the config of 1,000 targets costs, with nothing created: a run
  // of its own, since doing it before the service would grow the heap the service then reuses.
  planGraph(loadConfigText(yaml, 'bench.yaml', { env: {} }), new Factories([capturing, probesExtension, noopExporter]));
  const configRss = process.memoryUsage().rss;
  report.table({
    title: `(c) Memory of the process (RSS): the config of ${count(TARGETS)} targets alone`,
    columns: ['while', 'baseline (Skein loaded, idle)', 'after', 'delta', 'after ÷ baseline'],
    rows: [[`config of ${count(TARGETS)} targets loaded and checked, nothing started`, MB(baselineRss), MB(configRss), MB(configRss - baselineRss), `${ratio(configRss / baselineRss)}×`]],
  });
  upstreams.kill();
  report.finish();
  process.exit(0);
}

const service = await startService(yaml, [capturing, probesExtension, noopExporter]);
const checks = () => service.registry.sum('skein_probe_checks_total', { result: 'success' });
const probed = () => service.registry.sum('skein_probe_checks_total');
const cyclesDone = () => service.registry.sum('skein_probe_cycles_total');

// The first cycle starts with the receiver.
// Polled, not awaited through a hook: keep the polling sparse, it runs inside the measured windows.
const waitForCycles = async (n: number, withinMs: number) => {
  const deadline = Date.now() + withinMs;
  while (cyclesDone() < n) {
    if (Date.now() > deadline) throw new Error(`cycle ${n} did not finish within ${withinMs / 1000} s`);
    await sleep(50);
  }
};
await waitForCycles(1, 60_000);
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
const rssRow = (label: string, peak: number) => [label, MB(baselineRss), MB(peak), MB(peak - baselineRss), `${ratio(peak / baselineRss)}×`];
// Parsing and validating a config with 1,000 targets is part of what the service costs at start.
const memoryRows: (string | number)[][] = [rssRow('service started, first cycle done', peakRss)];

if (!args.quick) {
  // From just after the first cycle to just after the INTERVALS-th scheduled one: exactly
  // INTERVALS cycles and the idle time between them.
  const cpuS0 = cpuSeconds();
  const wallS0 = performance.now();
  await sleep(INTERVALS * INTERVAL_S * 1000);
  await waitForCycles(1 + INTERVALS, INTERVAL_S * 1000);
  const cpu = cpuSeconds() - cpuS0;
  const wall = (performance.now() - wallS0) / 1000;
  report.table({
    title: `(a) Steady state on the real ${INTERVAL_S} s schedule, ${count(TARGETS)} targets, max_concurrency 1`,
    columns: ['window', 'cycles', 'CPU', 'CPU share'],
    rows: [[`${wall.toFixed(1)} s`, INTERVALS, `${(cpu * 1000).toFixed(0)} ms`, `${((cpu / wall) * 100).toFixed(3)} % of a core`]],
  });
  report.figure(`CPU on the real ${INTERVAL_S} s schedule`, (cpu / wall) * 100, '% of a core (target < 1)');
  memoryRows.push(rssRow(`steady, ${INTERVALS} × ${INTERVAL_S} s`, peakRss));
  report.figure('RSS added on the real schedule (peak − baseline)', (peakRss - baselineRss) / MiB, 'MiB');
  report.figure('RSS on the real schedule, peak', peakRss / MiB, 'MiB (target < 50)');
}

// Cycles back to back, right after a scheduled one, so none is due while they run.
const cpu0 = cpuSeconds();
const wall0 = performance.now();
for (let i = 0; i < CYCLES; i++) {
  if (!(await receiver!.runCycle())) throw new Error('a scheduled cycle was running; the bench expects none due while it runs cycles back to back');
}
const cycleCpu = (cpuSeconds() - cpu0) / CYCLES;
const cycleWall = (performance.now() - wall0) / 1000 / CYCLES;
clearInterval(sampler);
const stressPeak = Math.max(peakRss, process.memoryUsage().rss);
memoryRows.push(rssRow(`${CYCLES} cycles back to back`, stressPeak));

// Idle between cycles: the whole process (the service's own timers included) while nothing is probed.
const idleCpu0 = cpuSeconds();
await sleep(IDLE_WINDOW_MS);
const idleCpuPerSecond = (cpuSeconds() - idleCpu0) / (IDLE_WINDOW_MS / 1000);

const totalCycles = cyclesDone();
if (checks() !== TARGETS * totalCycles || probed() !== checks()) {
  throw new Error(`expected ${TARGETS * totalCycles} successful probes, counted ${checks()} of ${probed()}`);
}
if (emittedPoints !== 2 * TARGETS * totalCycles) throw new Error(`expected ${2 * TARGETS * totalCycles} emitted points, got ${emittedPoints}`);

const loopShare = cycleCpu / INTERVAL_S;
const extrapolated = (cycleCpu + idleCpuPerSecond * (INTERVAL_S - cycleWall)) / INTERVAL_S;
report.table({
  title: `(b) Per cycle: ${count(TARGETS)} loopback targets, max_concurrency 1, ${CYCLES} cycles back to back`,
  columns: ['cycle wall time', 'CPU per cycle', 'CPU per probe', `loop's share at ${INTERVAL_S} s`, 'idle process between cycles', `process at ${INTERVAL_S} s (extrapolated)`],
  rows: [
    [
      `${(cycleWall * 1000).toFixed(0)} ms`,
      `${(cycleCpu * 1000).toFixed(1)} ms`,
      `${((cycleCpu / TARGETS) * 1e6).toFixed(0)} µs`,
      `${(loopShare * 100).toFixed(3)} % of a core`,
      `${(idleCpuPerSecond * 100).toFixed(3)} % of a core`,
      `${(extrapolated * 100).toFixed(3)} % of a core`,
    ],
  ],
});
report.figure(`CPU of the probe loop at ${INTERVAL_S} s (cycle CPU ÷ interval)`, loopShare * 100, '% of a core');
report.figure(`CPU of the process at ${INTERVAL_S} s, extrapolated`, extrapolated * 100, '% of a core (target < 1)');

report.table({
  title: '(c) Memory of the process (RSS, sampled every 250 ms)',
  columns: ['while', 'baseline (Skein loaded, idle)', 'peak', 'delta', 'peak ÷ baseline'],
  rows: memoryRows,
});
report.figure(`RSS added by ${CYCLES} cycles back to back (peak − baseline)`, (stressPeak - baselineRss) / MiB, 'MiB');

await service.shutdown();
upstreams.kill();
report.finish();
