/**
 * The bridge side by side with a Prometheus agent: each scrapes the same synthetic target every
 * second and remote-writes to the same real Prometheus, one after the other, each for the same
 * measured window. For each sender: samples delivered (counted in the receiving Prometheus, by
 * the sample timestamps that fall in the window), CPU seconds of its process in the window
 * (utime + stime from /proc/<pid>/stat), CPU seconds per million samples, and peak RSS (VmHWM).
 *
 *   npm run bench -- bridge                       # 20,000 series, 30 s windows
 *   npx node bench/bridge/bridge.bench.ts --series 50000 --seconds 60
 *
 * Skein runs as the compiled `skein run` (`npm run bench` builds it; run `npx tsc -b` before
 * running this file on its own) with a generated config: with the persistent queue of
 * configs/bridge.yaml (on disk, like the agent's WAL) and with the memory queue, both with the
 * V8 flags `skein run` applies (NODE_FLAGS in packages/cli/src/node-flags.ts); and with the
 * persistent queue on Node's own defaults (SKEIN_NODE_FLAGS empty). `--flagsets='a;b'` replaces
 * those variants with the persistent queue under each given SKEIN_NODE_FLAGS value (to tune the
 * flags). The generator runs in its own process, so its CPU counts for neither.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requireTool } from '@skein/core/testing';
import { startPrometheus } from '../../packages/exporter-prometheusremotewrite/test/prometheus-server.ts';
import { count, Report } from '../lib/report.ts';

const { values: args } = parseArgs({
  options: {
    series: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    flagsets: { type: 'string' },
  },
});
const SERIES = Number(args.series);
const WINDOW_S = Number(args.seconds);
const WARMUP_S = Number(args.warmup);
/** Samples scraped before the window ends are delivered within this (batch_send_deadline is 5 s for both). */
const DRAIN_S = 12;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const report = new Report(import.meta.url);
const repo = new URL('../../', import.meta.url).pathname;
/**
 * `skein run` as operators run it: the compiled command, so without the skein-source condition
 * `npm run bench` puts in NODE_OPTIONS. `nodeFlags` undefined: the flags `skein run` applies.
 */
const SKEIN = join(repo, 'packages/cli/dist/src/main.js');
function skeinEnv(nodeFlags: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '')
      .split(' ')
      .filter((o) => o !== '--conditions=skein-source')
      .join(' '),
  };
  delete env.SKEIN_NODE_FLAGS;
  if (nodeFlags !== undefined) env.SKEIN_NODE_FLAGS = nodeFlags;
  return env;
}
const dir = mkdtempSync(join(tmpdir(), 'skein-bridge-bench-'));
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  // Fields after the command name (which is in parentheses and may hold spaces): utime is 14th, stime 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function start(cmd: string, argv: string[], name: string, env?: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  const child = spawn(cmd, argv, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) process.stderr.write(`${name} exited with ${code}:\n${log.slice(-2000)}\n`);
  });
  return { child, log: () => log };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

interface Run {
  name: string;
  job: string;
  samples: number;
  cpu: number;
  peakRssMiB: number;
  scrapes: number;
}

const prometheusBin = requireTool('prometheus', 'prometheus');
const store = await startPrometheus();

const generator = start(process.execPath, [join(repo, 'bench/bridge/generator.ts'), '--series', String(SERIES), '--port', '0'], 'generator');
const deadline = Date.now() + 30_000;
while (!/listening (\d+)/.test(generator.log()) && Date.now() < deadline) await sleep(50);
const genPort = Number(/listening (\d+)/.exec(generator.log())?.[1]);
if (!genPort) throw new Error(`the generator did not start:\n${generator.log()}`);
const target = `127.0.0.1:${genPort}`;

/** Delivered samples of `job` whose timestamps fall in (t1 - window, t1], and its scrapes (samples of `up`). */
async function delivered(job: string, t1: number): Promise<{ samples: number; scrapes: number }> {
  // A matrix counted here: count_over_time drops names, so series of different names would collide.
  const expr = `{job="${job}"}[${WINDOW_S * 1000}ms]`;
  const res = await fetch(`${store.url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${t1 / 1000}`);
  const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; values: unknown[] }[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  let samples = 0;
  let scrapes = 0;
  for (const r of body.data.result) {
    samples += r.values.length;
    if (r.metric.__name__ === 'up') scrapes = r.values.length;
  }
  return { samples, scrapes };
}

/** Runs one sender: warm up, measure a window, let it drain, count what arrived. */
async function measure(name: string, job: string, launch: () => { child: ChildProcess; log: () => string }): Promise<Run> {
  const { child, log } = launch();
  const pid = child.pid!;
  await sleep(WARMUP_S * 1000);
  if (child.exitCode !== null) throw new Error(`${name} exited:\n${log().slice(-3000)}`);
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  let peakRss = 0;
  while (Date.now() - t0 < WINDOW_S * 1000) {
    await sleep(250);
    peakRss = Math.max(peakRss, statusKiB(pid, 'VmRSS'));
  }
  const cpu1 = cpuSeconds(pid);
  const t1 = Date.now();
  peakRss = Math.max(peakRss, statusKiB(pid, 'VmHWM'));
  await sleep(DRAIN_S * 1000);
  const { samples, scrapes } = await delivered(job, t1);
  await stop(child);
  return { name, job, samples, cpu: cpu1 - cpu0, peakRssMiB: peakRss / 1024, scrapes };
}

function skeinConfig(job: string, persistent: boolean, telemetryPort: number): string {
  return `
receivers:
  prometheus:
    scrape_configs:
      - job_name: ${job}
        scrape_interval: 1s
        static_configs: [{targets: ["${target}"]}]
exporters:
  prometheusremotewrite:
    endpoint: ${store.writeUrl}
    add_metric_suffixes: false
    target_info: {enabled: false}
    queue: {capacity: 2000000${persistent ? `, directory: ${join(dir, `queue-${job}`)}` : ''}}
service:
  pipelines:
    metrics: {receivers: [prometheus], exporters: [prometheusremotewrite]}
  telemetry:
    metrics: {address: 127.0.0.1:${telemetryPort}}
    logs: {level: warn}
`;
}

const runs: Run[] = [];
const wanted = (name: string) => args.only === undefined || name.includes(args.only);
try {
  if (wanted('agent')) {
    const agentDir = join(dir, 'agent');
    const agentConfig = join(dir, 'agent.yml');
    writeFileSync(
      agentConfig,
      `global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: agent
    static_configs: [{targets: ["${target}"]}]
remote_write:
  - url: ${store.writeUrl}
`,
    );
    const port = await freePort();
    runs.push(
      await measure('Prometheus agent', 'agent', () =>
        start(prometheusBin, ['--enable-feature=agent', `--config.file=${agentConfig}`, `--storage.agent.path=${agentDir}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], 'agent'),
      ),
    );
  }
  const variants: { name: string; job: string; persistent: boolean; nodeFlags?: string }[] =
    args.flagsets === undefined
      ? [
          { name: 'Skein, persistent queue', job: 'skein_disk', persistent: true },
          { name: 'Skein, memory queue', job: 'skein_memory', persistent: false },
          { name: "Skein, persistent queue, Node's defaults", job: 'skein_node_defaults', persistent: true, nodeFlags: '' },
        ]
      : args.flagsets.split(';').map((f, i) => ({ name: `Skein, persistent queue, SKEIN_NODE_FLAGS='${f}'`, job: `skein_flags${i}`, persistent: true, nodeFlags: f }));
  for (const v of variants) {
    if (!wanted(v.name)) continue;
    const file = join(dir, `${v.job}.yaml`);
    writeFileSync(file, skeinConfig(v.job, v.persistent, await freePort()));
    runs.push(await measure(v.name, v.job, () => start(process.execPath, [SKEIN, 'run', '--config', file], v.name, skeinEnv(v.nodeFlags))));
  }
} finally {
  for (const c of children) await stop(c);
  await store.destroy();
  rmSync(dir, { recursive: true, force: true });
}

const expectedPerScrape = SERIES + 5;
for (const r of runs) {
  // Each scrape is SERIES samples plus the five report series; a sender that lost data cannot be compared.
  if (r.samples !== r.scrapes * expectedPerScrape) {
    throw new Error(`${r.name}: ${r.samples} samples delivered for ${r.scrapes} scrapes; expected ${r.scrapes * expectedPerScrape}`);
  }
}
report.table({
  title: `${count(SERIES)} series scraped every second, ${WINDOW_S} s measured after ${WARMUP_S} s of warm-up`,
  columns: ['sender', 'scrapes', 'samples delivered', 'CPU s', 'CPU s / 1M samples', 'peak RSS'],
  rows: runs.map((r) => [r.name, r.scrapes, count(r.samples), r.cpu.toFixed(2), (r.cpu / (r.samples / 1e6)).toFixed(2), `${r.peakRssMiB.toFixed(0)} MiB`]),
});
const agent = runs.find((r) => r.job === 'agent');
if (agent) {
  for (const r of runs.filter((x) => x !== agent)) {
    report.figure(`${r.name}: CPU per sample`, r.cpu / r.samples / (agent.cpu / agent.samples), '× the agent');
    report.figure(`${r.name}: peak RSS`, r.peakRssMiB / agent.peakRssMiB, '× the agent');
  }
}
report.finish();
