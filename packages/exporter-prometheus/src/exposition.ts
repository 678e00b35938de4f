/**
 * Writes the held series as the Prometheus text format 0.0.4, or as OpenMetrics 1.0 for
 * scrapers that ask for it. One HELP/TYPE block per family; a histogram's (summary's) series are
 * written together per label set: buckets by `le` (quantiles by `quantile`), then sum and count.
 */
import { formatValue } from '@skein/core';
import type { Label, PromType } from '@skein/prometheus-translation';
import type { FamilyMeta, HeldSeries } from './store.ts';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface Family {
  meta: FamilyMeta;
  series: HeldSeries[];
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
function escapeHelp(s: string, openMetrics: boolean): string {
  const t = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return openMetrics ? t.replace(/"/g, '\\"') : t;
}
function labelText(labels: readonly Label[]): string {
  if (labels.length === 0) return '';
  let out = '{';
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) out += ',';
    out += `${labels[i]!.name}="${escapeLabelValue(labels[i]!.value)}"`;
  }
  return out + '}';
}

/** The labels that identify the point a series came from: all but `le` and `quantile`. */
function pointKey(labels: readonly Label[]): string {
  let key = '';
  for (const l of labels) if (l.name !== 'le' && l.name !== 'quantile') key += `${l.name}=${l.value.length}:${l.value},`;
  return key;
}

function boundOf(labels: readonly Label[], name: string): number {
  const v = labels.find((l) => l.name === name)?.value;
  if (v === undefined) return NaN;
  return v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
}

/** 0 for buckets and quantiles, 1 for `_sum`, 2 for `_count`. */
function rank(s: HeldSeries): number {
  if (s.name === s.family.name + '_sum') return 1;
  if (s.name === s.family.name + '_count') return 2;
  return 0;
}

/** A family's series grouped by point, each group in exposition order. */
function groups(f: Family): HeldSeries[][] {
  const byPoint = new Map<string, HeldSeries[]>();
  for (const s of f.series) {
    const key = pointKey(s.labels);
    let g = byPoint.get(key);
    if (g === undefined) byPoint.set(key, (g = []));
    g.push(s);
  }
  const bound = f.meta.type === 'summary' ? 'quantile' : 'le';
  const sorted = [...byPoint.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.map(([, g]) => g.sort((a, b) => rank(a) - rank(b) || boundOf(a.labels, bound) - boundOf(b.labels, bound)));
}

function textType(type: PromType): string {
  switch (type) {
    case 'counter':
    case 'gauge':
    case 'histogram':
    case 'summary':
      return type;
    case 'unknown':
      return 'untyped';
    default:
      // info and stateset have no text-format type; the spec says to expose them as gauges.
      return 'gauge';
  }
}

/** The Prometheus text format 0.0.4. Families without a description get no HELP line. */
export function textExposition(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    const name = f.meta.name;
    if (f.meta.help !== '') out.push(`# HELP ${name} ${escapeHelp(f.meta.help, false)}`);
    out.push(`# TYPE ${name} ${textType(f.meta.type)}`);
    for (const g of groups(f)) for (const s of g) out.push(`${s.name}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** How a family is named and typed in OpenMetrics, where counters drop `_total` and info families `_info`. */
function openMetricsFamily(meta: FamilyMeta): { name: string; type: string; sampleSuffix: string } {
  const strip = (suffix: string) => (meta.name.endsWith(suffix) && meta.name.length > suffix.length ? meta.name.slice(0, -suffix.length) : meta.name);
  switch (meta.type) {
    case 'counter':
      return { name: strip('_total'), type: 'counter', sampleSuffix: '_total' };
    case 'histogram':
    case 'summary':
    case 'gauge':
    case 'unknown':
      // target_info is the spec's `target` info metric; the translation types it gauge for the text format.
      if (meta.name === 'target_info' && meta.type === 'gauge') return { name: 'target', type: 'info', sampleSuffix: '_info' };
      return { name: meta.name, type: meta.type, sampleSuffix: '' };
    case 'info':
      if (meta.name.endsWith('_info')) return { name: strip('_info'), type: 'info', sampleSuffix: '_info' };
      return { name: meta.name, type: 'gauge', sampleSuffix: '' };
    default:
      return { name: meta.name, type: 'gauge', sampleSuffix: '' };
  }
}

/** OpenMetrics 1.0 text, `_created` from the OTLP start time, ending in `# EOF`. */
export function openMetricsExposition(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    const { name, type, sampleSuffix } = openMetricsFamily(f.meta);
    out.push(`# TYPE ${name} ${type}`);
    if (f.meta.unit !== '' && name.endsWith('_' + f.meta.unit)) out.push(`# UNIT ${name} ${f.meta.unit}`);
    if (f.meta.help !== '') out.push(`# HELP ${name} ${escapeHelp(f.meta.help, true)}`);
    for (const g of groups(f)) {
      if (type === 'counter' || type === 'info' || type === 'gauge' || type === 'unknown') {
        for (const s of g) {
          const labels = labelText(s.labels);
          out.push(`${name}${sampleSuffix}${labels} ${formatValue(s.value)}`);
          if (type === 'counter' && s.createdMs !== undefined) out.push(`${name}_created${labels} ${formatValue(s.createdMs / 1000)}`);
        }
        continue;
      }
      // Histogram or summary: buckets (quantiles), then count, sum and created, as OpenMetrics orders them.
      const parts = g.filter((s) => rank(s) === 0);
      const sum = g.find((s) => rank(s) === 1);
      const count = g.find((s) => rank(s) === 2);
      for (const s of parts) out.push(`${s.name}${labelText(s.labels)} ${formatValue(s.value)}`);
      if (count !== undefined) out.push(`${count.name}${labelText(count.labels)} ${formatValue(count.value)}`);
      if (sum !== undefined) out.push(`${sum.name}${labelText(sum.labels)} ${formatValue(sum.value)}`);
      const created = count?.createdMs;
      if (count !== undefined && created !== undefined) out.push(`${name}_created${labelText(count.labels)} ${formatValue(created / 1000)}`);
    }
  }
  out.push('# EOF');
  return out.join('\n') + '\n';
}
