/**
 * The fan-out gives each mutating consumer its own copy with `cloneBatch`, a hand-written deep
 * copy (packages/core/src/metrics/iterate.ts). What that costs per 1,000-point batch,
 * relative to building the batch and to `structuredClone`, which it replaced.
 */
import assert from 'node:assert/strict';
import { cloneBatch } from '@skein/core';
import { compare, COMPARE_LIMITS, do_not_optimize } from '../lib/measure.ts';
import { bigBatch, expectPoints } from '../lib/payload.ts';
import { duration, ratio, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);

// ---- both copies must be deep and equal before their speed means anything ----

/** Every object reachable from `v`. */
function objectsOf(v: unknown, into = new Set<object>()): Set<object> {
  if (typeof v === 'object' && v !== null && !into.has(v)) {
    into.add(v);
    for (const x of Object.values(v)) objectsOf(x, into);
  }
  return into;
}

const POINTS = 1000;
const original = expectPoints(bigBatch(POINTS), POINTS);
const reference = structuredClone(original);
const mine = cloneBatch(original);
assert.deepStrictEqual(mine, reference);
assert.deepStrictEqual(mine, original);
const originals = objectsOf(original);
for (const o of objectsOf(mine)) assert.ok(!originals.has(o), 'cloneBatch shares an object with the original');

// ---- the cases ----

const { timings, ratios } = await compare([
  { name: `build a ${POINTS.toLocaleString('en-US')}-point batch (builders)`, fn: () => do_not_optimize(bigBatch(POINTS)) },
  { name: 'structuredClone', fn: () => do_not_optimize(structuredClone(original)) },
  { name: 'cloneBatch (hand-written)', fn: () => do_not_optimize(cloneBatch(original)) },
]);
report.table({
  title: `Copying one ${POINTS.toLocaleString('en-US')}-point batch (4 resources, gauge/sum/histogram; ${COMPARE_LIMITS.rounds} interleaved rounds)`,
  columns: ['what', 'mean', 'median', 'p99', 'per point (median)', '÷ build'],
  rows: timings.map((t, k) => [
    report.record(t).name,
    duration(t.avgNs),
    duration(t.p50Ns),
    duration(t.p99Ns),
    duration(t.p50Ns / POINTS),
    `${ratio(ratios[k]!)}×`,
  ]),
});
const [, structured, hand] = ratios;
report.figure('structuredClone / build', structured!, '× build');
report.figure('structuredClone / cloneBatch', structured! / hand!, '×');
report.figure('cloneBatch / build', hand!, '× build');
report.finish();
