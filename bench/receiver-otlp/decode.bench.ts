/**
 * The OTLP receiver's hot path: ExportMetricsServiceRequest bytes → Skein's data model, with
 * the hand-written decoder (packages/receiver-otlp/src/codec/proto-decode.ts), against
 * protobufjs's generic decode of the same bytes (Root/Type.decode from the repo's .proto
 * files, which stops at protobufjs's own message objects and does not build our model). Also
 * OTLP/JSON, against JSON.parse alone, for scale.
 *
 * Payloads (bench/lib/payload.ts): a fleet agent's push (1 resource, one `health.score` gauge
 * point) and a 1,000-point batch (4 resources; gauges, int sums and 10-bound histograms).
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { countDataPoints, type AttributeValue, type Attributes, type Metric, type MetricsBatch } from '@skein/core';
import { decodeMetricsRequestJson, decodeMetricsRequestProto } from '../../packages/receiver-otlp/src/codec/index.ts';
import { do_not_optimize, time, type Timing } from '../lib/measure.ts';
import { agentPush, bigBatch, expectPoints } from '../lib/payload.ts';
import { count, duration, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'receiver-otlp', 'proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');

// ---- the payloads as a sender puts them on the wire ----

function anyValue(v: AttributeValue): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'bigint') return { intValue: String(v) };
  if (typeof v === 'number') return { doubleValue: v };
  if (v instanceof Uint8Array) return { bytesValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
  return { kvlistValue: { values: keyValues(v) } };
}

const keyValues = (a: Attributes) => Object.entries(a).map(([key, value]) => ({ key, value: anyValue(value) }));

function otlpMetric(m: Metric): Record<string, unknown> {
  const base = (p: { attributes: Attributes; timeUnixNano: bigint; startTimeUnixNano: bigint; flags: number }) => ({
    attributes: keyValues(p.attributes),
    timeUnixNano: String(p.timeUnixNano),
    startTimeUnixNano: String(p.startTimeUnixNano),
    flags: p.flags,
  });
  const head = { name: m.name, description: m.description, unit: m.unit };
  switch (m.type) {
    case 'gauge':
    case 'sum': {
      const dataPoints = m.points.map((p) => ({ ...base(p), ...(typeof p.value === 'bigint' ? { asInt: String(p.value) } : { asDouble: p.value }) }));
      return m.type === 'gauge'
        ? { ...head, gauge: { dataPoints } }
        : { ...head, sum: { dataPoints, aggregationTemporality: m.temporality, isMonotonic: m.isMonotonic } };
    }
    case 'histogram':
      return {
        ...head,
        histogram: {
          aggregationTemporality: m.temporality,
          dataPoints: m.points.map((p) => ({
            ...base(p),
            count: String(p.count),
            sum: p.sum,
            min: p.min,
            max: p.max,
            bucketCounts: p.bucketCounts.map(String),
            explicitBounds: p.explicitBounds,
          })),
        },
      };
    default:
      throw new Error(`the bench payloads have no ${m.type}`);
  }
}

function otlpRequest(batch: MetricsBatch): Record<string, unknown> {
  return {
    resourceMetrics: batch.resourceMetrics.map((rm) => ({
      resource: { attributes: keyValues(rm.resource.attributes) },
      scopeMetrics: rm.scopeMetrics.map((sm) => ({
        scope: { name: sm.scope.name, version: sm.scope.version },
        metrics: sm.metrics.map(otlpMetric),
      })),
    })),
  };
}

/** protobufjs's JSON form is not OTLP/JSON (bytes, enums); the payloads have neither, so it is. */
function encode(batch: MetricsBatch) {
  const object = otlpRequest(batch);
  return { proto: Request.encode(Request.fromObject(object)).finish(), json: new TextEncoder().encode(JSON.stringify(object)) };
}

/**
 * Each payload is a list of requests decoded in turn. The decoder keeps recently seen short
 * strings (src/codec/strings.ts), so besides one push decoded over and over, the fleet case
 * cycles through pushes from 16,384 agents (4× the cache's slots), each with its own host name.
 */
const FLEET = 16_384;
const payloads = [
  { name: 'agent push (1 point)', batches: [expectPoints(agentPush(), 1)] },
  {
    name: `agent pushes from ${count(FLEET)} hosts (1 point each)`,
    batches: Array.from({ length: FLEET }, (_, i) =>
      agentPush({ host: `node-${String(i).padStart(5, '0')}`, clusterId: `cluster-${i % 64}`, score: (i % 100) / 100 }),
    ),
  },
  { name: 'batch of 1,000 points', batches: [expectPoints(bigBatch(1000), 1000)] },
].map((p) => {
  const encoded = p.batches.map(encode);
  return {
    name: p.name,
    batches: p.batches,
    /** Data points per request (the same for every request of a payload). */
    points: countDataPoints(p.batches[0]),
    proto: encoded.map((e) => e.proto),
    json: encoded.map((e) => e.json),
  };
});

// A decoder that builds the wrong thing must not get a number: both decode to the batch the
// bytes were made from, and protobufjs sees the same number of points.
for (const p of payloads) {
  p.batches.forEach((batch, i) => {
    assert.equal(countDataPoints(batch), p.points);
    assert.deepStrictEqual(decodeMetricsRequestProto(p.proto[i]), { batch, rejectedDataPoints: 0 }, p.name);
    assert.deepStrictEqual(decodeMetricsRequestJson(p.json[i]), { batch, rejectedDataPoints: 0 }, p.name);
  });
  const generic = Request.toObject(Request.decode(p.proto[0])) as { resourceMetrics: { scopeMetrics: { metrics: Record<string, { dataPoints: unknown[] }>[] }[] }[] };
  let points = 0;
  for (const rm of generic.resourceMetrics) {
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) points += (m.gauge ?? m.sum ?? m.histogram).dataPoints.length;
  }
  assert.equal(points, p.points, `protobufjs decodes ${p.name}`);
}

/** A function that decodes the next request of `list` on every call. */
function cycling<T>(list: T[], decode: (item: T) => unknown): () => unknown {
  let i = 0;
  return () => {
    const item = list[i];
    i = i + 1 === list.length ? 0 : i + 1;
    return do_not_optimize(decode(item));
  };
}

// ---- measure ----

const rows: (string | number)[][] = [];
for (const p of payloads) {
  const utf8 = new TextDecoder();
  const cases = [
    { encoding: 'protobuf', decoder: 'Skein (hand-written → model)', fn: cycling(p.proto, decodeMetricsRequestProto) },
    { encoding: 'protobuf', decoder: 'protobufjs Type.decode (baseline)', fn: cycling(p.proto, (b) => Request.decode(b)) },
    { encoding: 'JSON', decoder: 'Skein (JSON.parse + walk → model)', fn: cycling(p.json, decodeMetricsRequestJson) },
    { encoding: 'JSON', decoder: 'JSON.parse alone', fn: cycling(p.json, (b) => JSON.parse(utf8.decode(b))) },
  ];
  const timings: Timing[] = [];
  for (const c of cases) {
    const timing = report.record(await time(`${p.name}: ${c.decoder}`, c.fn));
    timings.push(timing);
    const size = (c.encoding === 'protobuf' ? p.proto : p.json)[0].length;
    rows.push([p.name, c.encoding, `${count(size)} B`, c.decoder, duration(timing.avgNs), count((p.points / timing.avgNs) * 1e9)]);
  }
  report.figure(`${p.name}: Skein protobuf decode vs protobufjs Type.decode (points/s)`, timings[1].avgNs / timings[0].avgNs, '×');
  report.figure(`${p.name}: Skein JSON decode vs JSON.parse alone (time)`, timings[2].avgNs / timings[3].avgNs, '×');
}

report.table({
  title: 'Decode ExportMetricsServiceRequest (mean per request)',
  columns: ['payload', 'encoding', 'size', 'decoder', 'time', 'points/s'],
  rows,
});
report.finish();
