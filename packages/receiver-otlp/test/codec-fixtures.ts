/**
 * Shared by the codec tests: real OTLP requests made by the OpenTelemetry JS SDK's own
 * serialisers (what its exporters send), the Skein batches they must decode to, the repo's
 * .proto files loaded with protobufjs (to build what the SDK cannot, and to read replies back),
 * and a tiny wire writer for hand-made malformed input.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValueType, type Attributes as SdkAttributes, type HrTime } from '@opentelemetry/api';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics as SdkResourceMetrics } from '@opentelemetry/sdk-metrics';
import protobuf from 'protobufjs';
import {
  exponentialHistogram,
  exponentialHistogramPoint,
  gauge,
  histogram,
  histogramPoint,
  numberPoint,
  sum,
  Temporality,
  type MetricsBatch,
} from '@skein/core';

export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'proto');

/** The repo's schemas, loaded by protobufjs (generic reflection, no codegen). */
export function loadProtoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync([
    'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
    'google/rpc/status.proto',
    'google/rpc/error_details.proto',
  ]);
  return root;
}

export const REQUEST_TYPE = 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest';

export function hrToNanos(t: HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

export const T_END: HrTime = [1_736_942_400, 123_456_789];
export const T_START: HrTime = [1_736_938_800, 5];
const time = { timeUnixNano: hrToNanos(T_END), startTimeUnixNano: hrToNanos(T_START) };

/**
 * Every attribute value kind the SDK serialisers can write, including the ones its TypeScript
 * types leave out (bytes, maps, nulls in arrays, which both serialisers send as an empty value).
 */
const RESOURCE_ATTRIBUTES = {
  'service.name': 'checkout',
  'host.name': 'node-0042',
  'process.pid': 4242,
  'offset.negative': -17,
  'sample.rate': 0.25,
  'feature.enabled': true,
  'host.tags': ['blue', 'canary'],
  'host.ports': [80, 443],
  'with.gap': ['a', null, 'c'],
} as unknown as SdkAttributes;

/** Resources keep only the attribute types of the API; points carry whatever they are given. */
const POINT_ATTRIBUTES = {
  'build.id': new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
  deploy: { region: 'eu-west-1', zone: { index: 2 } },
  unset: undefined,
} as unknown as SdkAttributes;

/** One of each metric kind the SDK emits, in the shape its MetricReader hands to exporters. */
export function sdkResourceMetrics(): SdkResourceMetrics {
  const point = <T>(value: T, attributes: SdkAttributes = {}) => ({ startTime: T_START, endTime: T_END, attributes, value });
  return {
    resource: resourceFromAttributes(RESOURCE_ATTRIBUTES),
    scopeMetrics: [
      {
        scope: { name: 'skein-test', version: '1.2.3', schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' },
        metrics: [
          {
            descriptor: { name: 'health.score', description: 'agent health', unit: '1', valueType: ValueType.DOUBLE },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: [point(0.87, { cluster_id: 'eu-west-1a' }), point(-0.5, { cluster_id: 'us-east-1b' })],
          },
          {
            descriptor: { name: 'queue.depth', description: '', unit: '{item}', valueType: ValueType.INT },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: [point(17, POINT_ATTRIBUTES)],
          },
          {
            descriptor: { name: 'http.requests', description: 'requests served', unit: '{request}', valueType: ValueType.INT },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            dataPoints: [point(1234, { method: 'GET', code: 200 })],
          },
          {
            descriptor: { name: 'temperature.change', description: '', unit: 'Cel', valueType: ValueType.DOUBLE },
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.SUM,
            isMonotonic: false,
            dataPoints: [point(-1.5)],
          },
          {
            descriptor: { name: 'http.duration', description: '', unit: 's', valueType: ValueType.DOUBLE },
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: [
              point({ buckets: { boundaries: [0.005, 0.01, 0.1, 1], counts: [1, 2, 3, 4, 5] }, count: 15, sum: 12.5, min: 0.001, max: 3.2 }, { route: '/a' }),
              point({ buckets: { boundaries: [], counts: [] }, count: 0, sum: undefined, min: undefined, max: undefined }, { route: '/b' }),
            ],
          },
          {
            descriptor: { name: 'rpc.latency', description: 'latency', unit: 'ms', valueType: ValueType.DOUBLE },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
            dataPoints: [
              point({
                count: 10,
                sum: 42.5,
                scale: -3,
                zeroCount: 2,
                positive: { offset: -2, bucketCounts: [1, 0, 4] },
                negative: { offset: 1, bucketCounts: [3] },
                min: -3,
                max: 20,
              }),
            ],
          },
        ],
      },
    ],
  };
}

/** What sdkResourceMetrics() must decode to, written out by hand. */
export function expectedBatch(): MetricsBatch {
  return {
    resourceMetrics: [
      {
        resource: {
          attributes: {
            'service.name': 'checkout',
            'host.name': 'node-0042',
            'process.pid': 4242n,
            'offset.negative': -17n,
            'sample.rate': 0.25,
            'feature.enabled': true,
            'host.tags': ['blue', 'canary'],
            'host.ports': [80n, 443n],
            'with.gap': ['a', 'c'],
          },
        },
        scopeMetrics: [
          {
            scope: { name: 'skein-test', version: '1.2.3' },
            schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
            metrics: [
              gauge(
                'health.score',
                [numberPoint(0.87, { ...time, attributes: { cluster_id: 'eu-west-1a' } }), numberPoint(-0.5, { ...time, attributes: { cluster_id: 'us-east-1b' } })],
                { description: 'agent health', unit: '1' },
              ),
              gauge(
                'queue.depth',
                [
                  numberPoint(17n, {
                    ...time,
                    attributes: { 'build.id': new Uint8Array([0xde, 0xad, 0xbe, 0xef]), deploy: { region: 'eu-west-1', zone: { index: 2n } } },
                  }),
                ],
                { unit: '{item}' },
              ),
              sum('http.requests', [numberPoint(1234n, { ...time, attributes: { method: 'GET', code: 200n } })], {
                description: 'requests served',
                unit: '{request}',
                monotonic: true,
                temporality: Temporality.Cumulative,
              }),
              sum('temperature.change', [numberPoint(-1.5, time)], { unit: 'Cel', monotonic: false, temporality: Temporality.Delta }),
              histogram(
                'http.duration',
                [
                  histogramPoint(
                    { explicitBounds: [0.005, 0.01, 0.1, 1], bucketCounts: [1, 2, 3, 4, 5], sum: 12.5, min: 0.001, max: 3.2 },
                    { ...time, attributes: { route: '/a' } },
                  ),
                  {
                    ...time,
                    attributes: { route: '/b' },
                    flags: 0,
                    exemplars: [],
                    count: 0,
                    sum: undefined,
                    bucketCounts: [],
                    explicitBounds: [],
                    min: undefined,
                    max: undefined,
                  },
                ],
                { unit: 's', temporality: Temporality.Delta },
              ),
              exponentialHistogram(
                'rpc.latency',
                [
                  exponentialHistogramPoint(
                    {
                      scale: -3,
                      zeroCount: 2,
                      positive: { offset: -2, bucketCounts: [1, 0, 4] },
                      negative: { offset: 1, bucketCounts: [3] },
                      sum: 42.5,
                      min: -3,
                      max: 20,
                    },
                    time,
                  ),
                ],
                { description: 'latency', unit: 'ms', temporality: Temporality.Cumulative },
              ),
            ],
          },
        ],
      },
    ],
  };
}

export function sdkProto(rm: SdkResourceMetrics = sdkResourceMetrics()): Uint8Array {
  const bytes = ProtobufMetricsSerializer.serializeRequest(rm);
  if (!bytes) throw new Error('the SDK serialised nothing');
  return bytes;
}

export function sdkJson(rm: SdkResourceMetrics = sdkResourceMetrics()): Uint8Array {
  const bytes = JsonMetricsSerializer.serializeRequest(rm);
  if (!bytes) throw new Error('the SDK serialised nothing');
  return bytes;
}

/**
 * A request with what the SDK never sends: a summary, exemplars (double and int, with ids),
 * flags, metadata, scope attributes, dropped counts, a resource schema URL and a zero
 * threshold. As a protobufjs object (camelCase, 64-bit values as decimal strings).
 */
export function richRequestObject(): Record<string, unknown> {
  const kv = (key: string, value: Record<string, unknown>) => ({ key, value });
  return {
    resourceMetrics: [
      {
        resource: { attributes: [kv('service.name', { stringValue: 'api' })], droppedAttributesCount: 3 },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeMetrics: [
          {
            scope: { name: 'lib', version: '0.1', attributes: [kv('lib.flag', { boolValue: true })], droppedAttributesCount: 1 },
            metrics: [
              {
                name: 'rpc.summary',
                unit: 's',
                metadata: [kv('prometheus.type', { stringValue: 'summary' })],
                summary: {
                  dataPoints: [
                    {
                      attributes: [kv('method', { stringValue: 'Get' })],
                      startTimeUnixNano: '1736938800000000005',
                      timeUnixNano: '1736942400123456789',
                      count: '42',
                      sum: 12.25,
                      quantileValues: [
                        { quantile: 0.5, value: 0.2 },
                        { quantile: 0.99, value: 1.75 },
                      ],
                      flags: 1,
                    },
                  ],
                },
              },
              {
                name: 'jobs.done',
                sum: {
                  aggregationTemporality: 2,
                  isMonotonic: true,
                  dataPoints: [
                    {
                      timeUnixNano: '18446744073709551615',
                      asInt: '-9223372036854775808',
                      exemplars: [
                        {
                          filteredAttributes: [kv('user', { stringValue: 'u1' }), kv('big', { intValue: '9007199254740993' })],
                          timeUnixNano: '1736942400000000001',
                          asDouble: 2.5,
                          spanId: Buffer.from('0102030405060708', 'hex'),
                          traceId: Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'),
                        },
                        { timeUnixNano: '1736942400000000002', asInt: '7' },
                      ],
                    },
                  ],
                },
              },
              {
                name: 'latency.exp',
                exponentialHistogram: {
                  aggregationTemporality: 1,
                  dataPoints: [{ count: '1', scale: 2, zeroCount: '1', zeroThreshold: 0.001, positive: { offset: 3, bucketCounts: ['5000000000'] } }],
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** What richRequestObject() must decode to. */
export function richExpected(): MetricsBatch {
  return {
    resourceMetrics: [
      {
        resource: { attributes: { 'service.name': 'api' }, droppedAttributesCount: 3 },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeMetrics: [
          {
            scope: { name: 'lib', version: '0.1', attributes: { 'lib.flag': true }, droppedAttributesCount: 1 },
            metrics: [
              {
                type: 'summary',
                name: 'rpc.summary',
                description: '',
                unit: 's',
                metadata: { 'prometheus.type': 'summary' },
                points: [
                  {
                    attributes: { method: 'Get' },
                    timeUnixNano: 1736942400123456789n,
                    startTimeUnixNano: 1736938800000000005n,
                    flags: 1,
                    exemplars: [],
                    count: 42,
                    sum: 12.25,
                    quantileValues: [
                      { quantile: 0.5, value: 0.2 },
                      { quantile: 0.99, value: 1.75 },
                    ],
                  },
                ],
              },
              {
                type: 'sum',
                name: 'jobs.done',
                description: '',
                unit: '',
                isMonotonic: true,
                temporality: 2,
                points: [
                  {
                    attributes: {},
                    timeUnixNano: 18446744073709551615n,
                    startTimeUnixNano: 0n,
                    flags: 0,
                    value: -9223372036854775808n,
                    exemplars: [
                      {
                        filteredAttributes: { user: 'u1', big: 9007199254740993n },
                        timeUnixNano: 1736942400000000001n,
                        value: 2.5,
                        spanId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
                        traceId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
                      },
                      { filteredAttributes: {}, timeUnixNano: 1736942400000000002n, value: 7n, spanId: undefined, traceId: undefined },
                    ],
                  },
                ],
              },
              {
                type: 'exponential_histogram',
                name: 'latency.exp',
                description: '',
                unit: '',
                temporality: 1,
                points: [
                  {
                    attributes: {},
                    timeUnixNano: 0n,
                    startTimeUnixNano: 0n,
                    flags: 0,
                    exemplars: [],
                    count: 1,
                    sum: undefined,
                    scale: 2,
                    zeroCount: 1,
                    positive: { offset: 3, bucketCounts: [5_000_000_000] },
                    negative: { offset: 0, bucketCounts: [] },
                    min: undefined,
                    max: undefined,
                    zeroThreshold: 0.001,
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

/** richRequestObject() written as OTLP/JSON by hand: hex ids, int64s as strings. */
export function richRequestJson(): string {
  return JSON.stringify(richRequestObject(), (key, value) => {
    if ((key === 'spanId' || key === 'traceId') && value?.type === 'Buffer') return Buffer.from(value.data).toString('hex');
    return value;
  });
}

export function encodeRequest(root: protobuf.Root, object: Record<string, unknown>): Uint8Array {
  const type = root.lookupType(REQUEST_TYPE);
  return type.encode(type.fromObject(object)).finish();
}

/** Minimal wire writer for hand-made (and deliberately broken) messages. */
export const wire = {
  tag: (field: number, wireType: number) => varint((field << 3) | wireType),
  varint: (field: number, n: number | bigint) => concat(wire.tag(field, 0), varint(n)),
  fixed64: (field: number, n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, n));
    return concat(wire.tag(field, 1), b);
  },
  double: (field: number, n: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(n);
    return concat(wire.tag(field, 1), b);
  },
  message: (field: number, ...parts: Uint8Array[]) => {
    const body = concat(...parts);
    return concat(wire.tag(field, 2), varint(body.length), body);
  },
  string: (field: number, s: string) => wire.message(field, Buffer.from(s)),
};

function varint(n: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return Uint8Array.from(out);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Deterministic PRNG (mulberry32), so a failing random case can be reproduced. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
