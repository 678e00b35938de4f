/**
 * From target groups to scrape targets, as Prometheus does it: each address gets the group's
 * labels, then `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
 * `__scrape_timeout__` and `__param_<name>` where not set; `relabel_configs` run; a target
 * without `__address__` is an error and one relabeled to nothing is dropped; `instance`
 * defaults to the address; labels starting with `__` are removed from what the target's series
 * carry, after they built the URL.
 */
import { isDuration, parseDuration } from '@skein/core';
import type { TargetGroup } from './discovery.ts';
import { isLabelName, relabel, type CompiledRule, type LabelSet } from './relabel.ts';

export interface TargetSettings {
  jobName: string;
  scheme: string;
  metricsPath: string;
  intervalMs: number;
  timeoutMs: number;
  intervalText: string;
  timeoutText: string;
  params: Readonly<Record<string, readonly string[]>>;
  relabel: readonly CompiledRule[];
}

export interface Target {
  /** Identity: its labels and URL. Two groups naming the same target make one. */
  key: string;
  /** The labels its series carry (no `__` ones), sorted by name. */
  labels: readonly (readonly [string, string])[];
  url: string;
  intervalMs: number;
  timeoutMs: number;
  /** The labels before relabeling (discovered labels), for logs. */
  discovered: Readonly<Record<string, string>>;
}

export interface TargetsResult {
  targets: Target[];
  /** Targets relabeled away. */
  dropped: number;
  /** Targets that cannot be scraped, with why. */
  errors: { address: string; reason: string }[];
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/** `host` gets the scheme's default port, as Prometheus 2.x does; `host:port` and `[v6]:port` stay. */
function withPort(address: string, scheme: string): string {
  const port = DEFAULT_PORTS[scheme]!;
  if (address.startsWith('[')) return /\]:\d+$/.test(address) ? address : `${address}:${port}`;
  const colons = address.split(':').length - 1;
  if (colons === 0) return `${address}:${port}`;
  if (colons > 1) return `[${address}]:${port}`;
  return address;
}

export function keyOf(labels: readonly (readonly [string, string])[]): string {
  let k = '';
  for (const [n, v] of labels) k += `${n}=${v.length}:${v},`;
  return k;
}

/** The targets of one scrape config's groups. */
export function buildTargets(groups: readonly TargetGroup[], s: TargetSettings): TargetsResult {
  const result: TargetsResult = { targets: [], dropped: 0, errors: [] };
  const seen = new Set<string>();
  for (const g of groups) {
    for (const address of g.targets) {
      const labels: LabelSet = new Map();
      for (const [k, v] of Object.entries(g.labels)) if (v !== '') labels.set(k, v);
      labels.set('__address__', address);
      const defaults: [string, string][] = [
        ['job', s.jobName],
        ['__scrape_interval__', s.intervalText],
        ['__scrape_timeout__', s.timeoutText],
        ['__metrics_path__', s.metricsPath],
        ['__scheme__', s.scheme],
      ];
      for (const [name, values] of Object.entries(s.params)) if (values.length > 0) defaults.push([`__param_${name}`, values[0]!]);
      for (const [k, v] of defaults) if (!labels.has(k) && v !== '') labels.set(k, v);
      const discovered = Object.fromEntries(labels);
      if (!relabel(labels, s.relabel)) {
        result.dropped++;
        continue;
      }
      const built = finish(labels, s, discovered);
      if ('reason' in built) {
        result.errors.push({ address, reason: built.reason });
        continue;
      }
      if (seen.has(built.key)) continue;
      seen.add(built.key);
      result.targets.push(built);
    }
  }
  return result;
}

function finish(labels: LabelSet, s: TargetSettings, discovered: Record<string, string>): Target | { reason: string } {
  const rawAddress = labels.get('__address__');
  if (rawAddress === undefined) return { reason: 'no __address__ label after relabeling' };
  const scheme = labels.get('__scheme__') ?? s.scheme;
  if (scheme !== 'http' && scheme !== 'https') return { reason: `__scheme__ must be http or https, got ${JSON.stringify(scheme)}` };
  const address = withPort(rawAddress, scheme);
  if (/[/?#@]/.test(address)) return { reason: `__address__ must be host:port, got ${JSON.stringify(rawAddress)}` };
  if (!labels.has('instance')) labels.set('instance', address);

  let intervalMs = s.intervalMs;
  let timeoutMs = s.timeoutMs;
  const intervalText = labels.get('__scrape_interval__');
  if (intervalText !== undefined && intervalText !== s.intervalText) {
    if (!isDuration(intervalText) || !(parseDuration(intervalText) > 0)) return { reason: `__scrape_interval__ must be a duration above 0s, got ${JSON.stringify(intervalText)}` };
    intervalMs = parseDuration(intervalText);
  }
  const timeoutText = labels.get('__scrape_timeout__');
  if (timeoutText !== undefined && timeoutText !== s.timeoutText) {
    if (!isDuration(timeoutText) || !(parseDuration(timeoutText) > 0)) return { reason: `__scrape_timeout__ must be a duration above 0s, got ${JSON.stringify(timeoutText)}` };
    timeoutMs = parseDuration(timeoutText);
  }
  // A timeout longer than the interval would let a scrape overlap the next one.
  timeoutMs = Math.min(timeoutMs, intervalMs);

  const path = labels.get('__metrics_path__') ?? s.metricsPath;
  const query = new URLSearchParams();
  for (const [name, values] of Object.entries(s.params)) {
    const relabeled = labels.get(`__param_${name}`);
    if (relabeled !== undefined) query.append(name, relabeled);
    else for (const v of values) query.append(name, v);
  }
  for (const [k, v] of labels) {
    if (k.startsWith('__param_') && !Object.hasOwn(s.params, k.slice('__param_'.length))) query.append(k.slice('__param_'.length), v);
  }
  const q = query.toString();
  let url: string;
  try {
    url = new URL(`${scheme}://${address}${path.startsWith('/') ? path : `/${path}`}${q ? `?${q}` : ''}`).href;
  } catch {
    return { reason: `cannot make a URL of ${scheme}://${address}${path}` };
  }

  const visible: [string, string][] = [];
  for (const [k, v] of labels) {
    if (k.startsWith('__') || v === '') continue;
    if (!isLabelName(k)) return { reason: `invalid label name ${JSON.stringify(k)} after relabeling` };
    visible.push([k, v]);
  }
  visible.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { key: `${keyOf(visible)}|${url}`, labels: visible, url, intervalMs, timeoutMs, discovered };
}
