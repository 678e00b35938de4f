/** Which shard a series goes to, and the checks a series passes before it is queued. */
import { labelFacts } from './label-facts.ts';
import type { RemoteSeries } from './series.ts';

/** FNV-1a over the label names and values: a series always lands on the same shard. */
export function seriesHash(series: RemoteSeries): number {
  return labelFacts(series.labels).hash;
}

/**
 * Makes a series what remote write 1.0 requires, or says why it cannot be sent: labels sorted
 * by name and unique, no empty value (dropped, as Prometheus treats an empty label as absent),
 * samples and histograms in timestamp order. Returns the series itself when it already is
 * (the usual case: the translation produces it so), a fixed copy, or a reason to drop it.
 */
export function conformSeries(series: RemoteSeries): RemoteSeries | { invalid: string } {
  const labels = series.labels;
  let out = series;
  if (!labelFacts(labels).conforms) {
    const fixed = labels.filter((l) => l.value !== '').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let i = 1; i < fixed.length; i++) {
      if (fixed[i - 1]!.name === fixed[i]!.name) return { invalid: 'duplicate_label' };
    }
    out = { ...series, labels: fixed };
  }
  if (!inOrder(out.samples)) out = { ...out, samples: [...out.samples].sort((a, b) => a.timestampMs - b.timestampMs) };
  if (!inOrder(out.histograms)) out = { ...out, histograms: [...out.histograms].sort((a, b) => a.timestampMs - b.timestampMs) };
  return out;
}

function inOrder(points: readonly { timestampMs: number }[]): boolean {
  for (let i = 1; i < points.length; i++) if (points[i - 1]!.timestampMs > points[i]!.timestampMs) return false;
  return true;
}

/**
 * Splits `total` points over parts in proportion to their samples, exactly (the remainder goes
 * to the largest shares first), so that the sent and failed point counters add up.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum === 0) return weights.map((_, i) => (i === 0 ? total : 0));
  const exact = weights.map((w) => (total * w) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) out[order[k]![1]]! += 1;
  return out;
}
