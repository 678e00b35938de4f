/**
 * What the exporter works out once per label array: its shard hash, whether remote write takes
 * it as it is, and its encoded 1.0 `labels` fields. The translation hands out the same array
 * for a series call after call (its label cache), so each is computed once per series and then
 * found with one lookup; the lookups of one series that follow each other hit `last`.
 */
import type { Label } from './series.ts';

export interface LabelFacts {
  /** FNV-1a over the names and values: a series always lands on the same shard. */
  readonly hash: number;
  /** Sorted by name, names unique, no empty value. */
  readonly conforms: boolean;
  /** The 1.0 TimeSeries `labels` fields (field 1), once a request has needed them. */
  encoded: Uint8Array | undefined;
}

const facts = new WeakMap<readonly Label[], LabelFacts>();
let lastLabels: readonly Label[] | undefined;
let lastFacts: LabelFacts | undefined;

export function labelFacts(labels: readonly Label[]): LabelFacts {
  if (labels === lastLabels) return lastFacts!;
  let f = facts.get(labels);
  if (f === undefined) {
    f = { hash: labelsHash(labels), conforms: conforms(labels), encoded: undefined };
    facts.set(labels, f);
  }
  lastLabels = labels;
  lastFacts = f;
  return f;
}

function labelsHash(labels: readonly Label[]): number {
  let h = 0x811c9dc5;
  for (const l of labels) {
    const { name, value } = l;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193);
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xfe, 0x01000193);
  }
  return h >>> 0;
}

function conforms(labels: readonly Label[]): boolean {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]!.value === '') return false;
    // Strictly ascending: a name given twice is out of order too, and the fix finds it.
    if (i > 0 && !(labels[i - 1]!.name < labels[i]!.name)) return false;
  }
  return true;
}
