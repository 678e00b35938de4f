/**
 * `skein run` starts again once, in place, with NODE_FLAGS (or SKEIN_NODE_FLAGS, or the flags
 * of SKEIN_NODE_PROFILE). The end-to-end
 * tests read what the process_info extension (testdata/process-info-extension.ts) logs, and the
 * process's /proc/<pid>/cmdline and environ.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS, NODE_PROFILES, REEXECUTED_ENV, reexecArgv, type ProcessView } from '../src/node-flags.ts';
import { RunningSkein, SOURCE, TESTDATA } from './helpers.ts';

const NODE = '/usr/bin/node';
const SCRIPT = '/opt/skein/main.js';
const view = (args: string[], o: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): ProcessView => ({
  argv: [NODE, SCRIPT, ...args],
  execArgv: o.execArgv ?? [],
  execPath: NODE,
  env: o.env ?? {},
});

test('run starts again with the flags first, then its own Node flags, script and arguments', () => {
  assert.deepEqual(reexecArgv(view(['run', '--config', 'a.yaml'], { execArgv: ['--import', 'x.js'] })), [
    NODE,
    ...NODE_FLAGS,
    '--import',
    'x.js',
    SCRIPT,
    'run',
    '--config',
    'a.yaml',
  ]);
});

test('no other command starts again, nor a process that was started again', () => {
  for (const args of [['validate', '--config', 'a.yaml'], ['components'], ['version'], ['--version'], []]) {
    assert.equal(reexecArgv(view(args)), undefined, args.join(' '));
  }
  assert.equal(reexecArgv(view(['run'], { env: { [REEXECUTED_ENV]: '1' } })), undefined);
});

test('SKEIN_NODE_FLAGS replaces the flags, and an empty one means none', () => {
  assert.deepEqual(reexecArgv(view(['run'], { env: { SKEIN_NODE_FLAGS: ' --max-old-space-size=512  --stack-size=2000 ' } })), [
    NODE,
    '--max-old-space-size=512',
    '--stack-size=2000',
    SCRIPT,
    'run',
  ]);
  assert.equal(reexecArgv(view(['run'], { env: { SKEIN_NODE_FLAGS: '' } })), undefined);
  assert.equal(reexecArgv(view(['run'], { env: { SKEIN_NODE_FLAGS: ' ' } })), undefined);
});

test('SKEIN_NODE_PROFILE picks a named flag set; SKEIN_NODE_FLAGS wins over it; an unknown one is an error', () => {
  assert.deepEqual(reexecArgv(view(['run'], { env: { SKEIN_NODE_PROFILE: 'small' } })), [NODE, ...NODE_PROFILES.small!, SCRIPT, 'run']);
  assert.deepEqual(reexecArgv(view(['run'], { env: { SKEIN_NODE_PROFILE: 'default' } })), [NODE, ...NODE_FLAGS, SCRIPT, 'run']);
  assert.deepEqual(reexecArgv(view(['run'], { env: { SKEIN_NODE_PROFILE: 'small', SKEIN_NODE_FLAGS: '--stack-size=2000' } })), [
    NODE,
    '--stack-size=2000',
    SCRIPT,
    'run',
  ]);
  assert.throws(() => reexecArgv(view(['run'], { env: { SKEIN_NODE_PROFILE: 'tiny' } })), {
    message: 'SKEIN_NODE_PROFILE must be one of default, small, got "tiny"',
  });
  // Other commands never start again, so they do not read it.
  assert.equal(reexecArgv(view(['validate'], { env: { SKEIN_NODE_PROFILE: 'tiny' } })), undefined);
});

test('a command line that already sets every flag, with any value or spelling, does not start again', () => {
  assert.equal(reexecArgv(view(['run'], { execArgv: [...NODE_FLAGS] })), undefined);
  assert.equal(reexecArgv(view(['run'], { execArgv: ['--max_semi_space_size=32', '--allocation-site-pretenuring', '--memory_reducer'] })), undefined);
  // Some of them: start again with all, the command line's own value last so that it wins.
  assert.deepEqual(reexecArgv(view(['run'], { execArgv: ['--max-semi-space-size=32'] })), [NODE, ...NODE_FLAGS, '--max-semi-space-size=32', SCRIPT, 'run']);
});

const PROCESS_INFO = join(TESTDATA, 'process-info.yaml');

/** Runs `skein run` on process-info.yaml with SKEIN_NODE_FLAGS as given; what the process reported. */
async function runReporting(t: TestContext, flags: string | undefined, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const skein = new RunningSkein(['--config', PROCESS_INFO], { ...SOURCE, nodeArgs, env: { ...process.env, SKEIN_NODE_FLAGS: flags, ...env } });
  t.after(() => skein.kill());
  const info = await skein.waitForLog((l) => l.msg === 'process info', 'the process_info extension');
  const proc = (file: string) => readFileSync(`/proc/${skein.pid}/${file}`, 'utf8').split('\0').filter((s) => s !== '');
  const cmdline = proc('cmdline');
  const reexecuted = proc('environ').includes(`${REEXECUTED_ENV}=1`);
  skein.signal('SIGTERM');
  assert.deepEqual(await skein.exited, { code: 0, signal: null }, skein.describe());
  return { pid: info.pid as number, execArgv: info.exec_argv as string[], heapLimit: info.heap_size_limit as number, cmdline, reexecuted, spawned: skein.pid };
}

test('skein run starts again in place with NODE_FLAGS: the same PID, the flags on its command line', async (t) => {
  const r = await runReporting(t, undefined);
  assert.equal(r.pid, r.spawned);
  assert.deepEqual(r.execArgv, NODE_FLAGS);
  assert.deepEqual(r.cmdline.slice(1, 1 + NODE_FLAGS.length), NODE_FLAGS);
  assert.equal(r.reexecuted, true);
});

test('flags from SKEIN_NODE_FLAGS take effect in V8; an empty SKEIN_NODE_FLAGS starts nothing again', async (t) => {
  const small = await runReporting(t, '--max-old-space-size=300');
  const large = await runReporting(t, '--max-old-space-size=400');
  assert.equal(small.pid, small.spawned);
  assert.deepEqual(small.execArgv, ['--max-old-space-size=300']);
  // V8's heap limit is the old generation's plus a fixed amount for the rest.
  assert.equal(large.heapLimit - small.heapLimit, 100 * 2 ** 20);
  const none = await runReporting(t, '');
  assert.deepEqual(none.execArgv, []);
  assert.equal(none.reexecuted, false);
});

test('skein run given the flags on its command line does not start again', async (t) => {
  const r = await runReporting(t, undefined, [...NODE_FLAGS]);
  assert.deepEqual(r.execArgv, NODE_FLAGS);
  assert.equal(r.reexecuted, false);
});

test('SKEIN_NODE_PROFILE=small runs with its flags; an unknown profile exits 2 before anything starts', async (t) => {
  const small = await runReporting(t, undefined, [], { SKEIN_NODE_PROFILE: 'small' });
  assert.equal(small.pid, small.spawned);
  assert.deepEqual(small.execArgv, NODE_PROFILES.small);
  const bad = new RunningSkein(['--config', PROCESS_INFO], { ...SOURCE, env: { ...process.env, SKEIN_NODE_FLAGS: undefined, SKEIN_NODE_PROFILE: 'tiny' } });
  t.after(() => bad.kill());
  assert.deepEqual(await bad.exited, { code: 2, signal: null });
  assert.deepEqual(bad.other, ['skein run: SKEIN_NODE_PROFILE must be one of default, small, got "tiny"']);
  assert.deepEqual(bad.logs, []);
});
