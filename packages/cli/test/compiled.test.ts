/**
 * The compiled command, as `npm start` and the `skein` bin run it: the JavaScript `tsc -b` emits
 * in dist/, run with Node's TypeScript support off so that one .ts file on its path would fail.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPILED, COMPILED_MAIN, launchSkein, REPO, RunningSkein, TESTDATA } from './helpers.ts';

before(() => {
  if (!existsSync(COMPILED_MAIN)) throw new Error(`${COMPILED_MAIN} does not exist: run npx tsc -b first (npm test does)`);
});

test('the skein bin and npm start run the compiled main, which keeps its shebang', () => {
  const cli = JSON.parse(readFileSync(join(REPO, 'packages/cli/package.json'), 'utf8')) as { bin: { skein: string } };
  assert.equal(cli.bin.skein, 'dist/src/main.js');
  const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } };
  assert.match(root.scripts.start, /^node packages\/cli\/dist\/src\/main\.js run /);
  assert.match(readFileSync(COMPILED_MAIN, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('the compiled command validates a config and lists every component without TypeScript', () => {
  const version = launchSkein(COMPILED, ['version']);
  assert.match(version.stdout, /^skein \d+\.\d+\.\d+\n$/, version.stderr);
  const valid = launchSkein(COMPILED, ['validate', '--config', 'configs/default.yaml']);
  assert.equal(valid.stderr, '');
  assert.equal(valid.stdout, 'config is valid\n');
  const components = launchSkein(COMPILED, ['components', '--json']);
  assert.equal(components.stderr, '');
  assert.ok((JSON.parse(components.stdout) as unknown[]).length > 10, components.stdout);
});

test('the compiled command runs a pipeline and drains on SIGTERM without TypeScript', async (t) => {
  const skein = new RunningSkein(['--config', join(TESTDATA, 'heartbeat-debug.yaml')], COMPILED);
  t.after(() => skein.kill());
  await skein.waitForLog((l) => l.msg === 'skein is running', 'skein is running');
  skein.signal('SIGTERM');
  assert.deepEqual(await skein.exited, { code: 0, signal: null }, skein.describe());
  assert.deepEqual(skein.other, [], 'stderr lines that are not JSON');
  assert.ok(skein.logs.every((l) => l.level !== 'error'), skein.describe());
});
