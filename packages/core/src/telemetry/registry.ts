/**
 * Skein's own metrics: counters, gauges and histograms with labels, exposed in the
 * Prometheus text format (0.0.4). Registering a name twice with the same shape returns the
 * same family, so many components can share `skein_receiver_accepted_points_total`.
 */

export type Labels = Record<string, string>;
export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricOpts {
  name: string;
  help: string;
  labelNames?: readonly string[];
}
export interface HistogramOpts extends MetricOpts {
  /** Upper bounds, ascending; +Inf is implied. */
  buckets: readonly number[];
}

export interface CounterChild {
  inc(n?: number): void;
}
export interface GaugeChild {
  set(v: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
}
export interface HistogramChild {
  observe(v: number): void;
}

export interface Counter {
  labels(labels: Labels): CounterChild;
  inc(n?: number, labels?: Labels): void;
}
export interface Gauge {
  labels(labels: Labels): GaugeChild;
  set(v: number, labels?: Labels): void;
  inc(n?: number, labels?: Labels): void;
  dec(n?: number, labels?: Labels): void;
  /** Forgets one labelled series (a cluster that expired, a target that was removed). */
  remove(labels: Labels): void;
}
export interface Histogram {
  labels(labels: Labels): HistogramChild;
  observe(v: number, labels?: Labels): void;
}

/** Seconds buckets for request durations, 5 ms to 10 s. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Series {
  labels: Labels;
  value: number;
  buckets?: Float64Array;
  sum?: number;
  count?: number;
}

class Family {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly series = new Map<string, Series>();

  constructor(kind: MetricKind, opts: MetricOpts, buckets: readonly number[] = []) {
    if (!NAME_RE.test(opts.name)) throw new Error(`invalid metric name "${opts.name}"`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames) {
      if (!LABEL_RE.test(l) || l.startsWith('__')) throw new Error(`invalid label name "${l}" on ${opts.name}`);
      if (kind === 'histogram' && l === 'le') throw new Error(`label name "le" is reserved on histogram ${opts.name}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`duplicate label name on ${opts.name}`);
    this.kind = kind;
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...labelNames];
    this.buckets = normaliseBuckets(opts.name, buckets);
  }

  key(labels: Labels | undefined): string {
    if (this.labelNames.length === 0) return '';
    let k = '';
    for (const n of this.labelNames) {
      const v = labels?.[n];
      if (v === undefined) throw new Error(`metric ${this.name} needs label "${n}"`);
      // Length-prefixed so that no label value can make two series share a key.
      const text = String(v);
      k += text.length + ':' + text;
    }
    return k;
  }

  get(labels: Labels | undefined): Series {
    const k = this.key(labels);
    let s = this.series.get(k);
    if (!s) {
      const own: Labels = {};
      for (const n of this.labelNames) own[n] = String(labels![n]);
      s = { labels: own, value: 0 };
      if (this.kind === 'histogram') {
        s.buckets = new Float64Array(this.buckets.length);
        s.sum = 0;
        s.count = 0;
      }
      this.series.set(k, s);
    }
    return s;
  }
}

function counterChild(s: Series): CounterChild {
  return {
    inc(n = 1) {
      if (!(n >= 0)) throw new RangeError(`a counter cannot decrease (inc by ${n})`);
      s.value += n;
    },
  };
}
function gaugeChild(s: Series): GaugeChild {
  return {
    set(v) {
      s.value = v;
    },
    inc(n = 1) {
      s.value += n;
    },
    dec(n = 1) {
      s.value -= n;
    },
  };
}
function histogramChild(f: Family, s: Series): HistogramChild {
  const bounds = f.buckets;
  return {
    observe(v) {
      for (let i = 0; i < bounds.length; i++) {
        if (v <= bounds[i]!) {
          s.buckets![i]! += 1;
          break;
        }
      }
      s.sum! += v;
      s.count! += 1;
    },
  };
}

export class MetricsRegistry {
  readonly #families = new Map<string, Family>();
  readonly #collectors: Array<() => void> = [];

  #family(kind: MetricKind, opts: MetricOpts, buckets?: readonly number[]): Family {
    const f = new Family(kind, opts, buckets);
    const existing = this.#families.get(opts.name);
    if (existing) {
      const same =
        existing.kind === kind &&
        sameList(existing.labelNames, f.labelNames) &&
        sameList(existing.buckets, f.buckets);
      if (!same) throw new Error(`metric ${opts.name} is already registered with another type, labels or buckets`);
      return existing;
    }
    const clash = this.#expositionClash(f);
    if (clash) throw new Error(`metric ${opts.name} would clash with the series of histogram ${clash}`);
    this.#families.set(opts.name, f);
    return f;
  }

  /** A histogram `x` also writes `x_bucket`, `x_sum` and `x_count`; no other family may use those names. */
  #expositionClash(f: Family): string | undefined {
    for (const suffix of HISTOGRAM_SUFFIXES) {
      if (f.name.endsWith(suffix)) {
        const base = f.name.slice(0, -suffix.length);
        if (this.#families.get(base)?.kind === 'histogram') return base;
      }
      if (f.kind === 'histogram' && this.#families.has(f.name + suffix)) return f.name;
    }
    return undefined;
  }

  counter(opts: MetricOpts): Counter {
    const f = this.#family('counter', opts);
    return {
      labels: (l) => counterChild(f.get(l)),
      inc: (n = 1, l) => counterChild(f.get(l)).inc(n),
    };
  }

  gauge(opts: MetricOpts): Gauge {
    const f = this.#family('gauge', opts);
    return {
      labels: (l) => gaugeChild(f.get(l)),
      set: (v, l) => {
        f.get(l).value = v;
      },
      inc: (n = 1, l) => {
        f.get(l).value += n;
      },
      dec: (n = 1, l) => {
        f.get(l).value -= n;
      },
      remove: (l) => {
        f.series.delete(f.key(l));
      },
    };
  }

  histogram(opts: HistogramOpts): Histogram {
    const f = this.#family('histogram', opts, opts.buckets);
    return {
      labels: (l) => histogramChild(f, f.get(l)),
      observe: (v, l) => histogramChild(f, f.get(l)).observe(v),
    };
  }

  /** `fn` runs before every exposition, to refresh gauges read from elsewhere. */
  onCollect(fn: () => void): () => void {
    this.#collectors.push(fn);
    return () => {
      const i = this.#collectors.indexOf(fn);
      if (i >= 0) this.#collectors.splice(i, 1);
    };
  }

  /** The current value of one series, or undefined (tests and the health check use it). */
  value(name: string, labels: Labels = {}): number | undefined {
    const f = this.#families.get(name);
    if (!f) return undefined;
    for (const s of f.series.values()) {
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return f.kind === 'histogram' ? s.count : s.value;
    }
    return undefined;
  }

  /** Sum of every series of a family whose labels include `labels`. */
  sum(name: string, labels: Labels = {}): number {
    const f = this.#families.get(name);
    if (!f) return 0;
    let total = 0;
    for (const s of f.series.values()) {
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += f.kind === 'histogram' ? s.count! : s.value;
    }
    return total;
  }

  /** The Prometheus text exposition (format 0.0.4). */
  expose(): string {
    for (const c of this.#collectors) c();
    const out: string[] = [];
    const names = [...this.#families.keys()].sort();
    for (const name of names) {
      const f = this.#families.get(name)!;
      out.push(`# HELP ${name} ${escapeHelp(f.help)}`);
      out.push(`# TYPE ${name} ${f.kind}`);
      for (const s of f.series.values()) {
        if (f.kind !== 'histogram') {
          out.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
          continue;
        }
        let cumulative = 0;
        for (let i = 0; i < f.buckets.length; i++) {
          cumulative += s.buckets![i]!;
          out.push(`${name}_bucket${labelText(s.labels, formatValue(f.buckets[i]!))} ${cumulative}`);
        }
        out.push(`${name}_bucket${labelText(s.labels, '+Inf')} ${s.count}`);
        out.push(`${name}_sum${labelText(s.labels)} ${formatValue(s.sum!)}`);
        out.push(`${name}_count${labelText(s.labels)} ${s.count}`);
      }
    }
    return out.join('\n') + '\n';
  }

  /** A view that adds fixed labels to everything it registers. */
  scoped(fixed: Labels): ComponentTelemetry {
    return new ScopedTelemetry(this, fixed);
  }
}

/** The metrics handle a component gets: its ID is added as a label to everything. */
export interface ComponentTelemetry {
  readonly registry: MetricsRegistry;
  readonly fixedLabels: Readonly<Labels>;
  counter(opts: MetricOpts): Counter;
  gauge(opts: MetricOpts): Gauge;
  histogram(opts: HistogramOpts): Histogram;
}

class ScopedTelemetry implements ComponentTelemetry {
  readonly registry: MetricsRegistry;
  readonly fixedLabels: Readonly<Labels>;
  readonly #names: string[];
  constructor(registry: MetricsRegistry, fixed: Labels) {
    this.registry = registry;
    this.fixedLabels = Object.freeze({ ...fixed });
    this.#names = Object.keys(fixed);
  }
  #opts<O extends MetricOpts>(o: O): O {
    return { ...o, labelNames: [...this.#names, ...(o.labelNames ?? [])] };
  }
  /** The fixed labels win, so a component cannot report under another component's ID. */
  #merge(l?: Labels): Labels {
    return l ? { ...l, ...this.fixedLabels } : (this.fixedLabels as Labels);
  }
  counter(o: MetricOpts): Counter {
    const c = this.registry.counter(this.#opts(o));
    return { labels: (l) => c.labels(this.#merge(l)), inc: (n, l) => c.inc(n, this.#merge(l)) };
  }
  gauge(o: MetricOpts): Gauge {
    const g = this.registry.gauge(this.#opts(o));
    return {
      labels: (l) => g.labels(this.#merge(l)),
      set: (v, l) => g.set(v, this.#merge(l)),
      inc: (n, l) => g.inc(n, this.#merge(l)),
      dec: (n, l) => g.dec(n, this.#merge(l)),
      remove: (l) => g.remove(this.#merge(l)),
    };
  }
  histogram(o: HistogramOpts): Histogram {
    const h = this.registry.histogram(this.#opts(o));
    return { labels: (l) => h.labels(this.#merge(l)), observe: (v, l) => h.observe(v, this.#merge(l)) };
  }
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

function normaliseBuckets(name: string, buckets: readonly number[]): number[] {
  for (const b of buckets) {
    if (Number.isNaN(b)) throw new Error(`histogram ${name} has a NaN bucket bound`);
  }
  // +Inf is always written; listing it again would write the bucket twice.
  return [...new Set(buckets.filter((b) => b !== Infinity))].sort((a, b) => a - b);
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
function labelText(labels: Labels, le?: string): string {
  const parts: string[] = [];
  for (const k in labels) parts.push(`${k}="${escapeLabel(labels[k]!)}"`);
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
