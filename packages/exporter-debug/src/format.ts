/**
 * Turns the data model into plain log fields: bigints and nanosecond timestamps become
 * decimal strings, bytes become base64 (trace and span IDs hex, as in OTLP JSON), and
 * non-finite numbers become "NaN", "+Inf" and "-Inf", which JSON cannot carry.
 */
import {
  Temporality,
  type AttributeValue,
  type Attributes,
  type DataPoint,
  type Exemplar,
  type LogFields,
  type Metric,
  type MetricsBatch,
} from '@skein/core';

export interface BatchCounts {
  resourceMetrics: number;
  metrics: number;
  dataPoints: number;
}

export function countBatch(batch: MetricsBatch): BatchCounts {
  let metrics = 0;
  let dataPoints = 0;
  for (const rm of batch.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      metrics += sm.metrics.length;
      for (const m of sm.metrics) dataPoints += m.points.length;
    }
  }
  return { resourceMetrics: batch.resourceMetrics.length, metrics, dataPoints };
}

export function displayNumber(v: number | bigint): number | string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function displayValue(v: AttributeValue): unknown {
  if (typeof v === 'number' || typeof v === 'bigint') return displayNumber(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(displayValue);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = displayValue(v[k]!);
  return out;
}

export function displayAttributes(attrs: Attributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(attrs)) out[k] = displayValue(attrs[k]!);
  return out;
}

export function temporalityName(t: Temporality): string {
  switch (t) {
    case Temporality.Delta:
      return 'delta';
    case Temporality.Cumulative:
      return 'cumulative';
    default:
      return 'unspecified';
  }
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The ISO time of a nanosecond timestamp (to the millisecond), or undefined for 0 (unset). */
function isoTime(ns: bigint): string | undefined {
  if (ns === 0n) return undefined;
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function exemplarFields(e: Exemplar): Record<string, unknown> {
  return {
    value: displayNumber(e.value),
    timeUnixNano: e.timeUnixNano.toString(),
    filteredAttributes: displayAttributes(e.filteredAttributes),
    ...(e.traceId && e.traceId.length > 0 ? { traceId: hex(e.traceId) } : {}),
    ...(e.spanId && e.spanId.length > 0 ? { spanId: hex(e.spanId) } : {}),
  };
}

/** The fields a metric's line carries in `detailed`, on top of the ones `normal` gives. */
export function metricDetailFields(m: Metric): LogFields {
  const fields: LogFields = { description: m.description, unit: m.unit };
  if (m.type === 'sum') {
    fields.temporality = temporalityName(m.temporality);
    fields.monotonic = m.isMonotonic;
  } else if (m.type === 'histogram' || m.type === 'exponential_histogram') {
    fields.temporality = temporalityName(m.temporality);
  }
  if (m.metadata) fields.metadata = displayAttributes(m.metadata);
  return fields;
}

/** Everything one data point holds, by its metric's type. */
export function pointFields(m: Metric, p: DataPoint): LogFields {
  const fields: LogFields = {
    attributes: displayAttributes(p.attributes),
    startTimeUnixNano: p.startTimeUnixNano.toString(),
    timeUnixNano: p.timeUnixNano.toString(),
  };
  const time = isoTime(p.timeUnixNano);
  if (time) fields.timeIso = time;
  fields.flags = p.flags;
  switch (m.type) {
    case 'gauge':
    case 'sum': {
      const v = (p as (typeof m.points)[number]).value;
      fields.value = displayNumber(v);
      fields.valueType = typeof v === 'bigint' ? 'int' : 'double';
      break;
    }
    case 'histogram': {
      const h = p as (typeof m.points)[number];
      fields.count = h.count;
      if (h.sum !== undefined) fields.sum = displayNumber(h.sum);
      if (h.min !== undefined) fields.min = displayNumber(h.min);
      if (h.max !== undefined) fields.max = displayNumber(h.max);
      fields.explicitBounds = h.explicitBounds.map(displayNumber);
      fields.bucketCounts = h.bucketCounts;
      break;
    }
    case 'exponential_histogram': {
      const h = p as (typeof m.points)[number];
      fields.count = h.count;
      if (h.sum !== undefined) fields.sum = displayNumber(h.sum);
      if (h.min !== undefined) fields.min = displayNumber(h.min);
      if (h.max !== undefined) fields.max = displayNumber(h.max);
      fields.scale = h.scale;
      fields.zeroCount = h.zeroCount;
      fields.zeroThreshold = displayNumber(h.zeroThreshold);
      fields.positive = { offset: h.positive.offset, bucketCounts: h.positive.bucketCounts };
      fields.negative = { offset: h.negative.offset, bucketCounts: h.negative.bucketCounts };
      break;
    }
    case 'summary': {
      const s = p as (typeof m.points)[number];
      fields.count = s.count;
      fields.sum = displayNumber(s.sum);
      fields.quantileValues = s.quantileValues.map((q) => ({ quantile: displayNumber(q.quantile), value: displayNumber(q.value) }));
      break;
    }
  }
  if (p.exemplars.length > 0) fields.exemplars = p.exemplars.map(exemplarFields);
  return fields;
}
