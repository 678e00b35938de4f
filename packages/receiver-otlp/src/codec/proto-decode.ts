/**
 * ExportMetricsServiceRequest (protobuf) → Skein's data model, in one pass.
 *
 * This is the receiver's hot path, so it is written by hand on protobufjs's Reader instead of
 * generated: each message is walked straight into the model, with no intermediate objects
 * (bench/receiver-otlp/decode.bench.ts compares it with protobufjs's generic decode). The
 * field numbers are those of proto/opentelemetry/proto/**; each `case` is a whole tag,
 * `(field << 3) | wire type`, written in hex with the field named beside it.
 *
 * Every nested message is read with `reader.len` narrowed to its end, so a field that runs
 * past its message fails the Reader's own bounds checks like a truncated buffer does.
 */
import protobuf from 'protobufjs/minimal.js';
import type {
  AttributeValue,
  Attributes,
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  Metric,
  NumberDataPoint,
  QuantileValue,
  Resource,
  ResourceMetrics,
  ScopeMetrics,
  SummaryDataPoint,
} from '@skein/core';
import {
  MAX_ANY_VALUE_DEPTH,
  RejectionLog,
  finishMetric,
  metadataOf,
  resourceMetricsOf,
  resourceOf,
  scopeMetricsOf,
  scopeOf,
  setAttribute,
  type DecodeResult,
  type MetricData,
  type MetricHeader,
} from './assemble.ts';
import { OtlpDecodeError } from './errors.ts';
import { readString } from './strings.ts';

type Reader = protobuf.Reader;

/** A message's name and its known fields (number → [name, type]), for error messages. */
interface MessageInfo {
  name: string;
  fields: Record<number, readonly [string, string]>;
}

const REQUEST: MessageInfo = { name: 'ExportMetricsServiceRequest', fields: { 1: ['resource_metrics', 'message'] } };
const RESOURCE_METRICS: MessageInfo = {
  name: 'ResourceMetrics',
  fields: { 1: ['resource', 'message'], 2: ['scope_metrics', 'message'], 3: ['schema_url', 'string'] },
};
const RESOURCE: MessageInfo = {
  name: 'Resource',
  fields: { 1: ['attributes', 'message'], 2: ['dropped_attributes_count', 'uint32'] },
};
const SCOPE_METRICS: MessageInfo = {
  name: 'ScopeMetrics',
  fields: { 1: ['scope', 'message'], 2: ['metrics', 'message'], 3: ['schema_url', 'string'] },
};
const SCOPE: MessageInfo = {
  name: 'InstrumentationScope',
  fields: { 1: ['name', 'string'], 2: ['version', 'string'], 3: ['attributes', 'message'], 4: ['dropped_attributes_count', 'uint32'] },
};
const METRIC: MessageInfo = {
  name: 'Metric',
  fields: {
    1: ['name', 'string'],
    2: ['description', 'string'],
    3: ['unit', 'string'],
    5: ['gauge', 'message'],
    7: ['sum', 'message'],
    9: ['histogram', 'message'],
    10: ['exponential_histogram', 'message'],
    11: ['summary', 'message'],
    12: ['metadata', 'message'],
  },
};
const GAUGE: MessageInfo = { name: 'Gauge', fields: { 1: ['data_points', 'message'] } };
const SUM: MessageInfo = {
  name: 'Sum',
  fields: { 1: ['data_points', 'message'], 2: ['aggregation_temporality', 'enum'], 3: ['is_monotonic', 'bool'] },
};
const HISTOGRAM: MessageInfo = {
  name: 'Histogram',
  fields: { 1: ['data_points', 'message'], 2: ['aggregation_temporality', 'enum'] },
};
const EXPONENTIAL_HISTOGRAM: MessageInfo = { name: 'ExponentialHistogram', fields: HISTOGRAM.fields };
const SUMMARY: MessageInfo = { name: 'Summary', fields: { 1: ['data_points', 'message'] } };
const NUMBER_POINT: MessageInfo = {
  name: 'NumberDataPoint',
  fields: {
    2: ['start_time_unix_nano', 'fixed64'],
    3: ['time_unix_nano', 'fixed64'],
    4: ['as_double', 'double'],
    5: ['exemplars', 'message'],
    6: ['as_int', 'sfixed64'],
    7: ['attributes', 'message'],
    8: ['flags', 'uint32'],
  },
};
const HISTOGRAM_POINT: MessageInfo = {
  name: 'HistogramDataPoint',
  fields: {
    2: ['start_time_unix_nano', 'fixed64'],
    3: ['time_unix_nano', 'fixed64'],
    4: ['count', 'fixed64'],
    5: ['sum', 'double'],
    6: ['bucket_counts', 'repeated fixed64'],
    7: ['explicit_bounds', 'repeated double'],
    8: ['exemplars', 'message'],
    9: ['attributes', 'message'],
    10: ['flags', 'uint32'],
    11: ['min', 'double'],
    12: ['max', 'double'],
  },
};
const EXPONENTIAL_POINT: MessageInfo = {
  name: 'ExponentialHistogramDataPoint',
  fields: {
    1: ['attributes', 'message'],
    2: ['start_time_unix_nano', 'fixed64'],
    3: ['time_unix_nano', 'fixed64'],
    4: ['count', 'fixed64'],
    5: ['sum', 'double'],
    6: ['scale', 'sint32'],
    7: ['zero_count', 'fixed64'],
    8: ['positive', 'message'],
    9: ['negative', 'message'],
    10: ['flags', 'uint32'],
    11: ['exemplars', 'message'],
    12: ['min', 'double'],
    13: ['max', 'double'],
    14: ['zero_threshold', 'double'],
  },
};
const BUCKETS: MessageInfo = {
  name: 'ExponentialHistogramDataPoint.Buckets',
  fields: { 1: ['offset', 'sint32'], 2: ['bucket_counts', 'repeated uint64'] },
};
const SUMMARY_POINT: MessageInfo = {
  name: 'SummaryDataPoint',
  fields: {
    2: ['start_time_unix_nano', 'fixed64'],
    3: ['time_unix_nano', 'fixed64'],
    4: ['count', 'fixed64'],
    5: ['sum', 'double'],
    6: ['quantile_values', 'message'],
    7: ['attributes', 'message'],
    8: ['flags', 'uint32'],
  },
};
const QUANTILE: MessageInfo = {
  name: 'SummaryDataPoint.ValueAtQuantile',
  fields: { 1: ['quantile', 'double'], 2: ['value', 'double'] },
};
const EXEMPLAR: MessageInfo = {
  name: 'Exemplar',
  fields: {
    2: ['time_unix_nano', 'fixed64'],
    3: ['as_double', 'double'],
    4: ['span_id', 'bytes'],
    5: ['trace_id', 'bytes'],
    6: ['as_int', 'sfixed64'],
    7: ['filtered_attributes', 'message'],
  },
};
const KEY_VALUE: MessageInfo = { name: 'KeyValue', fields: { 1: ['key', 'string'], 2: ['value', 'message'] } };
const ANY_VALUE: MessageInfo = {
  name: 'AnyValue',
  fields: {
    1: ['string_value', 'string'],
    2: ['bool_value', 'bool'],
    3: ['int_value', 'int64'],
    4: ['double_value', 'double'],
    5: ['array_value', 'message'],
    6: ['kvlist_value', 'message'],
    7: ['bytes_value', 'bytes'],
  },
};
const ARRAY_VALUE: MessageInfo = { name: 'ArrayValue', fields: { 1: ['values', 'message'] } };
const KEY_VALUE_LIST: MessageInfo = { name: 'KeyValueList', fields: { 1: ['values', 'message'] } };

export function decodeMetricsRequestProto(bytes: Uint8Array): DecodeResult {
  // A Buffer view of the bytes (no copy): readString decodes with Buffer's UTF-8 decoder.
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = protobuf.Reader.create(buf);
  const log = new RejectionLog();
  const resourceMetrics: ResourceMetrics[] = [];
  try {
    while (r.pos < r.len) {
      const tag = r.tag();
      if (tag === 0x0a) {
        // resource_metrics = 1
        const outer = enter(r, REQUEST, 1);
        resourceMetrics.push(decodeResourceMetrics(r, log, resourceMetrics.length));
        r.len = outer;
      } else skipField(r, tag, REQUEST);
    }
  } catch (err) {
    throw asDecodeError(err, r);
  }
  return log.result(resourceMetrics);
}

function asDecodeError(err: unknown, r: Reader): unknown {
  if (err instanceof OtlpDecodeError) return err;
  // The Reader throws RangeError when a read passes the end, plain Error for malformed varints,
  // tags and groups. Anything else is a bug here and keeps its own type.
  if (err instanceof RangeError) {
    return new OtlpDecodeError(`invalid protobuf: unexpected end of message at offset ${r.pos} (${err.message})`, { cause: err });
  }
  if (err instanceof Error && err.constructor === Error) {
    const where = /offset/.test(err.message) ? '' : ` at offset ${r.pos}`;
    return new OtlpDecodeError(`invalid protobuf: ${err.message}${where}`, { cause: err });
  }
  return err;
}

/**
 * Reads a length prefix and narrows the reader to that many bytes; returns the previous end,
 * which the caller restores once the nested message is read.
 */
function enter(r: Reader, parent: MessageInfo, field: number): number {
  const size = r.uint32();
  const end = r.pos + size;
  if (end > r.len) {
    throw new OtlpDecodeError(
      `invalid protobuf: truncated length-delimited field ${field} (${parent.name}.${parent.fields[field][0]}) at offset ${r.pos}: ` +
        `${size} bytes declared, ${r.len - r.pos} left`,
    );
  }
  const outer = r.len;
  r.len = end;
  return outer;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/** Skips a field the message does not know; a known field with another wire type is an error. */
function skipField(r: Reader, tag: number, msg: MessageInfo): void {
  const field = tag >>> 3;
  const wireType = tag & 7;
  const at = r.pos - varintLength(tag);
  if (field === 0) throw new OtlpDecodeError(`invalid protobuf: field number 0 in ${msg.name} at offset ${at}`);
  const known = msg.fields[field];
  if (known !== undefined) {
    throw new OtlpDecodeError(
      `invalid protobuf: wrong wire type ${wireType} for ${msg.name}.${known[0]} (field ${field}, ${known[1]}) at offset ${at}`,
    );
  }
  if (wireType === 4 || wireType > 5) {
    throw new OtlpDecodeError(`invalid protobuf: invalid wire type ${wireType} for field ${field} in ${msg.name} at offset ${at}`);
  }
  r.skipType(wireType, 0, field);
}

function outOfRange(r: Reader, size: number): RangeError {
  return new RangeError(`index out of range: ${r.pos} + ${size} > ${r.len}`);
}

// Fixed-width values are copied into an 8-byte scratch buffer and read through typed-array
// views of it. A DataView over the request would read them in place, but making one costs more
// than these copies on a small push (see bench/receiver-otlp/decode.bench.ts).
const scratch = new Uint8Array(8);
const scratchDouble = new Float64Array(scratch.buffer);
const scratchUint64 = new BigUint64Array(scratch.buffer);
const scratchInt64 = new BigInt64Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Copies the 8 little-endian bytes at the reader's position into `scratch`, in host order. */
function load8(r: Reader): void {
  const p = r.pos;
  if (p + 8 > r.len) throw outOfRange(r, 8);
  const b = r.buf;
  if (LITTLE_ENDIAN) {
    scratch[0] = b[p];
    scratch[1] = b[p + 1];
    scratch[2] = b[p + 2];
    scratch[3] = b[p + 3];
    scratch[4] = b[p + 4];
    scratch[5] = b[p + 5];
    scratch[6] = b[p + 6];
    scratch[7] = b[p + 7];
  } else {
    for (let i = 0; i < 8; i++) scratch[7 - i] = b[p + i];
  }
  r.pos = p + 8;
}

/** A fixed64 nanosecond timestamp. The one place where wire timestamps become bigints. */
function fixed64BigInt(r: Reader): bigint {
  load8(r);
  return scratchUint64[0];
}

function sfixed64BigInt(r: Reader): bigint {
  load8(r);
  return scratchInt64[0];
}

function double(r: Reader): number {
  load8(r);
  return scratchDouble[0];
}

/** The fixed64 at `p` as a number (exact below 2^53, which no real count reaches). */
function fixed64At(b: Uint8Array, p: number): number {
  const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
  return lo + hi * 0x1_0000_0000;
}

function fixed64Number(r: Reader): number {
  const p = r.pos;
  if (p + 8 > r.len) throw outOfRange(r, 8);
  r.pos = p + 8;
  return fixed64At(r.buf, p);
}

/** A uint64 varint as a number. */
function uint64Number(r: Reader): number {
  const buf = r.buf;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (r.pos >= r.len) throw outOfRange(r, 1);
    const b = buf[r.pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 0x80;
  }
  throw new Error('invalid varint encoding');
}

/** An int64 varint (AnyValue.int_value) as a bigint, from the Long protobufjs reads it into. */
function int64BigInt(r: Reader): bigint {
  const v = r.int64();
  return (BigInt(v.high) << 32n) | BigInt(v.low >>> 0);
}

/** A copy, so the batch never pins (or sees reuse of) the request buffer. */
function bytesCopy(r: Reader): Uint8Array {
  return new Uint8Array(r.bytes());
}

function packedFixed64Numbers(r: Reader, out: number[]): void {
  const size = r.uint32();
  const end = r.pos + size;
  if (end > r.len) throw outOfRange(r, size);
  if (size % 8 !== 0) throw new OtlpDecodeError(`invalid protobuf: packed fixed64 field of ${size} bytes at offset ${r.pos}`);
  const b = r.buf;
  for (let p = r.pos; p < end; p += 8) out.push(fixed64At(b, p));
  r.pos = end;
}

function packedUint64Numbers(r: Reader, parent: MessageInfo, field: number, out: number[]): void {
  const outer = enter(r, parent, field);
  while (r.pos < r.len) out.push(uint64Number(r));
  r.len = outer;
}

function decodeResourceMetrics(r: Reader, log: RejectionLog, ri: number): ResourceMetrics {
  let resource: Resource | undefined;
  const scopeMetrics: ScopeMetrics[] = [];
  let schemaUrl = '';
  let si = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: {
        // resource = 1
        const outer = enter(r, RESOURCE_METRICS, 1);
        resource = decodeResource(r);
        r.len = outer;
        break;
      }
      case 0x12: {
        // scope_metrics = 2
        const outer = enter(r, RESOURCE_METRICS, 2);
        scopeMetrics.push(decodeScopeMetrics(r, log, ri, si++));
        r.len = outer;
        break;
      }
      case 0x1a: // schema_url = 3
        schemaUrl = readString(r);
        break;
      default:
        skipField(r, tag, RESOURCE_METRICS);
    }
  }
  return resourceMetricsOf(resource ?? { attributes: {} }, scopeMetrics, schemaUrl);
}

function decodeResource(r: Reader): Resource {
  const attributes: Attributes = {};
  let dropped = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) attribute(r, RESOURCE, 1, attributes); // attributes = 1
    else if (tag === 0x10) dropped = r.uint32(); // dropped_attributes_count = 2
    else skipField(r, tag, RESOURCE);
  }
  return resourceOf(attributes, dropped);
}

function decodeScopeMetrics(r: Reader, log: RejectionLog, ri: number, si: number): ScopeMetrics {
  let scope: InstrumentationScope | undefined;
  const metrics: Metric[] = [];
  let schemaUrl = '';
  let mi = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: {
        // scope = 1
        const outer = enter(r, SCOPE_METRICS, 1);
        scope = decodeScope(r);
        r.len = outer;
        break;
      }
      case 0x12: {
        // metrics = 2
        const outer = enter(r, SCOPE_METRICS, 2);
        const metric = decodeMetric(r, log, ri, si, mi++);
        if (metric !== undefined) metrics.push(metric);
        r.len = outer;
        break;
      }
      case 0x1a: // schema_url = 3
        schemaUrl = readString(r);
        break;
      default:
        skipField(r, tag, SCOPE_METRICS);
    }
  }
  return scopeMetricsOf(scope ?? { name: '' }, metrics, schemaUrl);
}

function decodeScope(r: Reader): InstrumentationScope {
  let name = '';
  let version = '';
  const attributes: Attributes = {};
  let dropped = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: // name = 1
        name = readString(r);
        break;
      case 0x12: // version = 2
        version = readString(r);
        break;
      case 0x1a: // attributes = 3
        attribute(r, SCOPE, 3, attributes);
        break;
      case 0x20: // dropped_attributes_count = 4
        dropped = r.uint32();
        break;
      default:
        skipField(r, tag, SCOPE);
    }
  }
  return scopeOf(name, version, attributes, dropped);
}

function decodeMetric(r: Reader, log: RejectionLog, ri: number, si: number, mi: number): Metric | undefined {
  const head: MetricHeader = { name: '', description: '', unit: '', metadata: undefined };
  let metadata: Attributes | undefined;
  let data: MetricData | undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: // name = 1
        head.name = readString(r);
        break;
      case 0x12: // description = 2
        head.description = readString(r);
        break;
      case 0x1a: // unit = 3
        head.unit = readString(r);
        break;
      case 0x2a: {
        // gauge = 5
        const outer = enter(r, METRIC, 5);
        data = decodeGauge(r);
        r.len = outer;
        break;
      }
      case 0x3a: {
        // sum = 7
        const outer = enter(r, METRIC, 7);
        data = decodeSum(r);
        r.len = outer;
        break;
      }
      case 0x4a: {
        // histogram = 9
        const outer = enter(r, METRIC, 9);
        data = decodeHistogram(r);
        r.len = outer;
        break;
      }
      case 0x52: {
        // exponential_histogram = 10
        const outer = enter(r, METRIC, 10);
        data = decodeExponentialHistogram(r);
        r.len = outer;
        break;
      }
      case 0x5a: {
        // summary = 11
        const outer = enter(r, METRIC, 11);
        data = decodeSummary(r);
        r.len = outer;
        break;
      }
      case 0x62: // metadata = 12
        metadata ??= {};
        attribute(r, METRIC, 12, metadata);
        break;
      default:
        skipField(r, tag, METRIC);
    }
  }
  if (metadata !== undefined) head.metadata = metadataOf(metadata);
  return finishMetric(head, data, log, ri, si, mi);
}

function decodeGauge(r: Reader): MetricData {
  const points: NumberDataPoint[] = [];
  let valueless = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) {
      // data_points = 1
      const outer = enter(r, GAUGE, 1);
      const p = decodeNumberPoint(r);
      if (p !== undefined) points.push(p);
      else valueless++;
      r.len = outer;
    } else skipField(r, tag, GAUGE);
  }
  return { type: 'gauge', points, valueless };
}

function decodeSum(r: Reader): MetricData {
  const points: NumberDataPoint[] = [];
  let valueless = 0;
  let temporality = 0;
  let isMonotonic = false;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: {
        // data_points = 1
        const outer = enter(r, SUM, 1);
        const p = decodeNumberPoint(r);
        if (p !== undefined) points.push(p);
        else valueless++;
        r.len = outer;
        break;
      }
      case 0x10: // aggregation_temporality = 2
        temporality = r.int32();
        break;
      case 0x18: // is_monotonic = 3
        isMonotonic = r.bool();
        break;
      default:
        skipField(r, tag, SUM);
    }
  }
  return { type: 'sum', points, valueless, temporality, isMonotonic };
}

function decodeHistogram(r: Reader): MetricData {
  const points: HistogramDataPoint[] = [];
  let temporality = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) {
      // data_points = 1
      const outer = enter(r, HISTOGRAM, 1);
      points.push(decodeHistogramPoint(r));
      r.len = outer;
    } else if (tag === 0x10) temporality = r.int32(); // aggregation_temporality = 2
    else skipField(r, tag, HISTOGRAM);
  }
  return { type: 'histogram', points, temporality };
}

function decodeExponentialHistogram(r: Reader): MetricData {
  const points: ExponentialHistogramDataPoint[] = [];
  let temporality = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) {
      // data_points = 1
      const outer = enter(r, EXPONENTIAL_HISTOGRAM, 1);
      points.push(decodeExponentialPoint(r));
      r.len = outer;
    } else if (tag === 0x10) temporality = r.int32(); // aggregation_temporality = 2
    else skipField(r, tag, EXPONENTIAL_HISTOGRAM);
  }
  return { type: 'exponential_histogram', points, temporality };
}

function decodeSummary(r: Reader): MetricData {
  const points: SummaryDataPoint[] = [];
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) {
      // data_points = 1
      const outer = enter(r, SUMMARY, 1);
      points.push(decodeSummaryPoint(r));
      r.len = outer;
    } else skipField(r, tag, SUMMARY);
  }
  return { type: 'summary', points };
}

/** Undefined when the point has neither as_double nor as_int (the caller counts it). */
function decodeNumberPoint(r: Reader): NumberDataPoint | undefined {
  const attributes: Attributes = {};
  let startTimeUnixNano = 0n;
  let timeUnixNano = 0n;
  let value: number | bigint | undefined;
  const exemplars: Exemplar[] = [];
  let flags = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x3a: // attributes = 7
        attribute(r, NUMBER_POINT, 7, attributes);
        break;
      case 0x11: // start_time_unix_nano = 2
        startTimeUnixNano = fixed64BigInt(r);
        break;
      case 0x19: // time_unix_nano = 3
        timeUnixNano = fixed64BigInt(r);
        break;
      case 0x21: // as_double = 4
        value = double(r);
        break;
      case 0x31: // as_int = 6
        value = sfixed64BigInt(r);
        break;
      case 0x2a: // exemplars = 5
        exemplar(r, NUMBER_POINT, 5, exemplars);
        break;
      case 0x40: // flags = 8
        flags = r.uint32();
        break;
      default:
        skipField(r, tag, NUMBER_POINT);
    }
  }
  if (value === undefined) return undefined;
  return { attributes, timeUnixNano, startTimeUnixNano, flags, exemplars, value };
}

function decodeHistogramPoint(r: Reader): HistogramDataPoint {
  const attributes: Attributes = {};
  let startTimeUnixNano = 0n;
  let timeUnixNano = 0n;
  let count = 0;
  let sum: number | undefined;
  const bucketCounts: number[] = [];
  const explicitBounds: number[] = [];
  const exemplars: Exemplar[] = [];
  let flags = 0;
  let min: number | undefined;
  let max: number | undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x4a: // attributes = 9
        attribute(r, HISTOGRAM_POINT, 9, attributes);
        break;
      case 0x11: // start_time_unix_nano = 2
        startTimeUnixNano = fixed64BigInt(r);
        break;
      case 0x19: // time_unix_nano = 3
        timeUnixNano = fixed64BigInt(r);
        break;
      case 0x21: // count = 4
        count = fixed64Number(r);
        break;
      case 0x29: // sum = 5
        sum = double(r);
        break;
      case 0x32: // bucket_counts = 6, packed
        packedFixed64Numbers(r, bucketCounts);
        break;
      case 0x31: // bucket_counts = 6, one element
        bucketCounts.push(fixed64Number(r));
        break;
      case 0x3a: // explicit_bounds = 7, packed
        r.doubles(explicitBounds);
        break;
      case 0x39: // explicit_bounds = 7, one element
        explicitBounds.push(double(r));
        break;
      case 0x42: // exemplars = 8
        exemplar(r, HISTOGRAM_POINT, 8, exemplars);
        break;
      case 0x50: // flags = 10
        flags = r.uint32();
        break;
      case 0x59: // min = 11
        min = double(r);
        break;
      case 0x61: // max = 12
        max = double(r);
        break;
      default:
        skipField(r, tag, HISTOGRAM_POINT);
    }
  }
  return { attributes, timeUnixNano, startTimeUnixNano, flags, exemplars, count, sum, bucketCounts, explicitBounds, min, max };
}

function decodeExponentialPoint(r: Reader): ExponentialHistogramDataPoint {
  const attributes: Attributes = {};
  let startTimeUnixNano = 0n;
  let timeUnixNano = 0n;
  let count = 0;
  let sum: number | undefined;
  let scale = 0;
  let zeroCount = 0;
  let positive: ExponentialBuckets | undefined;
  let negative: ExponentialBuckets | undefined;
  let flags = 0;
  const exemplars: Exemplar[] = [];
  let min: number | undefined;
  let max: number | undefined;
  let zeroThreshold = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: // attributes = 1
        attribute(r, EXPONENTIAL_POINT, 1, attributes);
        break;
      case 0x11: // start_time_unix_nano = 2
        startTimeUnixNano = fixed64BigInt(r);
        break;
      case 0x19: // time_unix_nano = 3
        timeUnixNano = fixed64BigInt(r);
        break;
      case 0x21: // count = 4
        count = fixed64Number(r);
        break;
      case 0x29: // sum = 5
        sum = double(r);
        break;
      case 0x30: // scale = 6
        scale = r.sint32();
        break;
      case 0x39: // zero_count = 7
        zeroCount = fixed64Number(r);
        break;
      case 0x42: // positive = 8
        positive = buckets(r, 8);
        break;
      case 0x4a: // negative = 9
        negative = buckets(r, 9);
        break;
      case 0x50: // flags = 10
        flags = r.uint32();
        break;
      case 0x5a: // exemplars = 11
        exemplar(r, EXPONENTIAL_POINT, 11, exemplars);
        break;
      case 0x61: // min = 12
        min = double(r);
        break;
      case 0x69: // max = 13
        max = double(r);
        break;
      case 0x71: // zero_threshold = 14
        zeroThreshold = double(r);
        break;
      default:
        skipField(r, tag, EXPONENTIAL_POINT);
    }
  }
  return {
    attributes,
    timeUnixNano,
    startTimeUnixNano,
    flags,
    exemplars,
    count,
    sum,
    scale,
    zeroCount,
    positive: positive ?? { offset: 0, bucketCounts: [] },
    negative: negative ?? { offset: 0, bucketCounts: [] },
    min,
    max,
    zeroThreshold,
  };
}

function buckets(r: Reader, field: number): ExponentialBuckets {
  const outer = enter(r, EXPONENTIAL_POINT, field);
  let offset = 0;
  const bucketCounts: number[] = [];
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x08: // offset = 1
        offset = r.sint32();
        break;
      case 0x12: // bucket_counts = 2, packed
        packedUint64Numbers(r, BUCKETS, 2, bucketCounts);
        break;
      case 0x10: // bucket_counts = 2, one element
        bucketCounts.push(uint64Number(r));
        break;
      default:
        skipField(r, tag, BUCKETS);
    }
  }
  r.len = outer;
  return { offset, bucketCounts };
}

function decodeSummaryPoint(r: Reader): SummaryDataPoint {
  const attributes: Attributes = {};
  let startTimeUnixNano = 0n;
  let timeUnixNano = 0n;
  let count = 0;
  let sum = 0;
  const quantileValues: QuantileValue[] = [];
  let flags = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x3a: // attributes = 7
        attribute(r, SUMMARY_POINT, 7, attributes);
        break;
      case 0x11: // start_time_unix_nano = 2
        startTimeUnixNano = fixed64BigInt(r);
        break;
      case 0x19: // time_unix_nano = 3
        timeUnixNano = fixed64BigInt(r);
        break;
      case 0x21: // count = 4
        count = fixed64Number(r);
        break;
      case 0x29: // sum = 5
        sum = double(r);
        break;
      case 0x32: // quantile_values = 6
        quantileValues.push(quantileValue(r));
        break;
      case 0x40: // flags = 8
        flags = r.uint32();
        break;
      default:
        skipField(r, tag, SUMMARY_POINT);
    }
  }
  return { attributes, timeUnixNano, startTimeUnixNano, flags, exemplars: [], count, sum, quantileValues };
}

function quantileValue(r: Reader): QuantileValue {
  const outer = enter(r, SUMMARY_POINT, 6);
  let quantile = 0;
  let value = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x09) quantile = double(r); // quantile = 1
    else if (tag === 0x11) value = double(r); // value = 2
    else skipField(r, tag, QUANTILE);
  }
  r.len = outer;
  return { quantile, value };
}

/** Appends one Exemplar; one without a value (neither as_double nor as_int) is left out. */
function exemplar(r: Reader, parent: MessageInfo, field: number, out: Exemplar[]): void {
  const outer = enter(r, parent, field);
  const filteredAttributes: Attributes = {};
  let timeUnixNano = 0n;
  let value: number | bigint | undefined;
  let spanId: Uint8Array | undefined;
  let traceId: Uint8Array | undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x3a: // filtered_attributes = 7
        attribute(r, EXEMPLAR, 7, filteredAttributes);
        break;
      case 0x11: // time_unix_nano = 2
        timeUnixNano = fixed64BigInt(r);
        break;
      case 0x19: // as_double = 3
        value = double(r);
        break;
      case 0x31: // as_int = 6
        value = sfixed64BigInt(r);
        break;
      case 0x22: // span_id = 4
        spanId = id(r, 'span_id', 8);
        break;
      case 0x2a: // trace_id = 5
        traceId = id(r, 'trace_id', 16);
        break;
      default:
        skipField(r, tag, EXEMPLAR);
    }
  }
  r.len = outer;
  if (value !== undefined) out.push({ filteredAttributes, timeUnixNano, value, spanId, traceId });
}

/** A span or trace id: empty means unset; any other length than the id's is malformed. */
function id(r: Reader, name: string, size: number): Uint8Array | undefined {
  const at = r.pos;
  const bytes = bytesCopy(r);
  if (bytes.length === 0) return undefined;
  if (bytes.length !== size) {
    throw new OtlpDecodeError(`invalid protobuf: Exemplar.${name} must be ${size} bytes, got ${bytes.length} at offset ${at}`);
  }
  return bytes;
}

/** Reads one KeyValue (field `field` of `parent`) into `attrs`. A key without a value is left out. */
function attribute(r: Reader, parent: MessageInfo, field: number, attrs: Attributes, depth = 0): void {
  const outer = enter(r, parent, field);
  let key = '';
  let value: AttributeValue | undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) key = readString(r); // key = 1
    else if (tag === 0x12) value = anyValue(r, KEY_VALUE, 2, depth); // value = 2
    else skipField(r, tag, KEY_VALUE);
  }
  r.len = outer;
  if (value !== undefined) setAttribute(attrs, key, value);
}

/** One AnyValue; undefined when no value is set (the SDK sends that for null and undefined). */
function anyValue(r: Reader, parent: MessageInfo, field: number, depth: number): AttributeValue | undefined {
  const outer = enter(r, parent, field);
  let value: AttributeValue | undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: // string_value = 1
        value = readString(r);
        break;
      case 0x10: // bool_value = 2
        value = r.bool();
        break;
      case 0x18: // int_value = 3
        value = int64BigInt(r);
        break;
      case 0x21: // double_value = 4
        value = double(r);
        break;
      case 0x2a: // array_value = 5
        value = arrayValue(r, depth + 1);
        break;
      case 0x32: // kvlist_value = 6
        value = kvlistValue(r, depth + 1);
        break;
      case 0x3a: // bytes_value = 7
        value = bytesCopy(r);
        break;
      default:
        skipField(r, tag, ANY_VALUE);
    }
  }
  r.len = outer;
  return value;
}

function checkDepth(r: Reader, depth: number): void {
  if (depth > MAX_ANY_VALUE_DEPTH) {
    throw new OtlpDecodeError(`invalid protobuf: attribute value nested deeper than ${MAX_ANY_VALUE_DEPTH} levels at offset ${r.pos}`);
  }
}

/** ArrayValue: elements without a value are left out, as keys without one are. */
function arrayValue(r: Reader, depth: number): AttributeValue[] {
  checkDepth(r, depth);
  const outer = enter(r, ANY_VALUE, 5);
  const values: AttributeValue[] = [];
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) {
      // values = 1
      const v = anyValue(r, ARRAY_VALUE, 1, depth);
      if (v !== undefined) values.push(v);
    } else skipField(r, tag, ARRAY_VALUE);
  }
  r.len = outer;
  return values;
}

function kvlistValue(r: Reader, depth: number): Attributes {
  checkDepth(r, depth);
  const outer = enter(r, ANY_VALUE, 6);
  const values: Attributes = {};
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) attribute(r, KEY_VALUE_LIST, 1, values, depth); // values = 1
    else skipField(r, tag, KEY_VALUE_LIST);
  }
  r.len = outer;
  return values;
}
