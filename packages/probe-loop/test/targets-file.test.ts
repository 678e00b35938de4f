import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry, silentLogger } from '@skein/core';
import { parseTargetsText, TargetsFile } from '../src/targets-file.ts';
import { until } from '../src/testing.ts';

function setup(initial: string) {
  const dir = mkdtempSync(join(tmpdir(), 'targets-file-'));
  const path = join(dir, 'targets.yaml');
  writeFileSync(path, initial);
  const registry = new MetricsRegistry();
  const reloads: string[][] = [];
  const file = new TargetsFile<string>({
    path,
    build: (entries) =>
      entries.map((e) => {
        if (typeof e !== 'string') throw new Error('entries must be strings');
        return e;
      }),
    onReload: (targets) => reloads.push(targets),
    logger: silentLogger,
    telemetry: registry.scoped({ receiver: 'test' }),
  });
  const count = (name: string) => registry.value(name, { receiver: 'test' }) ?? 0;
  return { dir, path, file, reloads, count, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a YAML or JSON list; anything else is refused with the reason', () => {
  assert.deepEqual(parseTargetsText('- a\n- b\n'), ['a', 'b']);
  assert.deepEqual(parseTargetsText('["a", "b"]'), ['a', 'b']);
  assert.deepEqual(parseTargetsText('[]'), []);
  assert.throws(() => parseTargetsText(''), { message: 'the file is empty; write [] for no targets' });
  assert.throws(() => parseTargetsText('a: 1'), { message: 'must be a list of targets, got object' });
  assert.throws(() => parseTargetsText('[a'), { message: 'not valid YAML: Flow sequence must end with a ] at line 1, column 3' });
});

test('fs.watch sees a change without waiting for a probe cycle', { timeout: 10_000 }, async () => {
  const { path, file, reloads, count, cleanup } = setup('[a]');
  try {
    assert.deepEqual(file.load(), ['a']);
    file.watch();
    writeFileSync(path, '[a, b]');
    await until(() => reloads.length === 1, 'the reload');
    assert.deepEqual(reloads[0], ['a', 'b']);
    assert.equal(count('skein_probe_targets_file_reloads_total'), 1);
  } finally {
    await file.close();
    cleanup();
  }
});

test('check() reloads a changed file once; a bad version is counted once and the targets stay', async () => {
  const { path, file, reloads, count, cleanup } = setup('[a]');
  try {
    file.load();
    await file.check();
    assert.equal(reloads.length, 0, 'unchanged');
    writeFileSync(path, '[a, 1]');
    await file.check();
    await file.check();
    assert.equal(reloads.length, 0);
    assert.equal(count('skein_probe_targets_file_errors_total'), 1);
    rmSync(path);
    await file.check();
    await file.check();
    assert.equal(count('skein_probe_targets_file_errors_total'), 2);
    writeFileSync(path, '[c]');
    await file.check();
    assert.deepEqual(reloads, [['c']]);
  } finally {
    await file.close();
    await file.close();
    cleanup();
  }
});
