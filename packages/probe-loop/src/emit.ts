/**
 * Turns a cycle's results into one metrics batch. A series that was in the last batch and is
 * not in this one (the target recovered and its `error` series ended, its error class changed,
 * or it was removed) gets a point flagged no-recorded-value, which the Prometheus translation
 * turns into a stale marker, so dashboards do not show a finished error for five minutes.
 */
import {
  DataPointFlags,
  gauge,
  metricsBatch,
  numberPoint,
  type Attributes,
  type GaugeMetric,
  type InstrumentationScope,
  type MetricsBatch,
  type NumberDataPoint,
} from '@skein/core';
import type { CycleResult } from './loop.ts';

/** One gauge a probe receiver emits. */
export interface SeriesSpec<T> {
  name: string;
  unit: string;
  description: string;
  /** The value for this result, or undefined when the metric does not apply to it. */
  value(result: CycleResult<T>): number | undefined;
  /** Attributes added to the target's own (the error class). */
  attributes?(result: CycleResult<T>): Attributes;
}

interface Emitted {
  spec: number;
  attributes: Attributes;
}

export class ProbeMetrics<T extends object> {
  readonly #scope: InstrumentationScope;
  readonly #specs: readonly SeriesSpec<T>[];
  readonly #targetAttributes: (target: T) => Attributes;
  /** A target's attributes and their key, built once per target object. */
  readonly #cache = new WeakMap<T, { attributes: Attributes; key: string }>();
  #previous = new Map<string, Emitted>();

  constructor(scope: InstrumentationScope, specs: readonly SeriesSpec<T>[], targetAttributes: (target: T) => Attributes) {
    this.#scope = scope;
    this.#specs = specs;
    this.#targetAttributes = targetAttributes;
  }

  #forTarget(target: T): { attributes: Attributes; key: string } {
    let c = this.#cache.get(target);
    if (!c) {
      const attributes = this.#targetAttributes(target);
      c = { attributes, key: JSON.stringify(attributes) };
      this.#cache.set(target, c);
    }
    return c;
  }

  /** The batch for one cycle, or undefined when there is nothing to send. */
  batch(results: readonly CycleResult<T>[], nowUnixNano: bigint): MetricsBatch | undefined {
    const points: NumberDataPoint[][] = this.#specs.map(() => []);
    const current = new Map<string, Emitted>();
    for (const r of results) {
      const own = this.#forTarget(r.target);
      this.#specs.forEach((spec, i) => {
        const value = spec.value(r);
        if (value === undefined) return;
        const extra = spec.attributes?.(r);
        const attributes = extra ? { ...own.attributes, ...extra } : own.attributes;
        const key = `${i}\0${own.key}${extra ? JSON.stringify(extra) : ''}`;
        current.set(key, { spec: i, attributes });
        points[i]!.push(numberPoint(value, { attributes, timeUnixNano: r.timeUnixNano }));
      });
    }
    for (const [key, gone] of this.#previous) {
      if (current.has(key)) continue;
      points[gone.spec]!.push(numberPoint(0, { attributes: gone.attributes, timeUnixNano: nowUnixNano, flags: DataPointFlags.NoRecordedValue }));
    }
    this.#previous = current;
    const metrics: GaugeMetric[] = [];
    this.#specs.forEach((spec, i) => {
      if (points[i]!.length > 0) metrics.push(gauge(spec.name, points[i]!, { description: spec.description, unit: spec.unit }));
    });
    return metrics.length > 0 ? metricsBatch([{ scope: this.#scope, metrics }]) : undefined;
  }
}
