/**
 * Attributes to labels: values to strings (OTel's attribute rules), names sanitised, names that
 * collide after sanitising joined with `;` in the order of their original keys, and the labels
 * a resource gives every series (`job`, `instance`) worked out once per resource.
 */
import type { Attributes, AttributeValue } from '@skein/core';
import { sanitizeLabelName } from './names.ts';
import type { Label } from './types.ts';

/** Label name → value; a Map, so no attribute can reach an object's prototype (`__proto__`). */
export type LabelMap = Map<string, string>;

export const NAME_LABEL = '__name__';
export const JOB_LABEL = 'job';
export const INSTANCE_LABEL = 'instance';

const SERVICE_NAME = 'service.name';
const SERVICE_NAMESPACE = 'service.namespace';
const SERVICE_INSTANCE_ID = 'service.instance.id';
/** Resource attributes that become `job` and `instance` rather than `target_info` labels. */
const IDENTIFYING = new Set([SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID]);

function jsonValue(v: AttributeValue): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = jsonValue(v[k]!);
    return out;
  }
  return v;
}

/** A label value: strings as they are, bytes in base64, arrays and maps as JSON. */
export function attributeText(v: AttributeValue): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
    case 'number':
    case 'bigint':
      return String(v);
    default:
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      return JSON.stringify(jsonValue(v));
  }
}

/** Attribute keys repeat endlessly; sanitise each one once. Bounded so odd data cannot grow it forever. */
const labelNameCache = new Map<string, string>();
const LABEL_NAME_CACHE_LIMIT = 10_000;

export function cachedLabelName(key: string): string {
  let name = labelNameCache.get(key);
  if (name === undefined) {
    name = sanitizeLabelName(key);
    if (labelNameCache.size >= LABEL_NAME_CACHE_LIMIT) labelNameCache.clear();
    labelNameCache.set(key, name);
  }
  return name;
}

interface Entry {
  key: string;
  name: string;
  value: string;
}

function entriesOf(attrs: Attributes, skip?: (key: string) => boolean): Entry[] {
  const out: Entry[] = [];
  for (const key of Object.keys(attrs)) {
    if (skip?.(key)) continue;
    const name = cachedLabelName(key);
    const value = attributeText(attrs[key]!);
    // An empty name cannot be a label; an empty value is the same as no label in Prometheus.
    if (name !== '' && value !== '') out.push({ key, name, value });
  }
  return out;
}

/** Folds entries into labels; names that collide join their values with `;` in original key order. */
function fold(entries: Entry[], into: LabelMap): LabelMap {
  if (entries.length > 1) entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const e of entries) {
    const prev = into.get(e.name);
    into.set(e.name, prev === undefined ? e.value : `${prev};${e.value}`);
  }
  return into;
}

/** Labels of a set of attributes (a data point's), before anything else is added. */
export function attributeLabels(attrs: Attributes): LabelMap {
  return fold(entriesOf(attrs), new Map());
}

/** What a resource contributes to its series, computed once per resource. */
export interface ResourceLabels {
  /** `job` and `instance`, set over any attribute of the same name. */
  identity: Label[];
  /** With resource_to_telemetry_conversion: every resource attribute, merged under the point's own. */
  converted: Entry[] | undefined;
  /** Labels of `target_info` (without `__name__` and external labels), or undefined when the resource gets none. */
  targetInfo: LabelMap | undefined;
}

export function resourceLabels(attrs: Attributes, convert: boolean): ResourceLabels {
  const identity: Label[] = [];
  const name = attrs[SERVICE_NAME];
  if (name !== undefined) {
    const ns = attrs[SERVICE_NAMESPACE];
    const nsText = ns === undefined ? '' : attributeText(ns);
    const job = nsText === '' ? attributeText(name) : `${nsText}/${attributeText(name)}`;
    if (job !== '') identity.push({ name: JOB_LABEL, value: job });
  }
  const instance = attrs[SERVICE_INSTANCE_ID];
  if (instance !== undefined) {
    const value = attributeText(instance);
    if (value !== '') identity.push({ name: INSTANCE_LABEL, value });
  }
  // target_info carries the attributes job and instance do not, and only identifies a target
  // when it has job or instance: otherwise it would say nothing about which target it describes.
  const others = entriesOf(attrs, (key) => IDENTIFYING.has(key));
  let targetInfo: LabelMap | undefined;
  if (others.length > 0 && identity.length > 0) {
    targetInfo = fold(others, new Map());
    for (const l of identity) targetInfo.set(l.name, l.value);
  }
  return { identity, converted: convert ? entriesOf(attrs) : undefined, targetInfo };
}

/**
 * The labels of one data point: its attributes (with the resource's merged under them when
 * converting: a point attribute wins over a resource attribute with the same key, and different
 * keys that collide join with `;`), then `job` and `instance` over them.
 */
export function pointLabels(attrs: Attributes, resource: ResourceLabels): LabelMap {
  let labels: LabelMap;
  if (resource.converted === undefined) {
    labels = attributeLabels(attrs);
  } else {
    const own = entriesOf(attrs);
    const merged = resource.converted.filter((e) => !Object.hasOwn(attrs, e.key));
    for (const e of own) merged.push(e);
    labels = fold(merged, new Map());
  }
  for (const l of resource.identity) labels.set(l.name, l.value);
  return labels;
}

/** External labels go under everything: a series' own label of the same name wins. */
export function addExternal(labels: LabelMap, external: readonly Label[]): void {
  for (const l of external) if (!labels.has(l.name)) labels.set(l.name, l.value);
}

/** Sorted by name in byte order (label names are ASCII after sanitising, so UTF-16 order is byte order). */
export function sortedLabels(labels: LabelMap): Label[] {
  const out: Label[] = [];
  for (const [name, value] of labels) out.push({ name, value });
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/** A key no two different label sets share: names are sanitised (no `=`), values are length-prefixed. */
export function seriesKey(labels: readonly Label[]): string {
  let key = '';
  for (const l of labels) key += `${l.name}=${l.value.length}:${l.value},`;
  return key;
}
