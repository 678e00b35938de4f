/**
 * What one target's scrapes become: the series cache, staleness, limits, and the mapping of a
 * scrape onto Skein's OTLP-shaped model.
 *
 * The mapping is lossless: the `prometheusremotewrite` exporter with `add_metric_suffixes:
 * false` turns the batch back into exactly the series that were scraped (names, labels,
 * values, timestamps) and nothing else. To that end:
 *
 * - `job` and `instance` go to the resource (`service.name`, `service.instance.id`), which the
 *   translation turns back into those labels; the resource has no other attribute, so no
 *   `target_info` is made; every other label is a point attribute, unchanged.
 * - Counters are monotonic cumulative sums named as scraped (`foo_total` stays `foo_total`),
 *   gauges are gauges, untyped/unknown ones gauges marked `prometheus.type: unknown`.
 * - A histogram or summary becomes an OTLP histogram or summary point only when the
 *   translation gives back its exact series: every `le`/`quantile` written as the translation
 *   writes that number (`0.5`, `1`, `+Inf`; not `1.0` or `1e-05`), `_count` equal to the `+Inf`
 *   bucket, integer counts, one timestamp. Otherwise (and for gaugehistogram, info, stateset and
 *   `_created` series) each series travels as a gauge with its own name and labels, marked with
 *   its family's `prometheus.type`.
 * - Stale markers are points flagged no-recorded-value with the series' exact name and labels.
 */
import {
  DataPointFlags,
  millisToNanos,
  Temporality,
  type Attributes,
  type DataPoint,
  type Exemplar,
  type GaugeMetric,
  type HistogramDataPoint,
  type HistogramMetric,
  type Metric,
  type MetricsBatch,
  type NumberDataPoint,
  type ScopeMetrics,
  type SumMetric,
  type SummaryDataPoint,
  type SummaryMetric,
} from '@skein/core';
import { ATTRIBUTES_KEY } from '@skein/prometheus-translation';
import { parseExposition, parseSeries, SeriesSyntaxError, type ExpositionFormat, type ExpositionHandler, type FamilyType, type ParsedExemplar } from './parse.ts';
import { relabel, type CompiledRule, type LabelSet } from './relabel.ts';

export const SCOPE_NAME = '@skein/receiver-prometheus';
export const SCOPE_VERSION = '0.1.0';

/** The series Prometheus adds for every scrape of a target. */
export const REPORT_SERIES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added'] as const;

export interface ScrapeLimits {
  sampleLimit: number;
  labelLimit: number;
  labelNameLengthLimit: number;
  labelValueLengthLimit: number;
}

/** A scrape that fails for a reason of its own (limits, bad data), not the network. */
export class ScrapeError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'ScrapeError';
    this.reason = reason;
  }
}

/** The role a sample plays in its family. */
const Role = {
  /** A counter's `_total` (or the text format's bare counter name). */
  Counter: 0,
  Gauge: 1,
  /** A sample of an untyped/unknown family. */
  Untyped: 2,
  /** A sample outside any declared family, or with a suffix its family does not have. */
  Unknown: 3,
  Bucket: 4,
  Sum: 5,
  Count: 6,
  Quantile: 7,
  /** `_created`: a gauge of its own, and the start time of its counter, histogram or summary. */
  Created: 8,
  /** Series of gaugehistogram, info and stateset families: kept as they are. */
  Other: 9,
} as const;
type Role = (typeof Role)[keyof typeof Role];

interface Family {
  name: string;
  type: FamilyType;
  help: string;
  unit: string;
  /** `type name`, so a cache entry knows whether its role is still right. */
  id: string;
  /** Indexes of this scrape's samples in the family, in order. */
  samples: number[];
}

/** One series of the target (after relabeling), as the last scrapes knew it. */
interface SeriesState {
  /** Identity: name and every label. */
  key: string;
  name: string;
  /** Labels without `__name__`, `job` and `instance`, sorted; frozen, keyed (see `keyed`), shared by points or copied for them (see shareAttributes). */
  attrs: Readonly<Record<string, string>>;
  job: string | undefined;
  instance: string | undefined;
  /** `job \0 instance`: the resource the series belongs to. */
  resourceKey: string;
  /** The scrape that last appended it. */
  seen: number;
  /** The scrape that first appended it. */
  born: number;
  /** Its last sample had its own timestamp: such series get no stale markers (as in Prometheus). */
  explicitTs: boolean;
  /** How its stale marker is typed: what its last sample was. */
  staleAsSum: boolean;
  staleType: FamilyType;
  /** The key of the metric its points went into last (`metricKind` says which kind), see BatchBuilder. */
  metricKind?: string;
  metricKey?: string;
  /** For grouping histogram and summary series into points: key and attributes without `le`/`quantile`. */
  pointKey?: string;
  pointAttrs?: Readonly<Record<string, string>>;
}

/** What the scrape cache keeps per series text (as written in the exposition). */
interface CacheEntry {
  /** Undefined when metric relabeling dropped the series. */
  state: SeriesState | undefined;
  scrapedName: string;
  /** Label value of `le` or `quantile`, as written. */
  le: string | undefined;
  quantile: string | undefined;
  famId: string;
  role: Role;
  seen: number;
}

export interface ScrapeResult {
  /** Samples in the exposition. */
  scraped: number;
  /** Samples kept after metric relabeling. */
  postRelabel: number;
  /** Series not in the previous scrape. */
  seriesAdded: number;
  /** Samples dropped because their series appeared earlier in the same scrape. */
  duplicates: number;
  /**
   * The scrape as batches of about `maxPoints` points each, the stale markers in the last; call
   * once and take them all (the scrape's series bookkeeping finishes with the last one).
   * `last`, if given, may add to the last batch before it is handed out (the report series).
   */
  batches(maxPoints: number, last?: (batch: MetricsBatch) => void): Generator<MetricsBatch, void, undefined>;
}

export interface TargetScraperOptions {
  /** The target's labels (no `__` ones), sorted. */
  targetLabels: readonly (readonly [string, string])[];
  /**
   * Hand every point the series' own frozen attribute map (and one frozen empty exemplar list)
   * instead of copies: only when nothing downstream changes batches in place (the pipeline's
   * `mutatesData` is false), so sharing them between batches cannot be seen.
   */
  shareAttributes?: boolean;
  honorLabels: boolean;
  honorTimestamps: boolean;
  metricRelabel: readonly CompiledRule[];
  limits: ScrapeLimits;
}

const EXPORTED = 'exported_';
const NO_EXEMPLARS = Object.freeze([]) as unknown as Exemplar[];
const PROMETHEUS_TYPE = 'prometheus.type';

function suffixRole(type: FamilyType, suffix: string): Role {
  switch (type) {
    case 'counter':
      return suffix === '_total' ? Role.Counter : suffix === '_created' ? Role.Created : Role.Unknown;
    case 'histogram':
      return suffix === '_bucket' ? Role.Bucket : suffix === '_sum' ? Role.Sum : suffix === '_count' ? Role.Count : suffix === '_created' ? Role.Created : Role.Unknown;
    case 'summary':
      return suffix === '_sum' ? Role.Sum : suffix === '_count' ? Role.Count : suffix === '_created' ? Role.Created : Role.Unknown;
    case 'gaugehistogram':
      return suffix === '_bucket' || suffix === '_gsum' || suffix === '_gcount' ? Role.Other : Role.Unknown;
    case 'info':
      return suffix === '_info' ? Role.Other : Role.Unknown;
    default:
      return Role.Unknown;
  }
}

function selfRole(type: FamilyType): Role {
  switch (type) {
    case 'counter':
      return Role.Counter;
    case 'gauge':
      return Role.Gauge;
    case 'summary':
      return Role.Quantile;
    case 'stateset':
      return Role.Other;
    case 'unknown':
      return Role.Untyped;
    default:
      return Role.Unknown;
  }
}

function roleOf(scrapedName: string, fam: Family | undefined): Role {
  if (fam === undefined) return Role.Unknown;
  const f = fam.name;
  if (scrapedName === f) return selfRole(fam.type);
  if (scrapedName.length > f.length && scrapedName.startsWith(f) && scrapedName.charCodeAt(f.length) === 95) {
    return suffixRole(fam.type, scrapedName.slice(f.length));
  }
  return Role.Unknown;
}

/** `le` and `quantile` as the translation writes them (shortest round trip, `+Inf`). */
function canonicalFloat(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
}

function attrsKey(attrs: Readonly<Record<string, string>>, skip?: string): string {
  let k = '';
  for (const name in attrs) {
    if (name === skip) continue;
    const v = attrs[name]!;
    k += `${name}=${v.length}:${v},`;
  }
  return k;
}

/**
 * Tags an attribute map with the translation's ATTRIBUTES_KEY: the same string for the same
 * series scrape after scrape, so the remote-write translation finds its labels by that key
 * (checking the attributes are still these) instead of rebuilding them. A copy made with
 * `{...attrs}` carries the key too; for-in, Object.keys and JSON do not see it.
 */
function keyed(attrs: Record<string, string>, content: string): Record<string, string> {
  (attrs as { [ATTRIBUTES_KEY]?: string })[ATTRIBUTES_KEY] = content;
  return attrs;
}

/** A `_created` value (seconds since the epoch) as a point's start time. */
function setStart(p: DataPoint, createdSeconds: number | undefined): void {
  if (createdSeconds !== undefined && Number.isFinite(createdSeconds) && createdSeconds > 0) p.startTimeUnixNano = millisToNanos(createdSeconds * 1000);
}

/** The length of the metric name at the start of a series text. */
function nameLength(series: string): number {
  let i = 0;
  while (i < series.length) {
    const c = series.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 58) || c === 95)) break;
    i++;
  }
  return i;
}

/** The labels of a series without its name: how `_created` and `_sum` find their point. */
function labelsKeyOf(state: SeriesState): string {
  return `${state.resourceKey}|${attrsKey(state.attrs)}`;
}

function sortedPairs(labels: LabelSet): [string, string][] {
  const out: [string, string][] = [];
  for (const [n, v] of labels) if (v !== '') out.push([n, v]);
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

/** Where one scrape's points go: resources by `job`/`instance`, metrics by name and kind. */
class BatchBuilder {
  readonly batch: MetricsBatch;
  /** Points added so far. */
  points = 0;
  readonly #scopes = new Map<string, ScopeMetrics>();
  readonly #metrics = new Map<string, Metric>();
  #lastKey = '';
  #last: Metric | undefined;

  /** Appends to `batch` when given. */
  constructor(batch: MetricsBatch = { resourceMetrics: [] }) {
    this.batch = batch;
  }

  scope(state: { resourceKey: string; job: string | undefined; instance: string | undefined }): ScopeMetrics {
    let sm = this.#scopes.get(state.resourceKey);
    if (sm === undefined) {
      const attributes: Attributes = {};
      if (state.job !== undefined) attributes['service.name'] = state.job;
      if (state.instance !== undefined) attributes['service.instance.id'] = state.instance;
      sm = { scope: { name: SCOPE_NAME, version: SCOPE_VERSION }, metrics: [] };
      this.batch.resourceMetrics.push({ resource: { attributes }, scopeMetrics: [sm] });
      this.#scopes.set(state.resourceKey, sm);
    }
    return sm;
  }

  /** The metric for `name` of `kind` in the state's resource, made on first use. */
  metric<M extends Metric>(state: SeriesState, name: string, kind: string, make: () => M): M {
    return this.#byKey(`${state.resourceKey}\u0000${kind}\u0000${name}`, state, make);
  }

  #byKey<M extends Metric>(key: string, state: SeriesState, make: () => M): M {
    if (key === this.#lastKey) return this.#last as M;
    let m = this.#metrics.get(key);
    if (m === undefined) {
      m = make();
      this.scope(state).metrics.push(m);
      this.#metrics.set(key, m);
    }
    this.#lastKey = key;
    this.#last = m;
    return m as M;
  }

  /** The state's metric key for `kind`, kept on the state: building it for every sample would cost more than the rest. */
  static #keyOf(state: SeriesState, kind: string): string {
    if (state.metricKind !== kind) {
      state.metricKind = kind;
      state.metricKey = `${state.resourceKey}\u0000${kind}\u0000${state.name}`;
    }
    return state.metricKey!;
  }

  sum(state: SeriesState, fam: Family | undefined): SumMetric {
    const key = BatchBuilder.#keyOf(state, 's');
    if (key === this.#lastKey) return this.#last as SumMetric;
    return this.#byKey(key, state, () => ({
      type: 'sum',
      name: state.name,
      description: fam?.help ?? '',
      unit: fam?.unit ?? '',
      isMonotonic: true,
      temporality: Temporality.Cumulative,
      points: [],
    }));
  }

  gauge(state: SeriesState, fam: Family | undefined, declared: FamilyType | undefined): GaugeMetric {
    const key = BatchBuilder.#keyOf(state, declared === undefined ? 'g' : GAUGE_KINDS[declared]);
    if (key === this.#lastKey) return this.#last as GaugeMetric;
    return this.#byKey(key, state, () => {
      const m: GaugeMetric = { type: 'gauge', name: state.name, description: fam?.help ?? '', unit: fam?.unit ?? '', points: [] };
      if (declared !== undefined) m.metadata = { [PROMETHEUS_TYPE]: declared };
      return m;
    });
  }
}

const GAUGE_KINDS: Readonly<Record<FamilyType, string>> = {
  counter: 'g:counter',
  gauge: 'g:gauge',
  histogram: 'g:histogram',
  gaugehistogram: 'g:gaugehistogram',
  summary: 'g:summary',
  info: 'g:info',
  stateset: 'g:stateset',
  unknown: 'g:unknown',
};

export class TargetScraper {
  readonly #o: TargetScraperOptions;
  readonly #targetNames: ReadonlySet<string>;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #series = new Map<string, SeriesState>();
  /** Names and values repeat across series: one string each, so comparisons are by identity. */
  readonly #interned = new Map<string, string>();
  readonly #reportStates: SeriesState[];
  #scrapes = 0;
  #reportSeen = false;

  /** The series text and cache entry of each sample line of the last scrape, in order: what the next scrape most likely has. */
  #lastSeries: string[] = [];
  #lastEntries: CacheEntry[] = [];
  #lastCount = 0;
  #nextSeries: string[] = [];
  #nextEntries: CacheEntry[] = [];

  // This scrape's samples, in order: `#count` of them. The arrays are kept between scrapes and
  // written by index, so they are not grown again every scrape.
  #count = 0;
  #entries: CacheEntry[] = [];
  #values: number[] = [];
  #times: number[] = [];
  #exemplars = new Map<number, ParsedExemplar>();
  #families: Family[] = [];
  #unfamilied: number[] = [];

  constructor(o: TargetScraperOptions) {
    this.#o = o;
    this.#targetNames = new Set(o.targetLabels.map(([n]) => n));
    const labels = new Map(o.targetLabels);
    this.#reportStates = REPORT_SERIES.map((name) => {
      const s = this.#state(name, new Map(labels));
      s.staleType = 'gauge';
      return s;
    });
  }

  /** Series the target had in its last successful scrape (report series not included). */
  get seriesCount(): number {
    return this.#series.size;
  }

  #intern(s: string): string {
    const known = this.#interned.get(s);
    if (known !== undefined) return known;
    this.#interned.set(s, s);
    return s;
  }

  #state(name: string, labels: LabelSet): SeriesState {
    labels.delete('__name__');
    const job = labels.get('job') || undefined;
    const instance = labels.get('instance') || undefined;
    labels.delete('job');
    labels.delete('instance');
    const attrs: Record<string, string> = {};
    for (const [n, v] of sortedPairs(labels)) attrs[this.#intern(n)] = v;
    const resourceKey = this.#intern(`${job ?? ''}\u0000${instance ?? ''}`);
    const content = attrsKey(attrs);
    const key = `${name}|${resourceKey}|${content}`;
    Object.freeze(keyed(attrs, content));
    return { key, name: this.#intern(name), attrs, job, instance, resourceKey, seen: -1, born: -1, explicitTs: false, staleAsSum: false, staleType: 'unknown' };
  }

  /**
   * Parses one exposition and maps it onto the model. Throws an ExpositionError (bad data) or
   * a ScrapeError (a limit); either way the caller reports the scrape failed and calls
   * `fail()`. `timestampMs` is the scrape's one timestamp.
   */
  scrape(body: string | Uint8Array | readonly Uint8Array[], format: ExpositionFormat, timestampMs: number): ScrapeResult {
    const gen = ++this.#scrapes;
    this.#count = 0;
    this.#exemplars.clear();
    this.#families = [];
    this.#unfamilied = [];
    let scraped = 0;
    let seriesAdded = 0;
    let duplicates = 0;
    let fam: Family | undefined;
    const families = new Map<string, Family>();
    const familyFor = (name: string): Family => {
      let f = families.get(name);
      if (f === undefined || (fam !== f && f.samples.length > 0)) {
        // A family named again after its samples (text format allows it) starts afresh.
        f = { name, type: 'unknown', help: '', unit: '', id: this.#intern(`unknown ${name}`), samples: [] };
        families.set(name, f);
        this.#families.push(f);
      }
      return f;
    };
    const entries = this.#entries;
    const values = this.#values;
    const times = this.#times;
    const honorTs = this.#o.honorTimestamps;
    const lastSeries = this.#lastSeries;
    const lastEntries = this.#lastEntries;
    const lastCount = this.#lastCount;
    const nextSeries = this.#nextSeries;
    const nextEntries = this.#nextEntries;
    let line = 0;

    // Names and help are interned: they outlive the parse, and the parser's strings may hold on
    // to the piece of the body they were cut from.
    const handler: ExpositionHandler = {
      help: (name, text) => {
        fam = familyFor(this.#intern(name));
        fam.help = this.#intern(text);
      },
      type: (name, type) => {
        fam = familyFor(this.#intern(name));
        fam.type = type;
        // Interned: each sample compares it with its cache entry's, by identity when unchanged.
        fam.id = this.#intern(`${type} ${name}`);
      },
      unit: (name, unit) => {
        fam = familyFor(this.#intern(name));
        fam.unit = this.#intern(unit);
      },
      expect: () => (line < lastCount ? lastSeries[line] : undefined),
      sample: (series, nameEnd, value, ts, exemplar) => {
        scraped++;
        // The same line as last time: the parser handed back that very string.
        let entry = line < lastCount && series === lastSeries[line] ? lastEntries[line] : this.#cache.get(series);
        if (entry === undefined) {
          entry = this.#newEntry(series, nameEnd >= 0 ? nameEnd : nameLength(series));
          this.#cache.set(series, entry);
        }
        nextSeries[line] = series;
        nextEntries[line] = entry;
        line++;
        entry.seen = gen;
        const state = entry.state;
        if (state === undefined) return;
        if (state.seen === gen) {
          duplicates++;
          return;
        }
        // Series of the previous scrape were seen at gen - 1 (a failed scrape forgets them all).
        if (state.seen !== gen - 1) {
          this.#series.set(state.key, state);
          state.born = gen;
          seriesAdded++;
        }
        state.seen = gen;
        // The family a sample belongs to: the one declared last, if the name fits it.
        const f = fam !== undefined && series.startsWith(fam.name) ? fam : undefined;
        const famId = f === undefined ? '' : f.id;
        if (entry.famId !== famId) {
          entry.role = roleOf(entry.scrapedName, f);
          entry.famId = famId;
        }
        const i = this.#count++;
        entries[i] = entry;
        values[i] = value;
        const explicit = honorTs && ts === ts;
        times[i] = explicit ? ts : timestampMs;
        state.explicitTs = explicit;
        if (exemplar !== undefined) this.#exemplars.set(i, exemplar);
        if (entry.role !== Role.Unknown) f!.samples.push(i);
        else this.#unfamilied.push(i);
      },
    };

    try {
      parseExposition(body, format, handler);
      const limit = this.#o.limits.sampleLimit;
      if (limit > 0 && this.#count > limit) {
        throw new ScrapeError('sample_limit', `sample_limit exceeded: ${this.#count} samples after metric relabeling, limit ${limit}`);
      }
    } catch (err) {
      // Series this failed scrape found were never sent: `fail()` must not mark them stale.
      this.#series.forEach((state, key) => {
        if (state.born === gen) this.#series.delete(key);
      });
      throw err;
    }
    this.#lastSeries = nextSeries;
    this.#lastEntries = nextEntries;
    this.#lastCount = line;
    this.#nextSeries = lastSeries;
    this.#nextEntries = lastEntries;

    let taken = false;
    return {
      scraped,
      postRelabel: this.#count,
      seriesAdded,
      duplicates,
      batches: (maxPoints, last) => {
        if (taken) throw new Error('the batches of a scrape can be taken once');
        taken = true;
        return this.#emit(gen, timestampMs, maxPoints, last);
      },
    };
  }

  /** The batch being filled while a scrape's batches are made, and the size at which it is handed out. */
  #out = new BatchBuilder();
  #maxPoints = Infinity;

  /**
   * Maps the parsed scrape onto the model, a batch at a time: only one batch of the scrape is
   * alive at once, so a big target does not fill the heap with its whole scrape.
   */
  *#emit(gen: number, scrapeMs: number, maxPoints: number, last: ((batch: MetricsBatch) => void) | undefined): Generator<MetricsBatch, void, undefined> {
    // No for-of in these generators: their iterators are not optimized away there, and a
    // scrape has tens of thousands of samples.
    this.#out = new BatchBuilder();
    this.#maxPoints = maxPoints;
    const nanos = millisToNanos(scrapeMs);
    const families = this.#families;
    for (let f = 0; f < families.length; f++) {
      const fam = families[f]!;
      const parts = fam.type === 'histogram' || fam.type === 'summary' ? this.#emitGrouped(fam, nanos, scrapeMs) : this.#emitFamily(fam, nanos, scrapeMs);
      while (!parts.next().done) yield this.#handOut();
    }
    const loose = this.#emitLoose(this.#unfamilied, nanos, scrapeMs);
    while (!loose.next().done) yield this.#handOut();
    const stale = this.#emitStale(gen, nanos);
    while (!stale.next().done) yield this.#handOut();
    this.#cache.forEach((entry, series) => {
      if (entry.seen !== gen) this.#cache.delete(series);
    });
    if (this.#interned.size > 4 * (this.#cache.size + 64)) this.#interned.clear();
    const batch = this.#handOut();
    last?.(batch);
    yield batch;
  }

  /** The batch filled so far; the next points go into a new one. */
  #handOut(): MetricsBatch {
    const batch = this.#out.batch;
    this.#out = new BatchBuilder();
    return batch;
  }

  /** Yields (nothing) whenever the batch being filled is full. */
  *#emitLoose(idx: readonly number[], nanos: bigint, scrapeMs: number): Generator<void, void, undefined> {
    for (let k = 0; k < idx.length; k++) {
      this.#emitAsIs(this.#out, idx[k]!, undefined, Role.Unknown, nanos, scrapeMs);
      if (this.#out.points >= this.#maxPoints) yield;
    }
  }

  /** Series of the previous scrape that are gone get a stale marker at this scrape's time. */
  *#emitStale(gen: number, nanos: bigint): Generator<void, void, undefined> {
    const gone: SeriesState[] = [];
    this.#series.forEach((state, key) => {
      if (state.seen === gen) return;
      this.#series.delete(key);
      if (!state.explicitTs) gone.push(state);
    });
    for (let k = 0; k < gone.length; k++) {
      this.#stale(this.#out, gone[k]!, nanos);
      if (this.#out.points >= this.#maxPoints) yield;
    }
  }

  /**
   * A failed scrape: stale markers for every series of the last successful one, as Prometheus
   * writes them. Returns the batch they go in (the caller adds the report series).
   */
  fail(timestampMs: number): MetricsBatch {
    const out = new BatchBuilder();
    const ts = millisToNanos(timestampMs);
    for (const state of this.#series.values()) if (!state.explicitTs) this.#stale(out, state, ts);
    this.#series.clear();
    this.#cache.clear();
    this.#lastCount = 0;
    return out.batch;
  }

  /** `up` and the `scrape_*` series, added to `batch`. */
  report(batch: MetricsBatch, timestampMs: number, r: { up: boolean; durationSeconds: number; scraped: number; postRelabel: number; seriesAdded: number }): void {
    const values = [r.up ? 1 : 0, r.durationSeconds, r.scraped, r.postRelabel, r.seriesAdded];
    const ts = millisToNanos(timestampMs);
    const out = new BatchBuilder(batch);
    this.#reportStates.forEach((s, i) => {
      out.gauge(s, undefined, undefined).points.push(this.#point(s.attrs, ts, values[i]!, 0));
      out.points++;
    });
    this.#reportSeen = true;
  }

  /**
   * The target went away: stale markers for its series and its report series. Returns
   * undefined when there is nothing to mark.
   */
  end(timestampMs: number): MetricsBatch | undefined {
    const batch = this.fail(timestampMs);
    if (this.#reportSeen) {
      const out = new BatchBuilder(batch);
      const ts = millisToNanos(timestampMs);
      for (const s of this.#reportStates) this.#stale(out, s, ts);
      this.#reportSeen = false;
    }
    return batch.resourceMetrics.length > 0 ? batch : undefined;
  }

  #newEntry(series: string, nameEnd: number): CacheEntry {
    const parsed = parseSeries(series, nameEnd);
    const scrapedName = this.#intern(parsed.name);
    const lset: LabelSet = new Map();
    lset.set('__name__', scrapedName);
    let le: string | undefined;
    let quantile: string | undefined;
    for (let k = 0; k < parsed.labels.length; k += 2) {
      const n = parsed.labels[k]!;
      const v = parsed.labels[k + 1]!;
      if (n === 'le') le = v;
      else if (n === 'quantile') quantile = v;
      if (v !== '') lset.set(n, v);
    }
    this.#mergeTargetLabels(lset);
    const entry: CacheEntry = { state: undefined, scrapedName, le, quantile, famId: '\u0000', role: Role.Unknown, seen: 0 };
    if (this.#o.metricRelabel.length > 0 && !relabel(lset, this.#o.metricRelabel)) return entry;
    const name = lset.get('__name__');
    if (name === undefined || name === '') throw new SeriesSyntaxError('no metric name (__name__) after metric relabeling');
    this.#checkLimits(name, lset);
    const state = this.#state(name, lset);
    entry.state = this.#series.get(state.key) ?? state;
    return entry;
  }

  /** The target's labels onto a series, with honor_labels' rules (Prometheus's mutateSampleLabels). */
  #mergeTargetLabels(lset: LabelSet): void {
    const target = this.#o.targetLabels;
    if (this.#o.honorLabels) {
      for (const [n, v] of target) if (!lset.has(n)) lset.set(n, v);
      return;
    }
    const exposed = new Map(lset);
    const conflicting: [string, string][] = [];
    for (const [n, v] of target) {
      const existing = exposed.get(n);
      if (existing !== undefined && existing !== '') conflicting.push([n, existing]);
      lset.set(n, v);
    }
    if (conflicting.length === 0) return;
    // Shortest names first, each renamed to the first `exported_…` free of every other label.
    conflicting.sort((a, b) => a[0].length - b[0].length);
    for (let i = 0; i < conflicting.length; i++) {
      let name = conflicting[i]![0];
      for (;;) {
        name = EXPORTED + name;
        if (!exposed.has(name) && !this.#targetNames.has(name) && !conflicting.slice(0, i).some(([n]) => n === name)) break;
      }
      conflicting[i]![0] = name;
    }
    for (const [n, v] of conflicting) lset.set(n, v);
  }

  #checkLimits(name: string, lset: LabelSet): void {
    const { labelLimit, labelNameLengthLimit, labelValueLengthLimit } = this.#o.limits;
    // `__name__` counts, as in Prometheus.
    const count = lset.size + (lset.has('__name__') ? 0 : 1);
    if (labelLimit > 0 && count > labelLimit) {
      throw new ScrapeError('label_limit', `label_limit exceeded (metric: ${name.slice(0, 50)}, number of labels: ${count}, limit: ${labelLimit})`);
    }
    if (labelNameLengthLimit === 0 && labelValueLengthLimit === 0) return;
    // In name order, `__name__` included, as Prometheus checks them.
    for (const [n, v] of sortedPairs(lset)) {
      if (labelNameLengthLimit > 0 && n.length > labelNameLengthLimit) {
        throw new ScrapeError('label_name_length_limit', `label_name_length_limit exceeded (metric: ${name.slice(0, 50)}, label name: ${n.slice(0, 50)}, length: ${n.length}, limit: ${labelNameLengthLimit})`);
      }
      if (labelValueLengthLimit > 0 && v.length > labelValueLengthLimit) {
        throw new ScrapeError('label_value_length_limit', `label_value_length_limit exceeded (metric: ${name.slice(0, 50)}, label name: ${n.slice(0, 50)}, value: ${JSON.stringify(v.slice(0, 50))}, length: ${v.length}, limit: ${labelValueLengthLimit})`);
      }
    }
  }

  #point(attrs: Readonly<Record<string, string>>, ts: bigint, value: number, flags: number): NumberDataPoint {
    if (this.#o.shareAttributes === true) return { attributes: attrs, startTimeUnixNano: 0n, timeUnixNano: ts, flags, exemplars: NO_EXEMPLARS, value };
    return { attributes: { ...attrs }, startTimeUnixNano: 0n, timeUnixNano: ts, flags, exemplars: [], value };
  }

  /** A point's attributes: the series' frozen map itself, or a copy (see shareAttributes). */
  #attributes(attrs: Readonly<Record<string, string>>): Attributes {
    return this.#o.shareAttributes === true ? attrs : { ...attrs };
  }

  #timeOf(i: number, scrapeNanos: bigint, scrapeMs: number): bigint {
    const t = this.#times[i]!;
    return t === scrapeMs ? scrapeNanos : millisToNanos(t);
  }

  #exemplarsOf(i: number): Exemplar[] {
    const e = this.#exemplars.get(i);
    if (e === undefined) return [];
    const filteredAttributes: Attributes = {};
    for (let k = 0; k < e.labels.length; k += 2) filteredAttributes[e.labels[k]!] = e.labels[k + 1]!;
    return [{ filteredAttributes, value: e.value, timeUnixNano: e.timestampMs === e.timestampMs ? millisToNanos(e.timestampMs) : 0n }];
  }

  /** One sample as its own series: counter → sum, everything else a gauge typed by its family. */
  #emitAsIs(out: BatchBuilder, i: number, fam: Family | undefined, role: Role, scrapeNanos: bigint, scrapeMs: number): NumberDataPoint {
    const state = this.#entries[i]!.state!;
    const p = this.#point(state.attrs, this.#timeOf(i, scrapeNanos, scrapeMs), this.#values[i]!, 0);
    if (this.#exemplars.size > 0) p.exemplars = this.#exemplarsOf(i);
    if (role === Role.Counter) {
      state.staleAsSum = true;
      state.staleType = 'counter';
      out.sum(state, fam).points.push(p);
      out.points++;
      return p;
    }
    state.staleAsSum = false;
    let declared: FamilyType | undefined;
    if (role === Role.Gauge || role === Role.Created) declared = undefined;
    else if (role === Role.Unknown || role === Role.Untyped || fam === undefined) declared = 'unknown';
    else declared = fam.type;
    state.staleType = declared ?? 'gauge';
    out.gauge(state, fam, declared).points.push(p);
    out.points++;
    return p;
  }

  /** A counter, gauge, untyped, info, stateset or gaugehistogram family, sample by sample. */
  *#emitFamily(fam: Family, nanos: bigint, scrapeMs: number): Generator<void, void, undefined> {
    const created = this.#createdTimes(fam);
    const idx = fam.samples;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      const role = this.#entries[i]!.role;
      const p = this.#emitAsIs(this.#out, i, fam, role, nanos, scrapeMs);
      if (created !== undefined && role === Role.Counter) setStart(p, created.get(labelsKeyOf(this.#entries[i]!.state!)));
      if (this.#out.points >= this.#maxPoints) yield;
    }
  }

  /**
   * A family's `_created` values (seconds) by the labels of the point they belong to, or
   * undefined when it has none. They become start times; the `_created` series are sent too, as
   * the series Prometheus stores for them.
   */
  #createdTimes(fam: Family): Map<string, number> | undefined {
    let created: Map<string, number> | undefined;
    const idx = fam.samples;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      if (this.#entries[i]!.role === Role.Created) (created ??= new Map()).set(labelsKeyOf(this.#entries[i]!.state!), this.#values[i]!);
    }
    return created;
  }

  #pointKey(state: SeriesState, reserved: string): string {
    if (state.pointKey === undefined) {
      const attrs: Record<string, string> = {};
      for (const n in state.attrs) if (n !== reserved) attrs[n] = state.attrs[n]!;
      const content = attrsKey(attrs);
      state.pointAttrs = Object.freeze(keyed(attrs, content));
      state.pointKey = `${state.resourceKey}|${content}`;
    }
    return state.pointKey;
  }

  /**
   * A histogram or summary family: its series grouped into points by their labels (without
   * `le`/`quantile`); each group that maps exactly becomes one OTLP point, the others travel
   * series by series.
   */
  *#emitGrouped(fam: Family, nanos: bigint, scrapeMs: number): Generator<void, void, undefined> {
    const histogram = fam.type === 'histogram';
    const reserved = histogram ? 'le' : 'quantile';
    const groups = new Map<string, number[]>();
    const keys: string[] = [];
    const rest: number[] = [];
    const idx = fam.samples;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      const entry = this.#entries[i]!;
      const role = entry.role;
      if (role !== Role.Bucket && role !== Role.Quantile && role !== Role.Sum && role !== Role.Count) {
        // Loose series and `_created`, sent as they are after the points.
        rest.push(i);
        continue;
      }
      const state = entry.state!;
      // A bucket's point key drops `le` (a quantile's `quantile`); `_sum` and `_count` have none
      // to drop: if one has, its key differs and its group is found incomplete.
      const key = role === Role.Bucket || role === Role.Quantile ? this.#pointKey(state, reserved) : labelsKeyOf(state);
      let g = groups.get(key);
      if (g === undefined) {
        groups.set(key, (g = []));
        keys.push(key);
      }
      g.push(i);
    }
    const created = this.#createdTimes(fam);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      const members = groups.get(key)!;
      const out = this.#out;
      const p = histogram ? this.#histogramPoint(out, fam, members) : this.#summaryPoint(out, fam, members);
      if (p !== undefined) setStart(p, created?.get(key));
      else for (let m = 0; m < members.length; m++) this.#emitAsIs(out, members[m]!, fam, Role.Other, nanos, scrapeMs);
      if (this.#out.points >= this.#maxPoints) yield;
    }
    for (let k = 0; k < rest.length; k++) {
      this.#emitAsIs(this.#out, rest[k]!, fam, this.#entries[rest[k]!]!.role, nanos, scrapeMs);
      if (this.#out.points >= this.#maxPoints) yield;
    }
  }

  /** Common checks of a group: one timestamp, at most one `_sum` and one `_count`. */
  #groupParts(members: readonly number[]): { sum?: number; count?: number; ts: number; main: number[] } | undefined {
    const ts = this.#times[members[0]!]!;
    const parts: { sum?: number; count?: number; ts: number; main: number[] } = { ts, main: [] };
    for (const i of members) {
      if (this.#times[i] !== ts) return undefined;
      switch (this.#entries[i]!.role) {
        case Role.Sum:
          if (parts.sum !== undefined) return undefined;
          parts.sum = i;
          break;
        case Role.Count:
          if (parts.count !== undefined) return undefined;
          parts.count = i;
          break;
        default:
          parts.main.push(i);
      }
    }
    return parts;
  }

  /** The group as one histogram point, or undefined when that would not give its series back exactly. */
  #histogramPoint(out: BatchBuilder, fam: Family, members: readonly number[]): HistogramDataPoint | undefined {
    const parts = this.#groupParts(members);
    if (parts === undefined || parts.count === undefined || parts.main.length === 0) return undefined;
    const v = this.#values;
    const bounds: number[] = [];
    const counts: number[] = [];
    let prev = 0;
    let cumulative = 0;
    const last = parts.main.length - 1;
    for (let k = 0; k < parts.main.length; k++) {
      const i = parts.main[k]!;
      const le = this.#entries[i]!.le;
      const c = v[i]!;
      if (le === undefined || !Number.isSafeInteger(c) || c < prev) return undefined;
      if (k === last) {
        if (le !== '+Inf') return undefined;
      } else {
        const b = Number(le);
        if (!Number.isFinite(b) || canonicalFloat(b) !== le || (bounds.length > 0 && !(b > bounds[bounds.length - 1]!))) return undefined;
        bounds.push(b);
      }
      counts.push(c - prev);
      // The translation adds the counts back up: make sure that gives the scraped value.
      cumulative += c - prev;
      if (cumulative !== c) return undefined;
      prev = c;
    }
    const count = v[parts.count]!;
    if (count !== v[parts.main[last]!]) return undefined;
    const state = this.#entries[parts.main[0]!]!.state!;
    const p: HistogramDataPoint = {
      attributes: this.#attributes(state.pointAttrs!),
      startTimeUnixNano: 0n,
      timeUnixNano: millisToNanos(parts.ts),
      flags: 0,
      exemplars: this.#exemplars.size > 0 ? parts.main.flatMap((i) => this.#exemplarsOf(i)) : this.#o.shareAttributes === true ? NO_EXEMPLARS : [],
      count,
      sum: parts.sum === undefined ? undefined : v[parts.sum]!,
      bucketCounts: counts,
      explicitBounds: bounds,
    };
    const m = out.metric<HistogramMetric>(state, fam.name, 'h', () => ({
      type: 'histogram',
      name: fam.name,
      description: fam.help,
      unit: fam.unit,
      temporality: Temporality.Cumulative,
      points: [],
    }));
    m.points.push(p);
    out.points++;
    for (const i of members) this.#markComponent(i, fam);
    return p;
  }

  /** The group as one summary point, or undefined when that would not give its series back exactly. */
  #summaryPoint(out: BatchBuilder, fam: Family, members: readonly number[]): SummaryDataPoint | undefined {
    const parts = this.#groupParts(members);
    if (parts === undefined || parts.count === undefined || parts.sum === undefined) return undefined;
    const v = this.#values;
    const count = v[parts.count]!;
    if (!Number.isSafeInteger(count) || count < 0) return undefined;
    const quantileValues: { quantile: number; value: number }[] = [];
    const seen = new Set<string>();
    for (const i of parts.main) {
      const q = this.#entries[i]!.quantile;
      if (q === undefined || seen.has(q)) return undefined;
      seen.add(q);
      const quantile = Number(q);
      if (!(quantile >= 0 && quantile <= 1) || canonicalFloat(quantile) !== q) return undefined;
      quantileValues.push({ quantile, value: v[i]! });
    }
    const anchor = parts.main.length > 0 ? parts.main[0]! : parts.count;
    const state = this.#entries[anchor]!.state!;
    const attributes = this.#attributes(parts.main.length > 0 ? state.pointAttrs! : state.attrs);
    const p: SummaryDataPoint = {
      attributes,
      startTimeUnixNano: 0n,
      timeUnixNano: millisToNanos(parts.ts),
      flags: 0,
      exemplars: this.#o.shareAttributes === true ? NO_EXEMPLARS : [],
      count,
      sum: v[parts.sum]!,
      quantileValues,
    };
    const m = out.metric<SummaryMetric>(state, fam.name, 'q', () => ({ type: 'summary', name: fam.name, description: fam.help, unit: fam.unit, points: [] }));
    m.points.push(p);
    out.points++;
    for (const i of members) this.#markComponent(i, fam);
    return p;
  }

  /** A series that went out inside a histogram or summary point: its stale marker is a gauge of its own name and labels, typed by the family. */
  #markComponent(i: number, fam: Family): void {
    const state = this.#entries[i]!.state!;
    state.staleAsSum = false;
    state.staleType = fam.type;
  }

  #stale(out: BatchBuilder, state: SeriesState, ts: bigint): void {
    const p = this.#point(state.attrs, ts, NaN, DataPointFlags.NoRecordedValue);
    if (state.staleAsSum) {
      out.sum(state, undefined).points.push(p);
      out.points++;
      return;
    }
    const declared = state.staleType === 'gauge' ? undefined : state.staleType;
    out.gauge(state, undefined, declared).points.push(p);
    out.points++;
  }
}
