/**
 * The latest value of every series, as Prometheus will scrape it: each translated series keeps
 * its newest sample, a stale marker removes it, and series nobody updated for the expiration
 * period are forgotten.
 */
import { isStaleNaN, type Label, type PromType, type TimeSeries } from '@skein/prometheus-translation';

export interface FamilyMeta {
  name: string;
  type: PromType;
  help: string;
  unit: string;
}

export interface HeldSeries {
  /** The sample name (`__name__`): `rpc_duration_seconds_bucket` in family `rpc_duration_seconds`. */
  name: string;
  /** Sorted, without `__name__`. */
  labels: Label[];
  family: FamilyMeta;
  value: number;
  timestampMs: number;
  createdMs: number | undefined;
  /** The store's clock (monotonic milliseconds) when the series was last written. */
  updatedAt: number;
}

/** Data points the store could not hold, by reason. */
export interface Refused {
  /** Exponential histograms: the text formats have no native histograms. */
  nativeHistograms: number;
  /** Points of a family whose name another family of another type already uses. */
  typeConflicts: number;
}

function keyOf(labels: readonly Label[]): string {
  let key = '';
  for (const l of labels) key += `${l.name}=${l.value.length}:${l.value},`;
  return key;
}

/** The one series of a point that stands for it in counts: the sample itself, or a histogram's/summary's `_count`. */
function countsPoints(name: string, familyName: string): boolean {
  return name === familyName || name === familyName + '_count';
}

export class SeriesStore {
  readonly #series = new Map<string, HeldSeries>();
  /** Each family's type (the first to arrive wins) and how many series it has. */
  readonly #families = new Map<string, { type: PromType; series: number }>();

  get size(): number {
    return this.#series.size;
  }

  /** Keeps the newest sample of each series; `now` is the store's clock. */
  apply(series: readonly TimeSeries[], now: number): Refused {
    const refused: Refused = { nativeHistograms: 0, typeConflicts: 0 };
    for (const s of series) {
      if (s.histograms.length > 0) {
        refused.nativeHistograms += s.histograms.length;
        continue;
      }
      const last = s.samples[s.samples.length - 1];
      if (last === undefined) continue;
      const nameLabel = s.labels.find((l) => l.name === '__name__');
      if (nameLabel === undefined) continue;
      const key = keyOf(s.labels);
      const held = this.#series.get(key);
      const family = this.#families.get(s.familyName);
      // Two TYPE lines for one name, or one sample name in two families, is an invalid exposition.
      if ((family !== undefined && family.type !== s.type) || (held !== undefined && held.family.name !== s.familyName)) {
        if (countsPoints(nameLabel.value, s.familyName)) refused.typeConflicts += s.samples.length;
        continue;
      }
      if (held !== undefined && held.timestampMs > last.timestampMs) continue; // older than what is served
      if (isStaleNaN(last.value)) {
        if (held !== undefined) this.#remove(key, held);
        continue;
      }
      if (held !== undefined) {
        held.value = last.value;
        held.timestampMs = last.timestampMs;
        held.createdMs = s.createdTimestampMs;
        held.updatedAt = now;
        continue;
      }
      this.#series.set(key, {
        name: nameLabel.value,
        labels: s.labels.filter((l) => l !== nameLabel),
        family: { name: s.familyName, type: s.type, help: s.help, unit: s.unit },
        value: last.value,
        timestampMs: last.timestampMs,
        createdMs: s.createdTimestampMs,
        updatedAt: now,
      });
      if (family === undefined) this.#families.set(s.familyName, { type: s.type, series: 1 });
      else family.series++;
    }
    return refused;
  }

  /** Forgets every series last written before `cutoff` (the store's clock); returns how many. */
  expire(cutoff: number): number {
    let n = 0;
    for (const [key, held] of this.#series) {
      if (held.updatedAt < cutoff) {
        this.#remove(key, held);
        n++;
      }
    }
    return n;
  }

  #remove(key: string, held: HeldSeries): void {
    this.#series.delete(key);
    const family = this.#families.get(held.family.name);
    if (family !== undefined && --family.series === 0) this.#families.delete(held.family.name);
  }

  /** Every series grouped by family, families by name. */
  families(): { meta: FamilyMeta; series: HeldSeries[] }[] {
    const byName = new Map<string, { meta: FamilyMeta; series: HeldSeries[] }>();
    for (const held of this.#series.values()) {
      let f = byName.get(held.family.name);
      if (f === undefined) {
        f = { meta: held.family, series: [] };
        byName.set(held.family.name, f);
      }
      f.series.push(held);
    }
    return [...byName.values()].sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));
  }
}
