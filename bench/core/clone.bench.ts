/**
 * The fan-out gives each mutating consumer its own copy with `cloneBatch` (structuredClone,
 * packages/core/src/metrics/iterate.ts). What that costs per 1,000-point batch, relative to
 * building the batch and to a hand-written deep copy (written here only to compare).
 */
import assert from 'node:assert/strict';
import {
  cloneBatch,
  type AttributeValue,
  type Attributes,
  type Exemplar,
  type Metric,
  type MetricsBatch,
  type NumberDataPoint,
} from '@skein/core';
import { compare, COMPARE_LIMITS, do_not_optimize } from '../lib/measure.ts';
import { bigBatch, expectPoints } from '../lib/payload.ts';
import { duration, ratio, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);

// ---- the hand-written deep copy (comparison only) ----

function copyValue(v: AttributeValue): AttributeValue {
  if (typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) return v.map(copyValue);
  return copyAttributes(v);
}

function copyAttributes(a: Attributes): Attributes {
  const out: Attributes = {};
  for (const k in a) out[k] = copyValue(a[k]!);
  return out;
}

function copyExemplar(e: Exemplar): Exemplar {
  const out: Exemplar = { ...e, filteredAttributes: copyAttributes(e.filteredAttributes) };
  if (e.spanId) out.spanId = e.spanId.slice();
  if (e.traceId) out.traceId = e.traceId.slice();
  return out;
}

function copyNumberPoint(p: NumberDataPoint): NumberDataPoint {
  return { ...p, attributes: copyAttributes(p.attributes), exemplars: p.exemplars.map(copyExemplar) };
}

function copyMetric(m: Metric): Metric {
  const metadata = m.metadata ? { metadata: copyAttributes(m.metadata) } : {};
  switch (m.type) {
    case 'gauge':
    case 'sum':
      return { ...m, ...metadata, points: m.points.map(copyNumberPoint) };
    case 'histogram':
      return {
        ...m,
        ...metadata,
        points: m.points.map((p) => ({
          ...p,
          attributes: copyAttributes(p.attributes),
          exemplars: p.exemplars.map(copyExemplar),
          bucketCounts: p.bucketCounts.slice(),
          explicitBounds: p.explicitBounds.slice(),
        })),
      };
    case 'exponential_histogram':
      return {
        ...m,
        ...metadata,
        points: m.points.map((p) => ({
          ...p,
          attributes: copyAttributes(p.attributes),
          exemplars: p.exemplars.map(copyExemplar),
          positive: { offset: p.positive.offset, bucketCounts: p.positive.bucketCounts.slice() },
          negative: { offset: p.negative.offset, bucketCounts: p.negative.bucketCounts.slice() },
        })),
      };
    case 'summary':
      return {
        ...m,
        ...metadata,
        points: m.points.map((p) => ({
          ...p,
          attributes: copyAttributes(p.attributes),
          exemplars: p.exemplars.map(copyExemplar),
          quantileValues: p.quantileValues.map((q) => ({ ...q })),
        })),
      };
  }
}

function handClone(batch: MetricsBatch): MetricsBatch {
  return {
    resourceMetrics: batch.resourceMetrics.map((rm) => ({
      ...rm,
      resource: { ...rm.resource, attributes: copyAttributes(rm.resource.attributes) },
      scopeMetrics: rm.scopeMetrics.map((sm) => ({
        ...sm,
        scope: sm.scope.attributes ? { ...sm.scope, attributes: copyAttributes(sm.scope.attributes) } : { ...sm.scope },
        metrics: sm.metrics.map(copyMetric),
      })),
    })),
  };
}

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
const reference = cloneBatch(original);
const mine = handClone(original);
assert.deepStrictEqual(mine, reference);
assert.deepStrictEqual(mine, original);
const originals = objectsOf(original);
for (const o of objectsOf(mine)) assert.ok(!originals.has(o), 'the hand-written copy shares an object with the original');

// ---- the cases ----

const { timings, ratios } = await compare([
  { name: `build a ${POINTS.toLocaleString('en-US')}-point batch (builders)`, fn: () => do_not_optimize(bigBatch(POINTS)) },
  { name: 'cloneBatch (structuredClone)', fn: () => do_not_optimize(cloneBatch(original)) },
  { name: 'hand-written deep copy', fn: () => do_not_optimize(handClone(original)) },
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
report.figure('structuredClone / hand-written copy', structured! / hand!, '×');
report.figure('hand-written copy / build', hand!, '× build');
report.finish();
