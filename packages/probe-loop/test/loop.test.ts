import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry, silentLogger } from '@skein/core';
import { ProbeLoop, ProbeTimeoutError, type CycleResult, type ProbeFunction, type ProbeLoopOptions } from '../src/loop.ts';
import type { ProbeOutcome } from '../src/result.ts';
import { until } from '../src/testing.ts';

interface T {
  key: string;
  timeoutMs?: number;
}

const targets = (n: number): T[] => Array.from({ length: n }, (_, i) => ({ key: `t${i}` }));

function loop(opts: Partial<ProbeLoopOptions<T>> & { probe: ProbeFunction<T> }) {
  const registry = new MetricsRegistry();
  const cycles: CycleResult<T>[][] = [];
  const l = new ProbeLoop<T>({
    intervalMs: 3_600_000,
    timeoutMs: 1000,
    maxTimeoutMs: 1000,
    maxConcurrency: 1,
    onCycle: (results) => void cycles.push(results),
    logger: silentLogger,
    telemetry: registry.scoped({ receiver: 'test' }),
    ...opts,
  });
  return { l, registry, cycles };
}

/** A probe that tracks how many are in flight and answers after a few event-loop turns. */
function countingProbe() {
  const state = { active: 0, max: 0, calls: [] as string[] };
  const probe: ProbeFunction<T> = async (t) => {
    state.calls.push(t.key);
    state.active++;
    state.max = Math.max(state.max, state.active);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    state.active--;
    return { reachable: true };
  };
  return { state, probe };
}

/** A probe that never answers and ignores its signal: the loop must cut it on its own. */
const stuck: ProbeFunction<T> = () => new Promise<ProbeOutcome>(() => {});

test('a cycle probes every target once, in order, one at a time by default', async () => {
  const { state, probe } = countingProbe();
  const { l, cycles } = loop({ probe });
  l.setTargets(targets(5));
  assert.equal(await l.runCycle(), true);
  assert.deepEqual(state.calls, ['t0', 't1', 't2', 't3', 't4']);
  assert.equal(state.max, 1);
  assert.equal(cycles.length, 1);
  assert.deepEqual(
    cycles[0]!.map((r) => r.target.key),
    ['t0', 't1', 't2', 't3', 't4'],
  );
  await l.shutdown();
});

test('max_concurrency bounds the probes in flight', async () => {
  const { state, probe } = countingProbe();
  const { l, cycles } = loop({ probe, maxConcurrency: 3 });
  l.setTargets(targets(10));
  await l.runCycle();
  assert.equal(state.max, 3);
  assert.equal(state.calls.length, 10);
  // Results stay in target order whatever order the probes ended in.
  assert.deepEqual(
    cycles[0]!.map((r) => r.target.key),
    targets(10).map((t) => t.key),
  );
  await l.shutdown();
});

test('a probe that ignores its signal is cut at its timeout and the cycle goes on', async () => {
  const seen: string[] = [];
  const probe: ProbeFunction<T> = (t, signal) => {
    seen.push(t.key);
    return t.key === 'stuck' ? stuck(t, signal, 0) : Promise.resolve({ reachable: true });
  };
  const { l, cycles, registry } = loop({ probe, timeoutMs: 30, maxTimeoutMs: 30 });
  l.setTargets([{ key: 'stuck' }, { key: 'ok' }]);
  await l.runCycle();
  assert.deepEqual(seen, ['stuck', 'ok']);
  const [first, second] = cycles[0]!;
  assert.equal(first!.outcome.reachable, false);
  assert.equal(first!.outcome.error_class, 'timeout');
  assert.equal(first!.outcome.error, 'no result within 30ms');
  assert.equal(second!.outcome.reachable, true);
  assert.equal(registry.value('skein_probe_checks_total', { result: 'timeout' }), 1);
  assert.equal(registry.value('skein_probe_checks_total', { result: 'success' }), 1);
  await l.shutdown();
});

test('every timeout is clamped to the maximum', async () => {
  const given: number[] = [];
  const reasons: unknown[] = [];
  const probe: ProbeFunction<T> = (_t, signal, timeoutMs) => {
    given.push(timeoutMs);
    return new Promise((resolve) =>
      signal.addEventListener('abort', () => {
        reasons.push(signal.reason);
        resolve({ reachable: false, error_class: 'timeout', error: 'cut' });
      }),
    );
  };
  const { l, cycles } = loop({ probe, timeoutMs: 10, maxTimeoutMs: 20 });
  l.setTargets([{ key: 'default' }, { key: 'own', timeoutMs: 15 }, { key: 'greedy', timeoutMs: 60_000 }]);
  await l.runCycle();
  assert.deepEqual(given, [10, 15, 20]);
  assert.ok(reasons.every((r) => r instanceof ProbeTimeoutError));
  // The probe's own outcome wins over the loop's generic one when it reacts to the abort.
  assert.deepEqual(
    cycles[0]!.map((r) => r.outcome.error),
    ['cut', 'cut', 'cut'],
  );
  await l.shutdown();
});

test('a probe that throws is recorded as error class other', async () => {
  const { l, cycles } = loop({
    probe: (t) => {
      if (t.key === 'sync') throw new Error('bad probe');
      return Promise.reject(new Error('bad promise'));
    },
  });
  l.setTargets([{ key: 'sync' }, { key: 'async' }]);
  await l.runCycle();
  assert.deepEqual(
    cycles[0]!.map((r) => [r.outcome.error_class, r.outcome.error]),
    [
      ['other', 'bad probe'],
      ['other', 'bad promise'],
    ],
  );
  await l.shutdown();
});

test('a tick that finds the cycle still running is skipped and counted, never stacked', { timeout: 10_000 }, async () => {
  let started = 0;
  let active = 0;
  let maxActive = 0;
  const probe: ProbeFunction<T> = (t, signal) => {
    started++;
    active++;
    maxActive = Math.max(maxActive, active);
    return new Promise((resolve) =>
      signal.addEventListener('abort', () => {
        active--;
        resolve({ reachable: false, error_class: 'timeout' });
      }),
    );
  };
  // Each cycle takes 400 ms (one stuck probe) against a 20 ms interval.
  const { l, registry, cycles } = loop({ probe, intervalMs: 20, timeoutMs: 400, maxTimeoutMs: 400 });
  l.setTargets([{ key: 'stuck' }]);
  l.start();
  await until(() => (registry.value('skein_probe_cycles_overrun_total', { receiver: 'test' }) ?? 0) >= 3, 'three skipped ticks');
  assert.equal(started, 1, 'a skipped tick started no probe');
  assert.equal(maxActive, 1);
  assert.equal(cycles.length, 0);
  await l.shutdown();
  assert.equal(active, 0, 'shutdown aborted the probe in flight');
  assert.equal(cycles.length, 0, 'a cycle cut by shutdown emits nothing');
});

test('shutdown waits for the cycle to end, and is safe without start and twice', async () => {
  const idle = loop({ probe: stuck }).l;
  await idle.shutdown();
  await idle.shutdown();
  assert.equal(await idle.runCycle(), false, 'a stopped loop does not probe');

  const { l } = loop({ probe: stuck, timeoutMs: 60_000, maxTimeoutMs: 60_000 });
  l.setTargets(targets(3));
  const cycle = l.runCycle();
  assert.equal(await l.runCycle(), false, 'one cycle at a time');
  await Promise.all([l.shutdown(), l.shutdown()]);
  assert.equal(await cycle, true);
});

test('a failing onCycle or beforeCycle does not stop the loop', async () => {
  let calls = 0;
  const registry = new MetricsRegistry();
  const l = new ProbeLoop<T>({
    intervalMs: 3_600_000,
    timeoutMs: 100,
    maxTimeoutMs: 100,
    maxConcurrency: 1,
    probe: async () => ({ reachable: true }),
    beforeCycle: () => {
      throw new Error('file gone');
    },
    onCycle: () => {
      calls++;
      throw new Error('refused');
    },
    logger: silentLogger,
    telemetry: registry.scoped({ receiver: 'test' }),
  });
  l.setTargets(targets(1));
  await l.runCycle();
  await l.runCycle();
  assert.equal(calls, 2);
  assert.equal(registry.value('skein_probe_cycles_total', { receiver: 'test' }), 2);
  await l.shutdown();
});
