/**
 * ExportMetricsServiceRequest in OTLP/JSON → Skein's data model.
 *
 * OTLP/JSON is the protobuf JSON mapping with OTLP's own rules: lowerCamelCase field names
 * (the original snake_case names are accepted too), 64-bit integers as decimal strings or
 * numbers, enums as integers (names accepted too), trace and span ids as hex, bytes as base64.
 * Unknown fields are ignored and null means "not set". The body is parsed with JSON.parse (the
 * transport bounds its size) and then walked with strict type checks: a value of the wrong
 * type is an OtlpDecodeError naming its path, e.g.
 * `resourceMetrics[0].scopeMetrics[0].metrics[2].gauge.dataPoints[0].timeUnixNano`.
 */
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
} from './assemble.ts';
import { OtlpDecodeError } from './errors.ts';

type JsonObject = Record<string, unknown>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const JSON_WHITESPACE = /^[ \t\n\r]*$/;

export function decodeMetricsRequestJson(input: Uint8Array | string): DecodeResult {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = utf8.decode(input);
    } catch (err) {
      throw new OtlpDecodeError('invalid JSON: the body is not valid UTF-8', { cause: err });
    }
  }
  const log = new RejectionLog();
  if (JSON_WHITESPACE.test(text)) return log.result([]);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError(`invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  const request = object(root, '') ?? {};
  const list = array(field(request, 'resourceMetrics', 'resource_metrics'), 'resourceMetrics');
  const resourceMetrics: ResourceMetrics[] = [];
  for (let ri = 0; ri < list.length; ri++) {
    resourceMetrics.push(decodeResourceMetrics(list[ri], `resourceMetrics[${ri}]`, log, ri));
  }
  return log.result(resourceMetrics);
}

// ---- typed readers: each takes the raw value and its path, and treats null as "not set" ----

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function fail(path: string, expected: string, got: unknown): OtlpDecodeError {
  return new OtlpDecodeError(`${path === '' ? 'request body' : path}: expected ${expected}, got ${describe(got)}`);
}

/** The value under the lowerCamelCase name, else under the original snake_case name. */
function field(o: JsonObject, camel: string, snake: string): unknown {
  const v = o[camel];
  return v !== undefined && v !== null ? v : o[snake];
}

function object(v: unknown, path: string): JsonObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw fail(path, 'an object', v);
  return v as JsonObject;
}

function array(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw fail(path, 'an array', v);
  return v;
}

function string(v: unknown, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw fail(path, 'a string', v);
  return v;
}

function boolean(v: unknown, path: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw fail(path, 'true or false', v);
  return v;
}

const INTEGER = /^-?[0-9]+$/;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
const INT64_MIN = -0x8000_0000_0000_0000n;
const INT64_MAX = 0x7fff_ffff_ffff_ffffn;

/** An int64/uint64 given as a decimal string or an integral number. */
function bigInteger(v: unknown, path: string, min: bigint, max: bigint, what: string): bigint {
  let n: bigint;
  if (typeof v === 'string' && INTEGER.test(v)) n = BigInt(v);
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else throw fail(path, 'an integer string or number', v);
  if (n < min || n > max) throw fail(path, what, v);
  return n;
}

/** fixed64 timestamps. */
function uint64BigInt(v: unknown, path: string): bigint {
  if (v === undefined || v === null) return 0n;
  return bigInteger(v, path, 0n, UINT64_MAX, 'an unsigned 64-bit integer');
}

/** as_int, int_value. */
function int64BigInt(v: unknown, path: string): bigint {
  return bigInteger(v, path, INT64_MIN, INT64_MAX, 'a signed 64-bit integer');
}

/** fixed64/uint64 counts, which the model keeps as numbers. */
function uint64Number(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  return Number(uint64BigInt(v, path));
}

function int32Range(v: unknown, path: string, min: number, max: number, what: string): number {
  if (v === undefined || v === null) return 0;
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && INTEGER.test(v)) n = Number(v);
  else throw fail(path, 'an integer string or number', v);
  if (n < min || n > max) throw fail(path, what, v);
  return n;
}

function uint32(v: unknown, path: string): number {
  return int32Range(v, path, 0, 0xffff_ffff, 'an unsigned 32-bit integer');
}

function int32(v: unknown, path: string): number {
  return int32Range(v, path, -0x8000_0000, 0x7fff_ffff, 'a signed 32-bit integer');
}

const NUMERIC = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

function double(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (NUMERIC.test(v)) return Number(v);
  }
  throw fail(path, 'a number or "NaN", "Infinity", "-Infinity"', v);
}

/** A double that defaults to 0. */
function double0(v: unknown, path: string): number {
  return v === undefined || v === null ? 0 : double(v, path);
}

/** A proto3 `optional double`: absent stays absent. */
function optionalDouble(v: unknown, path: string): number | undefined {
  return v === undefined || v === null ? undefined : double(v, path);
}

const TEMPORALITY_NAMES: Record<string, number> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: 0,
  AGGREGATION_TEMPORALITY_DELTA: 1,
  AGGREGATION_TEMPORALITY_CUMULATIVE: 2,
};

/** An integer (out-of-range values are left to finishMetric) or one of the enum's names. */
function temporality(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff) return v;
  if (typeof v === 'string' && Object.hasOwn(TEMPORALITY_NAMES, v)) return TEMPORALITY_NAMES[v];
  throw fail(path, `an integer or one of ${Object.keys(TEMPORALITY_NAMES).join(', ')}`, v);
}

const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

/** bytes: standard or URL-safe base64, padded or not; copied into a plain Uint8Array. */
function bytes(v: unknown, path: string): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v !== 'string' || !BASE64.test(v) || v.replace(/=+$/, '').length % 4 === 1) throw fail(path, 'a base64 string', v);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

const HEX = /^[0-9a-fA-F]*$/;

/** Trace and span ids are hex in OTLP/JSON; empty means unset. */
function hexId(v: unknown, path: string, size: number): Uint8Array | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length !== size * 2 || !HEX.test(v)) throw fail(path, `${size * 2} hex digits`, v);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

// ---- messages ----

function decodeResourceMetrics(v: unknown, path: string, log: RejectionLog, ri: number): ResourceMetrics {
  const o = object(v, path) ?? {};
  const resource = decodeResource(o.resource, `${path}.resource`);
  const list = array(field(o, 'scopeMetrics', 'scope_metrics'), `${path}.scopeMetrics`);
  const scopeMetrics: ScopeMetrics[] = [];
  for (let si = 0; si < list.length; si++) {
    scopeMetrics.push(decodeScopeMetrics(list[si], `${path}.scopeMetrics[${si}]`, log, ri, si));
  }
  return resourceMetricsOf(resource, scopeMetrics, string(field(o, 'schemaUrl', 'schema_url'), `${path}.schemaUrl`));
}

function decodeResource(v: unknown, path: string): Resource {
  const o = object(v, path);
  if (o === undefined) return { attributes: {} };
  return resourceOf(
    attributes(o.attributes, `${path}.attributes`),
    uint32(field(o, 'droppedAttributesCount', 'dropped_attributes_count'), `${path}.droppedAttributesCount`),
  );
}

function decodeScopeMetrics(v: unknown, path: string, log: RejectionLog, ri: number, si: number): ScopeMetrics {
  const o = object(v, path) ?? {};
  const scope = decodeScope(o.scope, `${path}.scope`);
  const list = array(o.metrics, `${path}.metrics`);
  const metrics: Metric[] = [];
  for (let mi = 0; mi < list.length; mi++) {
    const metric = decodeMetric(list[mi], `${path}.metrics[${mi}]`, log, ri, si, mi);
    if (metric !== undefined) metrics.push(metric);
  }
  return scopeMetricsOf(scope, metrics, string(field(o, 'schemaUrl', 'schema_url'), `${path}.schemaUrl`));
}

function decodeScope(v: unknown, path: string): InstrumentationScope {
  const o = object(v, path);
  if (o === undefined) return { name: '' };
  return scopeOf(
    string(o.name, `${path}.name`),
    string(o.version, `${path}.version`),
    attributes(o.attributes, `${path}.attributes`),
    uint32(field(o, 'droppedAttributesCount', 'dropped_attributes_count'), `${path}.droppedAttributesCount`),
  );
}

const DATA_FIELDS = [
  ['gauge', 'gauge'],
  ['sum', 'sum'],
  ['histogram', 'histogram'],
  ['exponentialHistogram', 'exponential_histogram'],
  ['summary', 'summary'],
] as const;

function decodeMetric(v: unknown, path: string, log: RejectionLog, ri: number, si: number, mi: number): Metric | undefined {
  const o = object(v, path) ?? {};
  let data: MetricData | undefined;
  let dataField: string | undefined;
  for (const [camel, snake] of DATA_FIELDS) {
    const d = field(o, camel, snake);
    if (d === undefined || d === null) continue;
    if (dataField !== undefined) {
      throw new OtlpDecodeError(`${path}: only one of gauge, sum, histogram, exponentialHistogram, summary may be set, got ${dataField} and ${camel}`);
    }
    dataField = camel;
    const at = `${path}.${camel}`;
    const body = object(d, at) ?? {};
    switch (camel) {
      case 'gauge':
        data = { type: 'gauge', ...numberPoints(body, at) };
        break;
      case 'sum':
        data = {
          type: 'sum',
          ...numberPoints(body, at),
          temporality: temporality(field(body, 'aggregationTemporality', 'aggregation_temporality'), `${at}.aggregationTemporality`),
          isMonotonic: boolean(field(body, 'isMonotonic', 'is_monotonic'), `${at}.isMonotonic`),
        };
        break;
      case 'histogram':
        data = {
          type: 'histogram',
          points: points(body, at, decodeHistogramPoint),
          temporality: temporality(field(body, 'aggregationTemporality', 'aggregation_temporality'), `${at}.aggregationTemporality`),
        };
        break;
      case 'exponentialHistogram':
        data = {
          type: 'exponential_histogram',
          points: points(body, at, decodeExponentialPoint),
          temporality: temporality(field(body, 'aggregationTemporality', 'aggregation_temporality'), `${at}.aggregationTemporality`),
        };
        break;
      case 'summary':
        data = { type: 'summary', points: points(body, at, decodeSummaryPoint) };
        break;
    }
  }
  const metadata = o.metadata === undefined || o.metadata === null ? undefined : metadataOf(attributes(o.metadata, `${path}.metadata`));
  const head = {
    name: string(o.name, `${path}.name`),
    description: string(o.description, `${path}.description`),
    unit: string(o.unit, `${path}.unit`),
    metadata,
  };
  return finishMetric(head, data, log, ri, si, mi);
}

function points<P>(data: JsonObject, path: string, decode: (v: unknown, path: string) => P): P[] {
  const list = array(field(data, 'dataPoints', 'data_points'), `${path}.dataPoints`);
  const out: P[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = decode(list[i], `${path}.dataPoints[${i}]`);
  return out;
}

function numberPoints(data: JsonObject, path: string): { points: NumberDataPoint[]; valueless: number } {
  const list = array(field(data, 'dataPoints', 'data_points'), `${path}.dataPoints`);
  const out: NumberDataPoint[] = [];
  let valueless = 0;
  for (let i = 0; i < list.length; i++) {
    const p = decodeNumberPoint(list[i], `${path}.dataPoints[${i}]`);
    if (p !== undefined) out.push(p);
    else valueless++;
  }
  return { points: out, valueless };
}

/** `asDouble` / `asInt`: at most one may be set; undefined when neither is. */
function numberValue(o: JsonObject, path: string): number | bigint | undefined {
  const d = field(o, 'asDouble', 'as_double');
  const i = field(o, 'asInt', 'as_int');
  const hasDouble = d !== undefined && d !== null;
  const hasInt = i !== undefined && i !== null;
  if (hasDouble && hasInt) throw new OtlpDecodeError(`${path}: only one of asDouble, asInt may be set`);
  if (hasDouble) return double(d, `${path}.asDouble`);
  if (hasInt) return int64BigInt(i, `${path}.asInt`);
  return undefined;
}

function decodeNumberPoint(v: unknown, path: string): NumberDataPoint | undefined {
  const o = object(v, path) ?? {};
  const attrs = attributes(o.attributes, `${path}.attributes`);
  const startTimeUnixNano = uint64BigInt(field(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`);
  const timeUnixNano = uint64BigInt(field(o, 'timeUnixNano', 'time_unix_nano'), `${path}.timeUnixNano`);
  const value = numberValue(o, path);
  const exemplars = decodeExemplars(o.exemplars, `${path}.exemplars`);
  const flags = uint32(o.flags, `${path}.flags`);
  if (value === undefined) return undefined;
  return { attributes: attrs, timeUnixNano, startTimeUnixNano, flags, exemplars, value };
}

function doubles(v: unknown, path: string): number[] {
  const list = array(v, path);
  const out: number[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = double(list[i], `${path}[${i}]`);
  return out;
}

function counts(v: unknown, path: string): number[] {
  const list = array(v, path);
  const out: number[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = uint64Number(list[i], `${path}[${i}]`);
  return out;
}

function decodeHistogramPoint(v: unknown, path: string): HistogramDataPoint {
  const o = object(v, path) ?? {};
  return {
    attributes: attributes(o.attributes, `${path}.attributes`),
    timeUnixNano: uint64BigInt(field(o, 'timeUnixNano', 'time_unix_nano'), `${path}.timeUnixNano`),
    startTimeUnixNano: uint64BigInt(field(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`),
    flags: uint32(o.flags, `${path}.flags`),
    exemplars: decodeExemplars(o.exemplars, `${path}.exemplars`),
    count: uint64Number(o.count, `${path}.count`),
    sum: optionalDouble(o.sum, `${path}.sum`),
    bucketCounts: counts(field(o, 'bucketCounts', 'bucket_counts'), `${path}.bucketCounts`),
    explicitBounds: doubles(field(o, 'explicitBounds', 'explicit_bounds'), `${path}.explicitBounds`),
    min: optionalDouble(o.min, `${path}.min`),
    max: optionalDouble(o.max, `${path}.max`),
  };
}

function decodeBuckets(v: unknown, path: string): ExponentialBuckets {
  const o = object(v, path);
  if (o === undefined) return { offset: 0, bucketCounts: [] };
  return {
    offset: int32(o.offset, `${path}.offset`),
    bucketCounts: counts(field(o, 'bucketCounts', 'bucket_counts'), `${path}.bucketCounts`),
  };
}

function decodeExponentialPoint(v: unknown, path: string): ExponentialHistogramDataPoint {
  const o = object(v, path) ?? {};
  return {
    attributes: attributes(o.attributes, `${path}.attributes`),
    timeUnixNano: uint64BigInt(field(o, 'timeUnixNano', 'time_unix_nano'), `${path}.timeUnixNano`),
    startTimeUnixNano: uint64BigInt(field(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`),
    flags: uint32(o.flags, `${path}.flags`),
    exemplars: decodeExemplars(o.exemplars, `${path}.exemplars`),
    count: uint64Number(o.count, `${path}.count`),
    sum: optionalDouble(o.sum, `${path}.sum`),
    scale: int32(o.scale, `${path}.scale`),
    zeroCount: uint64Number(field(o, 'zeroCount', 'zero_count'), `${path}.zeroCount`),
    positive: decodeBuckets(o.positive, `${path}.positive`),
    negative: decodeBuckets(o.negative, `${path}.negative`),
    min: optionalDouble(o.min, `${path}.min`),
    max: optionalDouble(o.max, `${path}.max`),
    zeroThreshold: double0(field(o, 'zeroThreshold', 'zero_threshold'), `${path}.zeroThreshold`),
  };
}

function decodeSummaryPoint(v: unknown, path: string): SummaryDataPoint {
  const o = object(v, path) ?? {};
  const list = array(field(o, 'quantileValues', 'quantile_values'), `${path}.quantileValues`);
  const quantileValues: QuantileValue[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const at = `${path}.quantileValues[${i}]`;
    const q = object(list[i], at) ?? {};
    quantileValues[i] = { quantile: double0(q.quantile, `${at}.quantile`), value: double0(q.value, `${at}.value`) };
  }
  return {
    attributes: attributes(o.attributes, `${path}.attributes`),
    timeUnixNano: uint64BigInt(field(o, 'timeUnixNano', 'time_unix_nano'), `${path}.timeUnixNano`),
    startTimeUnixNano: uint64BigInt(field(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`),
    flags: uint32(o.flags, `${path}.flags`),
    exemplars: [],
    count: uint64Number(o.count, `${path}.count`),
    sum: double0(o.sum, `${path}.sum`),
    quantileValues,
  };
}

/** Exemplars without a value are left out, as the protobuf decoder does. */
function decodeExemplars(v: unknown, path: string): Exemplar[] {
  const list = array(v, path);
  const out: Exemplar[] = [];
  for (let i = 0; i < list.length; i++) {
    const at = `${path}[${i}]`;
    const o = object(list[i], at) ?? {};
    const filteredAttributes = attributes(field(o, 'filteredAttributes', 'filtered_attributes'), `${at}.filteredAttributes`);
    const timeUnixNano = uint64BigInt(field(o, 'timeUnixNano', 'time_unix_nano'), `${at}.timeUnixNano`);
    const value = numberValue(o, at);
    const spanId = hexId(field(o, 'spanId', 'span_id'), `${at}.spanId`, 8);
    const traceId = hexId(field(o, 'traceId', 'trace_id'), `${at}.traceId`, 16);
    if (value !== undefined) out.push({ filteredAttributes, timeUnixNano, value, spanId, traceId });
  }
  return out;
}

/** A repeated KeyValue as a record; keys whose value is empty are left out. */
function attributes(v: unknown, path: string, depth = 0): Attributes {
  const list = array(v, path);
  const out: Attributes = {};
  for (let i = 0; i < list.length; i++) {
    const at = `${path}[${i}]`;
    const kv = object(list[i], at) ?? {};
    const value = anyValue(kv.value, `${at}.value`, depth);
    if (value !== undefined) setAttribute(out, string(kv.key, `${at}.key`), value);
  }
  return out;
}

const ANY_VALUE_FIELDS = [
  ['stringValue', 'string_value'],
  ['boolValue', 'bool_value'],
  ['intValue', 'int_value'],
  ['doubleValue', 'double_value'],
  ['arrayValue', 'array_value'],
  ['kvlistValue', 'kvlist_value'],
  ['bytesValue', 'bytes_value'],
] as const;

function anyValue(v: unknown, path: string, depth: number): AttributeValue | undefined {
  const o = object(v, path);
  if (o === undefined) return undefined;
  let value: AttributeValue | undefined;
  let set: string | undefined;
  for (const [camel, snake] of ANY_VALUE_FIELDS) {
    const x = field(o, camel, snake);
    if (x === undefined || x === null) continue;
    if (set !== undefined) throw new OtlpDecodeError(`${path}: only one value field may be set, got ${set} and ${camel}`);
    set = camel;
    const at = `${path}.${camel}`;
    switch (camel) {
      case 'stringValue':
        value = string(x, at);
        break;
      case 'boolValue':
        value = boolean(x, at);
        break;
      case 'intValue':
        value = int64BigInt(x, at);
        break;
      case 'doubleValue':
        value = double(x, at);
        break;
      case 'arrayValue': {
        checkDepth(at, depth + 1);
        const list = array((object(x, at) ?? {}).values, `${at}.values`);
        const values: AttributeValue[] = [];
        for (let i = 0; i < list.length; i++) {
          const item = anyValue(list[i], `${at}.values[${i}]`, depth + 1);
          if (item !== undefined) values.push(item);
        }
        value = values;
        break;
      }
      case 'kvlistValue':
        checkDepth(at, depth + 1);
        value = attributes((object(x, at) ?? {}).values, `${at}.values`, depth + 1);
        break;
      case 'bytesValue':
        value = bytes(x, at);
        break;
    }
  }
  return value;
}

function checkDepth(path: string, depth: number): void {
  if (depth > MAX_ANY_VALUE_DEPTH) throw new OtlpDecodeError(`${path}: attribute value nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
}
