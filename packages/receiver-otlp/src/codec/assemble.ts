/**
 * What the protobuf and the JSON decoder share: the result type, the partial-success rules
 * that decide which data points are rejected, and the builders of the non-point parts of the
 * model. Keeping them here makes both decoders produce deep-equal batches from the same data.
 */
import type {
  AttributeValue,
  Attributes,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  Metric,
  MetricsBatch,
  NumberDataPoint,
  Resource,
  ResourceMetrics,
  ScopeMetrics,
  SummaryDataPoint,
  Temporality,
} from '@skein/core';

export interface DecodeResult {
  batch: MetricsBatch;
  /** Data points left out of `batch` because they were invalid (OTLP partial success). */
  rejectedDataPoints: number;
  /** One line summarising why points were rejected; set when `rejectedDataPoints > 0`. */
  errorMessage?: string;
}

/** Nesting limit for attribute values (arrays and kvlists inside each other). */
export const MAX_ANY_VALUE_DEPTH = 32;

/** How many distinct reasons the summary lists before it only counts the rest. */
const MAX_REASONS = 5;

/** Counts rejected data points and remembers why, for the partial-success error message. */
export class RejectionLog {
  count = 0;
  /** Made on the first rejection: most requests have none. */
  #reasons: Map<string, number> | undefined;

  reject(points: number, reason: string): void {
    if (points <= 0) return;
    this.count += points;
    this.#reasons ??= new Map();
    this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + points);
  }

  /** e.g. `3 data points rejected: metric "x": number data point has no value`. */
  summary(): string | undefined {
    if (this.#reasons === undefined) return undefined;
    const head = `${this.count} data point${this.count === 1 ? '' : 's'} rejected: `;
    if (this.#reasons.size === 1) return head + this.#reasons.keys().next().value;
    const parts: string[] = [];
    for (const [reason, n] of this.#reasons) {
      if (parts.length === MAX_REASONS) break;
      parts.push(`${reason} (${n})`);
    }
    const more = this.#reasons.size - parts.length;
    return head + parts.join('; ') + (more > 0 ? `; and ${more} more reason${more === 1 ? '' : 's'}` : '');
  }

  result(resourceMetrics: ResourceMetrics[]): DecodeResult {
    const batch = { resourceMetrics };
    return this.count === 0
      ? { batch, rejectedDataPoints: 0 }
      : { batch, rejectedDataPoints: this.count, errorMessage: this.summary() };
  }
}

/**
 * A metric's data field as decoded, before the checks. Number points without a value are
 * already left out of `points` and only counted in `valueless`.
 */
export type MetricData =
  | { type: 'gauge'; points: NumberDataPoint[]; valueless: number }
  | { type: 'sum'; points: NumberDataPoint[]; valueless: number; temporality: number; isMonotonic: boolean }
  | { type: 'histogram'; points: HistogramDataPoint[]; temporality: number }
  | { type: 'exponential_histogram'; points: ExponentialHistogramDataPoint[]; temporality: number }
  | { type: 'summary'; points: SummaryDataPoint[] };

export interface MetricHeader {
  name: string;
  description: string;
  unit: string;
  metadata: Attributes | undefined;
}

/** Where a metric sits in the request, in the JSON path notation used by every message. */
export function metricPath(ri: number, si: number, mi: number): string {
  return `resourceMetrics[${ri}].scopeMetrics[${si}].metrics[${mi}]`;
}

function isTemporality(t: number): t is Temporality {
  return t === 0 || t === 1 || t === 2;
}

/**
 * Applies the partial-success rules to one decoded metric and builds it. Returns undefined
 * when nothing of it is kept: no data field (0 points, dropped), no name (all points
 * rejected), an unknown temporality (all points rejected), or every point invalid.
 */
export function finishMetric(
  head: MetricHeader,
  data: MetricData | undefined,
  log: RejectionLog,
  ri: number,
  si: number,
  mi: number,
): Metric | undefined {
  if (data === undefined) return undefined;
  const valueless = data.type === 'gauge' || data.type === 'sum' ? data.valueless : 0;
  if (head.name === '') {
    log.reject(data.points.length + valueless, `${metricPath(ri, si, mi)}: metric has no name`);
    return undefined;
  }
  const name = head.name;
  if ('temporality' in data && !isTemporality(data.temporality)) {
    log.reject(data.points.length + valueless, `metric ${JSON.stringify(name)}: unknown aggregation temporality ${data.temporality}`);
    return undefined;
  }
  if (valueless > 0) log.reject(valueless, `metric ${JSON.stringify(name)}: number data point has no value`);
  let metric: Metric;
  switch (data.type) {
    case 'gauge':
      metric = { type: 'gauge', name, description: head.description, unit: head.unit, points: data.points };
      break;
    case 'sum':
      metric = {
        type: 'sum',
        name,
        description: head.description,
        unit: head.unit,
        isMonotonic: data.isMonotonic,
        temporality: data.temporality as Temporality,
        points: data.points,
      };
      break;
    case 'histogram':
      metric = {
        type: 'histogram',
        name,
        description: head.description,
        unit: head.unit,
        temporality: data.temporality as Temporality,
        points: validHistogramPoints(data.points, name, log),
      };
      break;
    case 'exponential_histogram':
      metric = {
        type: 'exponential_histogram',
        name,
        description: head.description,
        unit: head.unit,
        temporality: data.temporality as Temporality,
        points: data.points,
      };
      break;
    case 'summary':
      metric = { type: 'summary', name, description: head.description, unit: head.unit, points: data.points };
      break;
  }
  if (metric.points.length === 0 && valueless + data.points.length > 0) return undefined;
  if (head.metadata !== undefined) metric.metadata = head.metadata;
  return metric;
}

/** Keeps the points whose bucket counts fit their bounds; copies only if one does not. */
function validHistogramPoints(points: HistogramDataPoint[], name: string, log: RejectionLog): HistogramDataPoint[] {
  let kept: HistogramDataPoint[] | undefined;
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const counts = p.bucketCounts.length;
    const bounds = p.explicitBounds.length;
    if (counts === bounds + 1 || (counts === 0 && bounds === 0)) {
      kept?.push(p);
      continue;
    }
    kept ??= points.slice(0, i);
    log.reject(
      1,
      `metric ${JSON.stringify(name)}: histogram data point has ${counts} bucket counts for ${bounds} explicit bounds, expected ${bounds + 1}`,
    );
  }
  return kept ?? points;
}

/** Sets `key` as an own property even when it is `__proto__`. */
export function setAttribute(attrs: Record<string, AttributeValue>, key: string, value: AttributeValue): void {
  if (key === '__proto__') Object.defineProperty(attrs, key, { value, enumerable: true, writable: true, configurable: true });
  else attrs[key] = value;
}

function isEmpty(attrs: Attributes): boolean {
  for (const _ in attrs) return false;
  return true;
}

export function resourceOf(attributes: Attributes, droppedAttributesCount: number): Resource {
  return droppedAttributesCount > 0 ? { attributes, droppedAttributesCount } : { attributes };
}

/** Optional parts are present only when they carry something, as core's builders make them. */
export function scopeOf(name: string, version: string, attributes: Attributes, droppedAttributesCount: number): InstrumentationScope {
  const scope: InstrumentationScope = { name };
  if (version !== '') scope.version = version;
  if (!isEmpty(attributes)) scope.attributes = attributes;
  if (droppedAttributesCount > 0) scope.droppedAttributesCount = droppedAttributesCount;
  return scope;
}

export function scopeMetricsOf(scope: InstrumentationScope, metrics: Metric[], schemaUrl: string): ScopeMetrics {
  return schemaUrl !== '' ? { scope, metrics, schemaUrl } : { scope, metrics };
}

export function resourceMetricsOf(resource: Resource, scopeMetrics: ScopeMetrics[], schemaUrl: string): ResourceMetrics {
  return schemaUrl !== '' ? { resource, scopeMetrics, schemaUrl } : { resource, scopeMetrics };
}

/** Metadata is kept only when the metric has some. */
export function metadataOf(attrs: Attributes): Attributes | undefined {
  return isEmpty(attrs) ? undefined : attrs;
}
