/**
 * OTLP-shaped batches to Prometheus time series, by the OpenTelemetry "Prometheus and
 * OpenMetrics Compatibility" rules:
 *
 * - gauge → gauge (`unknown`, or a series' family type, when `metadata["prometheus.type"]` says so); cumulative monotonic
 *   sum → counter `_total`; cumulative non-monotonic sum → gauge (or `info`/`stateset` when the
 *   metadata says so);
 * - histogram → `_bucket{le}` (cumulative, ending with `+Inf` = count), `_sum` (when set),
 *   `_count`; exponential histogram → one native histogram series; summary → `{quantile}`,
 *   `_sum`, `_count`;
 * - delta (and unspecified) temporality is dropped and counted: turning deltas into cumulative
 *   values needs state across batches, which a stateless translation does not keep;
 * - a point flagged no-recorded-value becomes the stale marker in every series it makes.
 *
 * Labels: the point's attributes, `job` (`service.namespace/service.name`) and `instance`
 * (`service.instance.id`) from the resource, then the external labels where the series has no
 * label of that name. Each resource with other attributes gets one `target_info` series.
 */
import type { Attributes, Metric, MetricsBatch } from '@skein/core';
import { DataPointFlags, nanosToMillis, Temporality } from '@skein/core';
import {
  addExternal,
  cachedLabelName,
  NAME_LABEL,
  pointLabels,
  resourceLabels,
  seriesKey,
  sortedLabels,
  type LabelMap,
  type ResourceLabels,
} from './labels.ts';
import { buildMetricName, familyUnit } from './names.ts';
import { toNativeHistogram } from './native-histogram.ts';
import { STALE_NAN } from './stale.ts';
import type { Label, NativeHistogram, PromType, Sample, TimeSeries, TranslateOptions, TranslateResult } from './types.ts';

/** Why data points were not translated: the keys of `TranslateResult.dropped`. */
export const DropReason = {
  /** Delta sums and histograms: Prometheus series are cumulative. */
  deltaTemporality: 'delta_temporality',
  /** Sums and histograms whose temporality is unset (invalid OTLP). */
  unspecifiedTemporality: 'unspecified_temporality',
  /** A histogram whose bucket counts do not match its bounds, or whose bounds do not ascend. */
  invalidHistogram: 'invalid_histogram',
  /** An exponential histogram with a scale below -4, coarser than any native histogram schema. */
  unsupportedScale: 'unsupported_scale',
  /** A metric whose name is empty. */
  invalidMetricName: 'invalid_metric_name',
  /** Two points of one series in the same millisecond: the one later in the batch is kept. */
  duplicateTimestamp: 'duplicate_timestamp',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

const TARGET_INFO_NAME: Label = { name: NAME_LABEL, value: 'target_info' };
const TARGET_INFO_FAMILY: Family = { name: 'target_info', type: 'gauge', help: 'Target metadata', unit: '' };
const LE = 'le';
const QUANTILE = 'quantile';

interface Family {
  name: string;
  type: PromType;
  help: string;
  unit: string;
}

interface SeriesState {
  /** Built once: the same array in every call's TimeSeries. */
  labels: Label[];
  /** The call that `series` belongs to. */
  call: number;
  /** This call's series; undefined between calls. */
  series: TimeSeries | undefined;
  /** Counts data points: duplicates in it are reported (a histogram point makes many series; its `_count` counts). */
  primary: boolean;
  /** Timestamp of the newest sample or histogram so far. */
  newestMs: number;
  inOrder: boolean;
}

/** `le` and `quantile` values: shortest round-trip decimal, `+Inf`/`-Inf`/`NaN` as Prometheus writes them. */
function formatFloat(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const familyCache = new Map<string, string>();
const FAMILY_CACHE_LIMIT = 10_000;

function familyName(m: Metric, kind: PromType, addSuffixes: boolean): string {
  const key = `${kind}\u0000${addSuffixes ? 1 : 0}\u0000${m.unit}\u0000${m.name}`;
  let name = familyCache.get(key);
  if (name === undefined) {
    name = buildMetricName(m.name, m.unit, kind, addSuffixes);
    if (familyCache.size >= FAMILY_CACHE_LIMIT) familyCache.clear();
    familyCache.set(key, name);
  }
  return name;
}

/**
 * Types a gauge may declare in `metadata["prometheus.type"]`: `unknown`, and the types of
 * series a Prometheus receiver passes on one by one (a `_bucket` series of a histogram it
 * could not map exactly, an info or stateset series), so their metadata keeps the family type.
 */
const GAUGE_DECLARABLE: ReadonlySet<unknown> = new Set(['unknown', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset']);

function promTypeOf(m: Metric): PromType {
  const declared = m.metadata?.['prometheus.type'];
  switch (m.type) {
    case 'gauge':
      return GAUGE_DECLARABLE.has(declared) ? (declared as PromType) : 'gauge';
    case 'sum':
      if (m.isMonotonic) return 'counter';
      return declared === 'info' || declared === 'stateset' ? declared : 'gauge';
    case 'histogram':
    case 'exponential_histogram':
      return 'histogram';
    case 'summary':
      return 'summary';
  }
}

/**
 * `base` (sorted, without `__name__`, `le` or `quantile`) with `name` and `extra` put in their
 * places: the labels of one series. `__name__` sorts before `le` and `quantile`.
 */
function withLabels(base: readonly Label[], name: Label, extra: Label | undefined): Label[] {
  const out: Label[] = [];
  let next: Label | undefined = name;
  for (const l of base) {
    while (next !== undefined && next.name < l.name) {
      out.push(next);
      next = next === name ? extra : undefined;
    }
    out.push(l);
  }
  while (next !== undefined) {
    out.push(next);
    next = next === name ? extra : undefined;
  }
  return out;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function ascendingBounds(bounds: readonly number[]): boolean {
  for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) return false;
  return true;
}

/**
 * The series of one label set: what the points with these labels (without `__name__` and
 * `le`/`quantile`) make. Groups outlive a call: the same series come back with every scrape or
 * push, and building sorted labels is most of a translation's cost, so each series' labels are
 * built once and its state is reset, not rebuilt, by the next call that meets it.
 */
interface LabelGroup {
  base: Label[];
  /** Series by `__name__`. */
  states: Map<string, SeriesState>;
  /** Series with an `le` or `quantile` label, by `__name__` and then that label's value: no key is built per sample. */
  withExtra: Map<string, Map<string, SeriesState>> | undefined;
}

/**
 * Label groups by their labels (`seriesKey(base)`), and by what decides a point's labels when
 * its attribute values are all strings (no resourceToTelemetryConversion): the attributes' text,
 * the resource's `job` and `instance`, the external labels and the reserved label. Both are
 * emptied together at the start of a call once either holds more than GROUP_CACHE_LIMIT
 * entries, so every group a call meets is the one group of its labels.
 */
const GROUP_CACHE_LIMIT = 100_000;
const groupsByLabels = new Map<string, LabelGroup>();
const groupsByAttributes = new Map<string, LabelGroup>();
let calls = 0;

/**
 * A producer that builds the same attribute maps again and again (the Prometheus receiver, once
 * per scrape and series) may set this on each map: a string that names the map's content and
 * stays the same string from one batch to the next. The translation then finds the map's labels
 * by that key instead of by the map's text, after checking that every attribute is still the one
 * it saw (a processor may have changed the map since), so the key is only ever a shortcut.
 */
export const ATTRIBUTES_KEY: unique symbol = Symbol.for('@skein/prometheus-translation.attributes-key');

/** A keyed map's group, with the attributes it was made from, to check the next map with the key. */
interface KeyedGroup {
  group: LabelGroup;
  names: string[];
  values: string[];
  /** The map it was made from, if it was frozen then: when it comes again it is the same content, unchecked. */
  frozenSource: Attributes | undefined;
}

/** By context (see #contextKey), then by the producer's key. Emptied with the other two. */
const groupsByProducerKey = new Map<string, Map<string, KeyedGroup>>();
let producerKeyed = 0;

/** Whether `attrs` holds exactly the attributes `k` was made from (same names, same order, same values). */
function sameAttributes(attrs: Attributes, k: KeyedGroup): boolean {
  let i = 0;
  for (const name in attrs) {
    if (i >= k.names.length || name !== k.names[i] || attrs[name] !== k.values[i]) return false;
    i++;
  }
  return i === k.names.length;
}

/** The cache key of `attrs` in context `ctx`, or undefined when a value is not a string. Length-prefixed, so no two attribute sets share one. */
function attributesKey(attrs: Attributes, ctx: string): string | undefined {
  let key = ctx;
  for (const k in attrs) {
    const v = attrs[k];
    if (typeof v !== 'string') return undefined;
    key += `${k.length}:${k}${v.length}:${v}`;
  }
  return key;
}

class Translation {
  /** This call's number: a series state last used by another call starts afresh. */
  readonly #call = ++calls;
  /** Every series, in the order it first appeared. */
  readonly #all: SeriesState[] = [];
  readonly #dropped: Record<string, number> = {};
  readonly #external: readonly Label[];
  readonly #externalKey: string;
  readonly #contexts = new Map<ResourceLabels, Map<string, string>>();
  #lastResource: ResourceLabels | undefined;
  #lastReserved: string | undefined;
  #lastContext = '';
  #lastKeyed: Map<string, KeyedGroup> | undefined;

  constructor(external: readonly Label[]) {
    if (groupsByLabels.size > GROUP_CACHE_LIMIT || groupsByAttributes.size > GROUP_CACHE_LIMIT || producerKeyed > GROUP_CACHE_LIMIT) {
      groupsByLabels.clear();
      groupsByAttributes.clear();
      groupsByProducerKey.clear();
      producerKeyed = 0;
    }
    this.#external = external;
    this.#externalKey = seriesKey(external);
  }

  drop(reason: DropReason, n = 1): void {
    if (n > 0) this.#dropped[reason] = (this.#dropped[reason] ?? 0) + n;
  }

  /**
   * The labels a point's series share. `__name__` (and `reserved`: `le` on a histogram,
   * `quantile` on a summary) are taken out: the translation sets them on each series, and an
   * attribute of that name would otherwise be overwritten on some series and not others.
   */
  point(attrs: Attributes, resource: ResourceLabels, reserved?: string): LabelGroup {
    if (resource.converted !== undefined) return this.#group(pointLabels(attrs, resource), reserved);
    // Consecutive points nearly always share their resource and reserved label.
    if (resource !== this.#lastResource || reserved !== this.#lastReserved) {
      this.#lastResource = resource;
      this.#lastReserved = reserved;
      this.#lastContext = this.#contextKey(resource, reserved);
      this.#lastKeyed = undefined;
    }
    const ctx = this.#lastContext;
    const producerKey = (attrs as { [ATTRIBUTES_KEY]?: unknown })[ATTRIBUTES_KEY];
    if (typeof producerKey === 'string') return this.#keyedPoint(attrs, resource, reserved, ctx, producerKey);
    const cacheKey = attributesKey(attrs, ctx);
    if (cacheKey === undefined) return this.#group(pointLabels(attrs, resource), reserved);
    let group = groupsByAttributes.get(cacheKey);
    if (group === undefined) {
      group = this.#group(pointLabels(attrs, resource), reserved);
      groupsByAttributes.set(cacheKey, group);
    }
    return group;
  }

  #keyedPoint(attrs: Attributes, resource: ResourceLabels, reserved: string | undefined, ctx: string, producerKey: string): LabelGroup {
    let byKey = this.#lastKeyed;
    if (byKey === undefined) {
      byKey = groupsByProducerKey.get(ctx);
      if (byKey === undefined) groupsByProducerKey.set(ctx, (byKey = new Map()));
      this.#lastKeyed = byKey;
    }
    const known = byKey.get(producerKey);
    if (known !== undefined && (attrs === known.frozenSource || sameAttributes(attrs, known))) return known.group;
    const group = this.#group(pointLabels(attrs, resource), reserved);
    const names: string[] = [];
    const values: string[] = [];
    for (const name in attrs) {
      const v = attrs[name];
      // Only string attributes are compared by identity; anything else is not worth keying.
      if (typeof v !== 'string') return group;
      names.push(name);
      values.push(v);
    }
    if (known === undefined) producerKeyed++;
    // Frozen stays frozen: checked once here rather than for every point.
    byKey.set(producerKey, { group, names, values, frozenSource: Object.isFrozen(attrs) ? attrs : undefined });
    return group;
  }

  /** What besides the attributes decides a point's labels; computed once per resource and reserved label. */
  #contextKey(resource: ResourceLabels, reserved: string | undefined): string {
    let byReserved = this.#contexts.get(resource);
    if (byReserved === undefined) this.#contexts.set(resource, (byReserved = new Map()));
    const r = reserved ?? '';
    let ctx = byReserved.get(r);
    if (ctx === undefined) {
      ctx = `${seriesKey(resource.identity)}\u0001${this.#externalKey}\u0001${r}\u0001`;
      byReserved.set(r, ctx);
    }
    return ctx;
  }

  #group(labels: LabelMap, reserved?: string): LabelGroup {
    addExternal(labels, this.#external);
    labels.delete(NAME_LABEL);
    if (reserved !== undefined) labels.delete(reserved);
    const base = sortedLabels(labels);
    const key = seriesKey(base);
    let group = groupsByLabels.get(key);
    if (group === undefined) {
      group = { base, states: new Map(), withExtra: undefined };
      groupsByLabels.set(key, group);
    }
    return group;
  }

  /** The state of a series of `group`; `fresh` when this call has not met it yet (see #start). */
  #state(group: LabelGroup, name: Label, extra: Label | undefined): SeriesState {
    let states = group.states;
    let key = name.value;
    if (extra !== undefined) {
      group.withExtra ??= new Map();
      let byExtra = group.withExtra.get(key);
      if (byExtra === undefined) group.withExtra.set(key, (byExtra = new Map()));
      states = byExtra;
      key = extra.value;
    }
    let state = states.get(key);
    if (state === undefined) {
      state = { labels: withLabels(group.base, name, extra), call: 0, series: undefined, primary: false, newestMs: -Infinity, inOrder: true };
      states.set(key, state);
    }
    return state;
  }

  /** This call's series for a state, with its first sample or histogram (arrays made to size). */
  #start(state: SeriesState, family: Family, primary: boolean, samples: Sample[], histograms: NativeHistogram[]): void {
    state.call = this.#call;
    state.series = {
      labels: state.labels,
      samples,
      histograms,
      type: family.type,
      help: family.help,
      unit: family.unit,
      familyName: family.name,
    };
    state.primary = primary;
    state.newestMs = -Infinity;
    state.inOrder = true;
    this.#all.push(state);
  }

  #touch(state: SeriesState, timestampMs: number, createdMs: number | undefined): void {
    if (timestampMs <= state.newestMs) state.inOrder = false;
    else {
      state.newestMs = timestampMs;
      if (createdMs !== undefined) state.series!.createdTimestampMs = createdMs;
    }
  }

  sample(
    group: LabelGroup,
    name: Label,
    extra: Label | undefined,
    family: Family,
    primary: boolean,
    timestampMs: number,
    value: number,
    createdMs: number | undefined,
  ): void {
    const state = this.#state(group, name, extra);
    const sample: Sample = { timestampMs, value };
    if (state.call !== this.#call) this.#start(state, family, primary, [sample], []);
    else state.series!.samples.push(sample);
    this.#touch(state, timestampMs, createdMs);
  }

  histogram(group: LabelGroup, name: Label, family: Family, h: NativeHistogram, createdMs: number | undefined): void {
    const state = this.#state(group, name, undefined);
    if (state.call !== this.#call) this.#start(state, family, true, [], [h]);
    else state.series!.histograms.push(h);
    this.#touch(state, h.timestampMs, createdMs);
  }

  targetInfo(resource: ResourceLabels, timestampMs: number): void {
    const group = this.#group(new Map(resource.targetInfo));
    this.sample(group, TARGET_INFO_NAME, undefined, TARGET_INFO_FAMILY, false, timestampMs, 1, undefined);
  }

  finish(): TranslateResult {
    const series: TimeSeries[] = [];
    for (const state of this.#all) {
      const s = state.series!;
      if (!state.inOrder) {
        const removed = inTimeOrder(s.samples) + inTimeOrder(s.histograms);
        if (state.primary) this.drop(DropReason.duplicateTimestamp, removed);
      }
      series.push(s);
      // The cache keeps the state, not this call's samples.
      state.series = undefined;
    }
    return { series, dropped: this.#dropped };
  }
}

/** Sorts by time (stably) and keeps the last of each run of equal timestamps; returns how many went. */
function inTimeOrder<T extends { timestampMs: number }>(items: T[]): number {
  items.sort((a, b) => a.timestampMs - b.timestampMs);
  let w = 0;
  for (let r = 0; r < items.length; r++) {
    if (w > 0 && items[w - 1]!.timestampMs === items[r]!.timestampMs) items[w - 1] = items[r]!;
    else items[w++] = items[r]!;
  }
  const removed = items.length - w;
  items.length = w;
  return removed;
}

function externalLabelList(external: Record<string, string> | undefined): Label[] {
  const out: Label[] = [];
  for (const [key, value] of Object.entries(external ?? {})) {
    const name = cachedLabelName(key);
    if (name !== '' && value !== '') out.push({ name, value });
  }
  return out;
}

const isStale = (flags: number) => (flags & DataPointFlags.NoRecordedValue) !== 0;
const createdOf = (startNs: bigint) => (startNs > 0n ? nanosToMillis(startNs) : undefined);

// The points of a batch mostly share one timestamp; dividing a bigint allocates, so remember the last.
let lastNanos = -1n;
let lastMillis = 0;
function millisOf(ns: bigint): number {
  if (ns !== lastNanos) {
    lastMillis = nanosToMillis(ns);
    lastNanos = ns;
  }
  return lastMillis;
}

/** Translates one metric's points; returns the newest timestamp it wrote, or -Infinity. */
function translateMetric(t: Translation, m: Metric, resource: ResourceLabels, addSuffixes: boolean): number {
  if (m.type !== 'gauge' && m.type !== 'summary') {
    if (m.temporality === Temporality.Delta) {
      t.drop(DropReason.deltaTemporality, m.points.length);
      return -Infinity;
    }
    if (m.temporality !== Temporality.Cumulative) {
      t.drop(DropReason.unspecifiedTemporality, m.points.length);
      return -Infinity;
    }
  }
  const type = promTypeOf(m);
  const name = familyName(m, type, addSuffixes);
  if (name === '') {
    t.drop(DropReason.invalidMetricName, m.points.length);
    return -Infinity;
  }
  const family: Family = { name, type, help: m.description, unit: familyUnit(name, m.unit, type) };
  const nameLabel: Label = { name: NAME_LABEL, value: name };
  const suffixed = (suffix: string): Label => ({ name: NAME_LABEL, value: name + suffix });
  let newest = -Infinity;

  switch (m.type) {
    case 'gauge':
    case 'sum': {
      const counter = type === 'counter';
      for (const p of m.points) {
        const ts = millisOf(p.timeUnixNano);
        const value = isStale(p.flags) ? STALE_NAN : Number(p.value);
        t.sample(t.point(p.attributes, resource), nameLabel, undefined, family, true, ts, value, counter ? createdOf(p.startTimeUnixNano) : undefined);
        if (ts > newest) newest = ts;
      }
      break;
    }
    case 'histogram': {
      const bucketName = suffixed('_bucket');
      const sumName = suffixed('_sum');
      const countName = suffixed('_count');
      const inf: Label = { name: LE, value: '+Inf' };
      // Points of one metric nearly always share their bounds: format them once.
      let bounds: readonly number[] | undefined;
      let les: Label[] = [];
      for (const p of m.points) {
        const n = p.bucketCounts.length;
        if ((n !== 0 && n !== p.explicitBounds.length + 1) || !ascendingBounds(p.explicitBounds)) {
          t.drop(DropReason.invalidHistogram);
          continue;
        }
        if (bounds === undefined || !sameNumbers(bounds, p.explicitBounds)) {
          bounds = p.explicitBounds;
          les = bounds.map((b) => ({ name: LE, value: formatFloat(b) }));
        }
        const ts = millisOf(p.timeUnixNano);
        const stale = isStale(p.flags);
        const created = createdOf(p.startTimeUnixNano);
        const point = t.point(p.attributes, resource, LE);
        // Without bucket counts a histogram still has its +Inf bucket: the count.
        let cumulative = 0;
        for (let i = 0; i < n - 1; i++) {
          cumulative += p.bucketCounts[i]!;
          t.sample(point, bucketName, les[i]!, family, false, ts, stale ? STALE_NAN : cumulative, created);
        }
        t.sample(point, bucketName, inf, family, false, ts, stale ? STALE_NAN : p.count, created);
        if (p.sum !== undefined) t.sample(point, sumName, undefined, family, false, ts, stale ? STALE_NAN : p.sum, created);
        t.sample(point, countName, undefined, family, true, ts, stale ? STALE_NAN : p.count, created);
        if (ts > newest) newest = ts;
      }
      break;
    }
    case 'exponential_histogram': {
      for (const p of m.points) {
        const h = toNativeHistogram(p, isStale(p.flags));
        if (h === undefined) {
          t.drop(DropReason.unsupportedScale);
          continue;
        }
        t.histogram(t.point(p.attributes, resource), nameLabel, family, h, createdOf(p.startTimeUnixNano));
        if (h.timestampMs > newest) newest = h.timestampMs;
      }
      break;
    }
    case 'summary': {
      const sumName = suffixed('_sum');
      const countName = suffixed('_count');
      for (const p of m.points) {
        const ts = millisOf(p.timeUnixNano);
        const stale = isStale(p.flags);
        const created = createdOf(p.startTimeUnixNano);
        const point = t.point(p.attributes, resource, QUANTILE);
        for (const q of p.quantileValues) {
          const quantile: Label = { name: QUANTILE, value: formatFloat(q.quantile) };
          t.sample(point, nameLabel, quantile, family, false, ts, stale ? STALE_NAN : q.value, created);
        }
        t.sample(point, sumName, undefined, family, false, ts, stale ? STALE_NAN : p.sum, created);
        t.sample(point, countName, undefined, family, true, ts, stale ? STALE_NAN : p.count, created);
        if (ts > newest) newest = ts;
      }
      break;
    }
  }
  return newest;
}

/**
 * Translates a batch. Series with the same labels (the same series in several resource or
 * scope entries, or several points of it) are merged, their samples in time order. The batch is
 * only read.
 */
export function translate(batch: MetricsBatch, opts: TranslateOptions = {}): TranslateResult {
  const addSuffixes = opts.addMetricSuffixes ?? true;
  const convert = opts.resourceToTelemetryConversion ?? false;
  const withTargetInfo = opts.targetInfo ?? true;
  const t = new Translation(externalLabelList(opts.externalLabels));
  for (const rm of batch.resourceMetrics) {
    const resource = resourceLabels(rm.resource.attributes, convert);
    let newest = -Infinity;
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const ts = translateMetric(t, m, resource, addSuffixes);
        if (ts > newest) newest = ts;
      }
    }
    // Stamped with the resource's newest point, so it is as fresh as the data it describes.
    if (withTargetInfo && resource.targetInfo !== undefined && newest > -Infinity) t.targetInfo(resource, newest);
  }
  return t.finish();
}
