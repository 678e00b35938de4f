/**
 * The default distribution imports a built-in package only when a config declares it. The
 * commands run with testdata/record-imports.ts preloaded, which logs at exit every directory
 * under packages/ the process imported a module from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtins } from '../src/distribution.ts';
import { launchSkein, lines, RunningSkein, SOURCE, TESTDATA, type Launch, type LogLine } from './helpers.ts';

const RECORDING: Launch = { ...SOURCE, nodeArgs: ['--import', join(TESTDATA, 'record-imports.ts')] };
const HEARTBEAT_DEBUG = join(TESTDATA, 'heartbeat-debug.yaml');
/** What a heartbeat → debug pipeline needs: the command, core and its two components. */
const HEARTBEAT_DEBUG_PACKAGES = ['cli', 'core', 'exporter-debug', 'receiver-heartbeat'];

const importedPackages = (logs: LogLine[]) => logs.find((l) => l.msg === 'imported packages')?.packages;

test('each built-in imports the package it names, whose factory has the kind and type it is listed under', async () => {
  for (const b of builtins) {
    const factory = (await b.load()).default;
    assert.equal(factory, ((await import(b.packageName)) as { default: unknown }).default, b.packageName);
    assert.deepEqual([factory.kind, factory.type], [b.kind, b.type], b.packageName);
  }
  assert.equal(new Set(builtins.map((b) => `${b.kind}/${b.type}`)).size, builtins.length);
});

test('skein run imports the packages of the components its config declares, and no others', async (t) => {
  const skein = new RunningSkein(['--config', HEARTBEAT_DEBUG], RECORDING);
  t.after(() => skein.kill());
  await skein.waitForLog((l) => l.msg === 'skein is running', 'skein is running');
  skein.signal('SIGTERM');
  assert.equal((await skein.exited).code, 0, skein.describe());
  assert.deepEqual(importedPackages(skein.logs), HEARTBEAT_DEBUG_PACKAGES, skein.describe());
});

test('skein validate imports only what the config declares; components imports every built-in', () => {
  const valid = launchSkein(RECORDING, ['validate', '--config', HEARTBEAT_DEBUG]);
  assert.equal(valid.stdout, 'config is valid\n');
  assert.deepEqual(importedPackages(lines(valid.stderr).map((l) => JSON.parse(l) as LogLine)), HEARTBEAT_DEBUG_PACKAGES);

  const components = launchSkein(RECORDING, ['components']);
  assert.equal(components.code, 0);
  const imported = importedPackages(lines(components.stderr).map((l) => JSON.parse(l) as LogLine)) as string[];
  for (const b of builtins) assert.ok(imported.includes(b.packageName.replace('@skein/', '')), `${b.packageName} in ${imported.join(', ')}`);
});

test('a reload imports the packages the new config declares', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-distribution-'));
  const file = join(dir, 'skein.yaml');
  writeFileSync(file, readFileSync(HEARTBEAT_DEBUG, 'utf8'));
  const skein = new RunningSkein(['--config', file], RECORDING);
  t.after(async () => {
    await skein.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await skein.waitForLog((l) => l.msg === 'skein is running', 'skein is running');
  writeFileSync(file, readFileSync(HEARTBEAT_DEBUG, 'utf8').replace('exporters: [debug]', 'processors: [batch], exporters: [debug]') + 'processors:\n  batch: {}\n');
  skein.signal('SIGHUP');
  await skein.waitForLog((l) => l.msg === 'config reloaded', 'config reloaded');
  skein.signal('SIGTERM');
  assert.equal((await skein.exited).code, 0, skein.describe());
  assert.deepEqual(importedPackages(skein.logs), [...HEARTBEAT_DEBUG_PACKAGES, 'processor-batch'].sort(), skein.describe());
});
