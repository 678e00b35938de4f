/**
 * `skein run` as operators drive it: SIGTERM/SIGINT drain within the grace period, SIGHUP
 * reloads. Each test spawns the real command and follows it through its JSON log lines, its
 * self-metrics and the files a test exporter (testdata/count-file-exporter.ts) appends to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningSkein, TESTDATA, until, type LogLine } from './helpers.ts';

const COUNT_FILE_PLUGIN = join(TESTDATA, 'count-file-exporter.ts');

interface Options {
  /** The file the count_file exporter appends to. */
  out: string;
  /** The batch processor's timeout: `1h` keeps data in it until shutdown. */
  batchTimeout?: string;
  hangOnShutdown?: boolean;
  shutdownTimeout?: string;
  /** Extra exporters listed in the pipeline (to make the config invalid). */
  alsoExportTo?: string[];
}

/** Block style, one key a line, so a test can point at a line and column. */
function config(o: Options): string {
  const exporters = ['count_file', ...(o.alsoExportTo ?? [])].join(', ');
  return `receivers:
  heartbeat:
    interval: 20ms
processors:
  batch:
    timeout: ${o.batchTimeout ?? '1h'}
exporters:
  count_file:
    path: ${JSON.stringify(o.out)}
    hang_on_shutdown: ${o.hangOnShutdown ?? false}
service:
  shutdown_timeout: ${o.shutdownTimeout ?? '10s'}
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    metrics:
      receivers: [heartbeat]
      processors: [batch]
      exporters: [${exporters}]
`;
}

/** The point counts the exporter wrote to `file`, one per batch. */
function counts(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}
const total = (file: string) => counts(file).reduce((a, b) => a + b, 0);

/** Heartbeat points the batch processor has accepted, from the self-metrics endpoint. */
async function acceptedPoints(address: string): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const m = /^skein_receiver_accepted_points_total\{[^}]*receiver="heartbeat"[^}]*\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Polls the self-metrics until at least one heartbeat point sits in the pipeline; returns the count. */
async function waitForAccepted(skein: RunningSkein, running: LogLine): Promise<number> {
  const address = running.telemetry as string;
  let n = 0;
  const deadline = Date.now() + 30_000;
  while ((n = await acceptedPoints(address)) === 0) {
    if (Date.now() > deadline) throw new Error(`no heartbeat accepted\n${skein.describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return n;
}

function setup(t: { after(fn: () => unknown): void }, initial: Options | ((dir: string) => Options)) {
  const dir = mkdtempSync(join(tmpdir(), 'skein-signals-'));
  const file = join(dir, 'skein.yaml');
  const opts = typeof initial === 'function' ? initial(dir) : initial;
  writeFileSync(file, config(opts));
  const skein = new RunningSkein(['--config', file, '--plugin', COUNT_FILE_PLUGIN]);
  t.after(async () => {
    await skein.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, skein };
}

const isRunning = (l: LogLine) => l.msg === 'skein is running';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} drains the data held in the batch processor to the exporter, then exits 0`, async (t) => {
    const { dir, skein } = setup(t, (d) => ({ out: join(d, 'out.txt') }));
    const out = join(dir, 'out.txt');
    const running = await skein.waitForLog(isRunning, '"skein is running"');
    const accepted = await waitForAccepted(skein, running);
    assert.deepEqual(counts(out), [], 'with a 1h batch timeout nothing is exported before shutdown');

    skein.signal(signal);
    const { code } = await skein.exited;
    assert.equal(code, 0, skein.describe());
    assert.ok(total(out) >= accepted, `exported ${total(out)} points, but ${accepted} were accepted before ${signal}`);
    const draining = skein.logs.find((l) => l.msg === 'draining pipelines');
    assert.equal(draining?.signal, signal);
    assert.ok(skein.logs.some((l) => l.msg === 'skein stopped'), skein.describe());
  });
}

test('a component that never finishes shutting down: exit 1 with SKEIN_ERR_SHUTDOWN_TIMEOUT after the grace period', async (t) => {
  const { dir, skein } = setup(t, (d) => ({ out: join(d, 'out.txt'), hangOnShutdown: true, shutdownTimeout: '500ms' }));
  const running = await skein.waitForLog(isRunning, '"skein is running"');
  const accepted = await waitForAccepted(skein, running);

  skein.signal('SIGTERM');
  const { code } = await skein.exited;
  assert.equal(code, 1, skein.describe());
  const timeout = skein.logs.find((l) => l.code === 'SKEIN_ERR_SHUTDOWN_TIMEOUT');
  assert.ok(timeout, `no SKEIN_ERR_SHUTDOWN_TIMEOUT in the log:\n${skein.describe()}`);
  assert.equal(timeout.level, 'error');
  assert.equal(timeout.msg, 'pipelines did not drain within 500ms; exiting anyway');
  assert.ok(!skein.logs.some((l) => l.msg === 'skein stopped'));
  // The processor drained before the exporter hung.
  assert.ok(total(join(dir, 'out.txt')) >= accepted);
});

test('SIGHUP with a valid changed config drains the old graph and runs the new one', async (t) => {
  const { dir, file, skein } = setup(t, (d) => ({ out: join(d, 'a.txt') }));
  const a = join(dir, 'a.txt');
  const b = join(dir, 'b.txt');
  const running = await skein.waitForLog(isRunning, '"skein is running"');
  const accepted = await waitForAccepted(skein, running);

  writeFileSync(file, config({ out: b, batchTimeout: '10ms' }));
  const mark = skein.logs.length;
  skein.signal('SIGHUP');
  await skein.waitForLog((l) => l.msg === 'config reloaded', '"config reloaded"', mark);

  // The old graph was shut down before the reload was logged: what it held went to a.txt.
  const drained = counts(a);
  assert.ok(drained.reduce((x, y) => x + y, 0) >= accepted, `a.txt has ${drained}, but ${accepted} were accepted`);
  await until(() => counts(b).length >= 2, 'two batches in b.txt', () => skein.describe());
  assert.deepEqual(counts(a), drained, 'the old exporter kept writing after the reload');
  assert.ok(
    skein.logs.slice(mark).some(isRunning),
    'the new graph logs "skein is running" when it starts',
  );

  skein.signal('SIGTERM');
  assert.equal((await skein.exited).code, 0, skein.describe());
});

test('SIGHUP with an invalid config logs the exact problem and keeps the old graph running', async (t) => {
  const { dir, file, skein } = setup(t, (d) => ({ out: join(d, 'out.txt'), batchTimeout: '10ms' }));
  const out = join(dir, 'out.txt');
  await skein.waitForLog(isRunning, '"skein is running"');
  await until(() => counts(out).length >= 1, 'a first batch', () => skein.describe());

  const invalid = config({ out, batchTimeout: '10ms', alsoExportTo: ['missing'] });
  writeFileSync(file, invalid);
  const lines = invalid.split('\n');
  const line = lines.findIndex((l) => l.includes('missing'));
  const col = lines[line]!.indexOf('missing') + 1;
  const mark = skein.logs.length;
  skein.signal('SIGHUP');
  const rejected = await skein.waitForLog((l) => l.msg === 'new config rejected; the running pipelines are unchanged', '"new config rejected"', mark);
  assert.equal(rejected.level, 'error');
  assert.deepEqual(rejected.issues, [
    `${file}:${line + 1}:${col}: service::pipelines::metrics::exporters::1: exporter "missing" is not declared; declared exporters and connectors: count_file`,
  ]);

  const before = counts(out).length;
  await until(() => counts(out).length > before, 'data to keep arriving after the rejected reload', () => skein.describe());
  assert.ok(!skein.logs.slice(mark).some((l) => l.msg === 'config reloaded'));

  skein.signal('SIGTERM');
  assert.equal((await skein.exited).code, 0, skein.describe());
});

/** heartbeat → debug behind a `slow_start` extension that starts only once `release` exists. */
function slowStart(t: { after(fn: () => unknown): void }, shutdownTimeout: string) {
  const dir = mkdtempSync(join(tmpdir(), 'skein-signals-'));
  const file = join(dir, 'skein.yaml');
  const release = join(dir, 'release');
  writeFileSync(
    file,
    `plugins: [${JSON.stringify(join(TESTDATA, 'slow-start-extension.ts'))}]
extensions:
  slow_start: {release_file: ${JSON.stringify(release)}}
receivers:
  heartbeat: {interval: 1h}
exporters:
  debug: {}
service:
  shutdown_timeout: ${shutdownTimeout}
  extensions: [slow_start]
  telemetry: {metrics: {address: "127.0.0.1:0"}}
  pipelines:
    metrics: {receivers: [heartbeat], exporters: [debug]}
`,
  );
  const skein = new RunningSkein(['--config', file]);
  t.after(async () => {
    await skein.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return { skein, release };
}

test('SIGTERM while the service is still starting: it finishes starting, drains and exits 0', async (t) => {
  const { skein, release } = slowStart(t, '10s');
  await skein.waitForLog((l) => l.msg === 'slow start waiting', '"slow start waiting"');
  skein.signal('SIGTERM');
  await skein.waitForLog((l) => l.msg === 'draining pipelines', '"draining pipelines"');
  writeFileSync(release, '');
  assert.deepEqual(await skein.exited, { code: 0, signal: null }, skein.describe());
  assert.ok(skein.logs.some((l) => l.msg === 'skein stopped'), skein.describe());
});

test('SIGTERM while a start never finishes: exit 1 with SKEIN_ERR_SHUTDOWN_TIMEOUT after the grace period', async (t) => {
  const { skein } = slowStart(t, '300ms');
  await skein.waitForLog((l) => l.msg === 'slow start waiting', '"slow start waiting"');
  skein.signal('SIGTERM');
  assert.deepEqual(await skein.exited, { code: 1, signal: null }, skein.describe());
  assert.ok(skein.logs.some((l) => l.code === 'SKEIN_ERR_SHUTDOWN_TIMEOUT'), skein.describe());
});
