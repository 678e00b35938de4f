/**
 * Metric and label names, following the OpenTelemetry "Prometheus and OpenMetrics
 * Compatibility" rules and the Collector's translator where the spec leaves a choice.
 */
import type { PromType } from './types.ts';

/** OTel (UCUM) units to the words Prometheus names end with; `1` has no word (gauges get `ratio`). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

/** The unit after `/`: `By/s` is `bytes_per_second`. */
const PER_UNIT_WORDS: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

const VALID_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * A valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): every run of other characters
 * becomes `_`, runs of `_` become one, and a leading digit gets a `_` in front.
 */
export function sanitizeMetricName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]+/g, '_').replace(/__+/g, '_');
  if (out.charCodeAt(0) >= 48 && out.charCodeAt(0) <= 57) out = '_' + out;
  return out;
}

/**
 * A valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`): every other character becomes `_`,
 * and a leading digit gets `key_` in front. Runs of `_` and a leading `_` are kept, as the
 * Collector does, so labels that came from Prometheus (`__meta_x`, `foo__bar`) pass unchanged.
 */
export function sanitizeLabelName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_]/gu, '_');
  if (out.charCodeAt(0) >= 48 && out.charCodeAt(0) <= 57) out = 'key_' + out;
  return out;
}

/** Letters and digits only, joined by `_`: how a unit the tables do not know becomes a word. */
function unitWord(part: string): string {
  return part
    .split(/[^a-zA-Z0-9]+/)
    .filter((w) => w !== '')
    .join('_');
}

/**
 * The Prometheus unit for an OTel unit, without the gauge-only `ratio`: `ms` → `milliseconds`,
 * `By/s` → `bytes_per_second`, `km/h` → `km_per_hour`, `{requests}` → `` (annotations in
 * braces are dropped), `1` → ``.
 */
export function prometheusUnit(unit: string): string {
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '') return '';
  const slash = bare.indexOf('/');
  const main = (slash < 0 ? bare : bare.slice(0, slash)).trim();
  const per = slash < 0 ? '' : bare.slice(slash + 1).trim();
  const mainWord = main === '' ? '' : (UNIT_WORDS[main] ?? unitWord(main));
  const perWord = per === '' ? '' : (PER_UNIT_WORDS[per] ?? unitWord(per));
  if (perWord === '') return mainWord;
  return mainWord === '' ? `per_${perWord}` : `${mainWord}_per_${perWord}`;
}

/**
 * The unit word a family of `kind` gets for OTel unit `unit`: `ratio` for a gauge with unit `1`
 * (only gauges: unit `1` on counters usually means "a count of things"), else prometheusUnit.
 */
export function unitFor(unit: string, kind: PromType): string {
  if (unit.trim() === '1') return kind === 'gauge' || kind === 'unknown' ? 'ratio' : '';
  return prometheusUnit(unit);
}

function endsWithWord(name: string, word: string): boolean {
  return name === word || name.endsWith('_' + word);
}

/**
 * The Prometheus name of an OTel metric. With `addSuffixes` the unit word is appended unless the
 * name already ends with it, and a counter ends in `_total` (moved after the unit if it was
 * there already): `http.server.duration` (s, histogram) → `http_server_duration_seconds`,
 * `requests_total` (s, counter) → `requests_seconds_total`. Without it a name that is already a
 * valid Prometheus name is kept exactly, and any other is sanitised. A histogram or summary name is its family's: the translation adds `_bucket`, `_sum`
 * and `_count`.
 */
export function buildMetricName(name: string, unit: string, kind: PromType, addSuffixes: boolean): string {
  // Without suffixes a valid name is kept as it is: `foo__bar` from a scrape must not become `foo_bar`.
  if (!addSuffixes) return VALID_METRIC_NAME.test(name) ? name : sanitizeMetricName(name);
  const base = sanitizeMetricName(name);
  const counter = kind === 'counter';
  let out = base;
  if (counter && endsWithWord(out, 'total')) out = out.slice(0, -'total'.length).replace(/_$/, '');
  const word = unitFor(unit, kind);
  if (word !== '' && !endsWithWord(out, word)) out = out === '' ? word : `${out}_${word}`;
  if (counter) out = out === '' ? 'total' : `${out}_total`;
  return out.replace(/__+/g, '_');
}

/** The unit of a family named `familyName` as metadata: its unit word when the name ends with it. */
export function familyUnit(familyName: string, unit: string, kind: PromType): string {
  const word = unitFor(unit, kind);
  if (word === '') return '';
  const base = kind === 'counter' && familyName.endsWith('_total') ? familyName.slice(0, -'_total'.length) : familyName;
  return endsWithWord(base, word) ? word : '';
}
