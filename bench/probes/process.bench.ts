/**
 * The probe loop as deployed: the compiled `skein run` in a process of its own, with
 * tcpcheck probing 1,000 loopback targets at the default 30 s interval (one probe at a time),
 * the probes extension keeping the results, the `debug` exporter at `basic` and self-metrics
 * on; once with the default V8 flags and once with SKEIN_NODE_PROFILE=small. CPU (utime +
 * stime from /proc/<pid>/stat) over `--intervals` whole intervals after the first cycle, and
 * RSS (VmRSS every 250 ms, and VmHWM). In the same script, for scale: an idle Node process
 * (the runtime with nothing loaded), the floor (floor.ts: the same job hand-written with the
 * same libraries, under both flag sets), and `skein run` with the same config and no targets.
 *
 *   npm run bench -- probes/process                   # about 3 minutes
 *   npx node bench/probes/process.bench.ts --intervals 10
 *
 * Run `npx tsc -b` first when running the file on its own: it runs the compiled command.
 * SKEIN_NODE_FLAGS reaches `skein run` as it would in production. Targets: < 1 % of a core and
 * < 50 MiB RSS for the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { count, Report } from '../lib/report.ts';
import { NODE_PROFILES } from '../../packages/cli/src/node-flags.ts';
import { startFloor } from './floor.ts';
import { startUpstreams } from './upstreams.ts';

const report = new Report(import.meta.url);
const { values: args } = parseArgs({
  options: {
    intervals: { type: 'string', default: '2' },
    targets: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
const INTERVALS = Number(args.intervals);
const TARGETS = Number(args.targets);
if (!(INTERVALS >= 1) || !(TARGETS >= 1)) throw new Error('--intervals and --targets must be at least 1');
const INTERVAL_S = 30;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const repo = new URL('../../', import.meta.url).pathname;
const SKEIN = join(repo, 'packages/cli/dist/src/main.js');
const dir = mkdtempSync(join(tmpdir(), 'skein-probes-bench-'));
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
/** Sums the samples of a self-metric family whose labels contain `having`. */
async function selfMetric(port: number, family: string, having = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if ((line.startsWith(`${family}{`) || line.startsWith(`${family} `)) && line.includes(having)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
async function until<T>(what: string, withinMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs / 1000} s`);
    await sleep(100);
  }
}

/** `skein run` as operators run it: compiled, without the skein-source condition of `npm run bench`. */
function skeinRun(config: string, name: string, extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  const env = { ...process.env, ...extraEnv, NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '').split(' ').filter((o) => !o.startsWith('--conditions')).join(' ') };
  const child = spawn(process.execPath, [SKEIN, 'run', '--config', config], { cwd: repo, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    if (children.includes(child)) console.error(`${name} exited early (${code ?? signal}):\n${log}`);
  });
  children.push(child);
  return child;
}
/** RSS peak (sampled every 250 ms) while `during` runs. */
async function sampledPeak(pid: number, during: Promise<unknown>): Promise<number> {
  let peak = statusKiB(pid, 'VmRSS');
  const sampler = setInterval(() => (peak = Math.max(peak, statusKiB(pid, 'VmRSS'))), 250);
  await during;
  clearInterval(sampler);
  return peak;
}
/** The memory columns of a row: RSS peak, VmHWM, anonymous and file-backed RSS now. */
const memoryCells = (pid: number, peak: number) => [MiB(peak), MiB(statusKiB(pid, 'VmHWM')), MiB(statusKiB(pid, 'RssAnon')), MiB(statusKiB(pid, 'RssFile'))];
async function stop(child: ChildProcess): Promise<void> {
  children.splice(children.indexOf(child), 1);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
}

async function config(file: string, ports: number[]): Promise<{ metrics: number; probes: number }> {
  const metrics = await freePort();
  const probes = await freePort();
  if (ports.length === 0) writeFileSync(`${file}.targets.yaml`, '[]\n');
  writeFileSync(
    file,
    `extensions: {probes: {endpoint: "127.0.0.1:${probes}"}}
receivers:
  tcpcheck:
    collection_interval: ${INTERVAL_S}s
    probes: probes
${ports.length === 0 ? `    targets_file: ${JSON.stringify(`${file}.targets.yaml`)}` : '    targets:'}
${ports.map((p, i) => `      - {endpoint: "127.0.0.1:${p}", name: upstream-${i}}`).join('\n')}
exporters: {debug: {verbosity: basic}}
service:
  extensions: [probes]
  telemetry: {metrics: {address: "127.0.0.1:${metrics}"}}
  pipelines: {metrics: {receivers: [tcpcheck], exporters: [debug]}}
`,
  );
  return { metrics, probes };
}

/**
 * Runs `skein run` on the config of `ports` for INTERVALS intervals after its first cycle,
 * checks that every cycle probed every target successfully and the triage API holds them
 * all, and returns its row, its CPU share and its VmHWM.
 */
async function probeRun(label: string, file: string, ports: number[], env: NodeJS.ProcessEnv): Promise<{ row: string[]; share: number; hwm: number }> {
  const p = await config(file, ports);
  const skein = skeinRun(file, label, env);
  const pid = skein.pid!;
  const cycles = () => selfMetric(p.metrics, 'skein_probe_cycles_total');
  await until(`${label}: the first cycle`, 60_000, async () => ((await cycles()) >= 1 ? true : undefined));
  const cpu0 = cpuSeconds(pid);
  const wall0 = performance.now();
  const peak = await sampledPeak(
    pid,
    sleep(INTERVALS * INTERVAL_S * 1000).then(() => until(`${label}: cycle ${1 + INTERVALS}`, INTERVAL_S * 1000, async () => ((await cycles()) >= 1 + INTERVALS ? true : undefined))),
  );
  const cpu = cpuSeconds(pid) - cpu0;
  const wall = (performance.now() - wall0) / 1000;

  const done = await cycles();
  const ok = await selfMetric(p.metrics, 'skein_probe_checks_total', 'result="success"');
  const all = await selfMetric(p.metrics, 'skein_probe_checks_total');
  if (ok !== TARGETS * done || all !== ok) throw new Error(`${label}: expected ${TARGETS * done} successful probes in ${done} cycles, counted ${ok} of ${all}`);
  const api = (await (await fetch(`http://127.0.0.1:${p.probes}/api/v1/probes`)).json()) as { count: number };
  if (api.count !== TARGETS) throw new Error(`${label}: the probes API holds ${api.count} results, expected ${TARGETS}`);

  const share = cpu / wall;
  const hwm = statusKiB(pid, 'VmHWM');
  const row = [label, `${done - 1} in ${wall.toFixed(1)} s`, `${(share * 100).toFixed(2)} %`, ...memoryCells(pid, peak)];
  await stop(skein);
  return { row, share, hwm };
}

/** The floor prober under `flags`, 10 s past its first cycle. */
async function floorRow(label: string, file: string, flags: readonly string[]): Promise<string[]> {
  const floor = await startFloor(file, flags, repo);
  children.push(floor.process);
  if (floor.reachable !== TARGETS) throw new Error(`${label}: ${floor.reachable} of ${TARGETS} targets answered`);
  const peak = await sampledPeak(floor.process.pid!, sleep(10_000));
  const row = [label, '1', '–', ...memoryCells(floor.process.pid!, peak)];
  await stop(floor.process);
  return row;
}

const SMALL = { SKEIN_NODE_PROFILE: 'small' };
const { ports, process: upstreams } = await startUpstreams(TARGETS);
const rows: (string | number)[][] = [];
try {
  // For scale: the runtime alone, idle.
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } });
  children.push(bare);
  await sleep(3000);
  const bareRss = statusKiB(bare.pid!, 'VmRSS');
  rows.push(['node, idle, nothing loaded', '–', '–', ...memoryCells(bare.pid!, bareRss)]);
  await stop(bare);

  // The floor: the same job by hand, with Node's default V8 flags and with the small profile's.
  const file = join(dir, 'probes.yaml');
  await config(file, ports);
  rows.push(await floorRow(`floor (floor.ts), ${count(TARGETS)} targets, Node's defaults`, file, []));
  rows.push(await floorRow(`floor (floor.ts), ${count(TARGETS)} targets, the small profile's flags`, file, NODE_PROFILES.small!));

  // The same config with no targets (an empty targets file): what the process costs before it probes anything.
  const emptyFile = join(dir, 'empty.yaml');
  const empty = await config(emptyFile, []);
  const idle = skeinRun(emptyFile, 'skein run (no targets)');
  await until('skein run (no targets) serving self-metrics', 30_000, () => selfMetric(empty.metrics, 'skein_process_uptime_seconds').then(() => true));
  await sleep(3000);
  const idleCpu0 = cpuSeconds(idle.pid!);
  const idlePeak = await sampledPeak(idle.pid!, sleep(10_000));
  const idleShare = (cpuSeconds(idle.pid!) - idleCpu0) / 10;
  rows.push(['`skein run`, no targets', '–', `${(idleShare * 100).toFixed(2)} %`, ...memoryCells(idle.pid!, idlePeak)]);
  await stop(idle);

  // The measured processes.
  const run = `\`skein run\`, ${count(TARGETS)} targets, ${INTERVALS} × ${INTERVAL_S} s`;
  const byDefault = await probeRun(run, file, ports, {});
  const small = await probeRun(`${run}, SKEIN_NODE_PROFILE=small`, file, ports, SMALL);
  rows.push(byDefault.row, small.row);
  report.table({
    title: `tcpcheck, ${count(TARGETS)} loopback targets every ${INTERVAL_S} s, max_concurrency 1, as a process of its own`,
    columns: ['process', 'cycles measured', 'CPU (share of a core)', 'RSS peak (sampled)', 'VmHWM', 'anonymous RSS at end', 'file-backed RSS at end'],
    rows,
  });
  report.figure('CPU of the process, default flags', byDefault.share * 100, '% of a core (target < 1)');
  report.figure('CPU of the process, SKEIN_NODE_PROFILE=small', small.share * 100, '% of a core (target < 1)');
  report.figure('RSS of the process, VmHWM, default flags', byDefault.hwm / 1024, 'MiB (target < 50)');
  report.figure('RSS of the process, VmHWM, SKEIN_NODE_PROFILE=small', small.hwm / 1024, 'MiB (target < 50)');
  report.figure('VmHWM, small profile ÷ default flags', small.hwm / byDefault.hwm, '×');
} finally {
  for (const c of [...children]) await stop(c);
  upstreams.kill();
  rmSync(dir, { recursive: true, force: true });
}
report.finish();
