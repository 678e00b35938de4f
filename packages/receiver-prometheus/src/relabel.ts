/**
 * Prometheus relabeling: `relabel_configs` on targets and `metric_relabel_configs` on samples,
 * with Prometheus's semantics (source labels joined by `separator`, a fully anchored regex,
 * `$1`/`${name}` expansion as Go's regexp.Expand does it, an empty result deleting the label).
 *
 * Regular expressions are RE2 in Prometheus and JavaScript here: the two agree on the usual
 * patterns; `(?P<name>…)` groups and leading flags such as `(?i)` are translated.
 */
import { createHash } from 'node:crypto';

export const RELABEL_ACTIONS = [
  'replace',
  'keep',
  'drop',
  'keepequal',
  'dropequal',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
] as const;
export type RelabelAction = (typeof RELABEL_ACTIONS)[number];

/** A relabel rule as written in the config (snake_case keys, Prometheus's defaults). */
export interface RelabelRule {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  modulus?: number;
  target_label?: string;
  replacement?: string;
  action?: RelabelAction;
}

/** A label set being relabeled: name → value. An empty value means "no such label". */
export type LabelSet = Map<string, string>;

export const DEFAULT_REGEX = '(.*)';
const DEFAULT_SEPARATOR = ';';
const DEFAULT_REPLACEMENT = '$1';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isLabelName(s: string): boolean {
  return LABEL_NAME.test(s);
}

/**
 * Compiles an RE2-style pattern, fully anchored as Prometheus does (`^(?:pattern)$`). Flags
 * given at the start (`(?i)foo`) apply inside the anchors only, as in Go, through a modifier
 * group. Throws a SyntaxError.
 */
export function compileRegex(pattern: string): RegExp {
  let body = pattern.replace(/\(\?P</g, '(?<');
  const lead = /^\(\?([ims]+)\)/.exec(body);
  if (lead) body = `(?${[...new Set(lead[1])].join('')}:${body.slice(lead[0].length)})`;
  return new RegExp(`^(?:${body})$`);
}

export interface CompiledRule {
  action: RelabelAction;
  sourceLabels: readonly string[];
  separator: string;
  regex: RegExp;
  modulus: number;
  targetLabel: string;
  replacement: string;
}

export function compileRule(rule: RelabelRule): CompiledRule {
  return {
    action: rule.action ?? 'replace',
    sourceLabels: rule.source_labels ?? [],
    separator: rule.separator ?? DEFAULT_SEPARATOR,
    regex: compileRegex(rule.regex ?? DEFAULT_REGEX),
    modulus: rule.modulus ?? 0,
    targetLabel: rule.target_label ?? '',
    replacement: rule.replacement ?? DEFAULT_REPLACEMENT,
  };
}

/** What is wrong with a rule, as Prometheus's config check says it; each path relative to the rule. */
export function ruleProblems(rule: RelabelRule): { path: string[]; message: string }[] {
  const problems: { path: string[]; message: string }[] = [];
  const action = rule.action ?? 'replace';
  try {
    compileRegex(rule.regex ?? DEFAULT_REGEX);
  } catch (err) {
    // The engine's message quotes the anchored form; keep only what is wrong.
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '').toLowerCase();
    problems.push({ path: ['regex'], message: `must be a valid regular expression, got ${JSON.stringify(rule.regex)}: ${why}` });
  }
  const needsTarget = ['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action);
  if (needsTarget && !rule.target_label) problems.push({ path: ['target_label'], message: `is required by action ${action}` });
  if (rule.target_label) {
    const templated = action === 'replace' && rule.target_label.includes('$');
    if (!templated && !isLabelName(rule.target_label)) {
      problems.push({ path: ['target_label'], message: `must be a label name (letters, digits and _, not starting with a digit), got ${JSON.stringify(rule.target_label)}` });
    }
  }
  if (action === 'hashmod' && !(rule.modulus !== undefined && rule.modulus > 0)) problems.push({ path: ['modulus'], message: 'must be set and more than 0 for action hashmod' });
  if (action === 'labeldrop' || action === 'labelkeep') {
    const extra = (['source_labels', 'separator', 'target_label', 'modulus', 'replacement'] as const).filter((k) => rule[k] !== undefined);
    if (extra.length > 0) problems.push({ path: [extra[0]!], message: `must not be set for action ${action}, which takes only regex` });
  }
  if ((action === 'keepequal' || action === 'dropequal') && !(rule.source_labels && rule.source_labels.length > 0)) {
    problems.push({ path: ['source_labels'], message: `is required by action ${action}` });
  }
  if ((action === 'keepequal' || action === 'dropequal') && rule.regex !== undefined) {
    problems.push({ path: ['regex'], message: `must not be set for action ${action}` });
  }
  for (const [i, name] of (rule.source_labels ?? []).entries()) {
    if (!isLabelName(name)) problems.push({ path: ['source_labels', String(i)], message: `must be a label name, got ${JSON.stringify(name)}` });
  }
  return problems;
}

/**
 * Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in `template` with `match`, exactly as Go's
 * regexp.Expand: a name is the longest run of letters, digits and `_` (so `$1x` is the group
 * named `1x`, which is empty), a missing group is empty, and a malformed `$` is kept.
 */
export function expand(template: string, match: RegExpExecArray): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) break;
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    const brace = template[i] === '{';
    let j = brace ? i + 1 : i;
    const nameStart = j;
    while (j < template.length && /[\p{L}\p{N}_]/u.test(template[j]!)) j++;
    const name = template.slice(nameStart, j);
    if (name === '' || (brace && template[j] !== '}')) {
      out += '$';
      continue;
    }
    i = brace ? j + 1 : j;
    if (/^(?:0|[1-9]\d{0,7})$/.test(name)) out += match[Number(name)] ?? '';
    else out += match.groups?.[name] ?? '';
  }
  return out + template.slice(i);
}

/** The last 8 bytes of the MD5 of `value`, big-endian, modulo `modulus`: Prometheus's hashmod. */
export function hashmod(value: string, modulus: number): string {
  const digest = createHash('md5').update(value).digest();
  return (digest.readBigUInt64BE(8) % BigInt(modulus)).toString();
}

function set(labels: LabelSet, name: string, value: string): void {
  if (value === '') labels.delete(name);
  else labels.set(name, value);
}

/** Applies one rule in place; false when the rule drops the set. */
function applyRule(labels: LabelSet, r: CompiledRule): boolean {
  let val = '';
  for (let k = 0; k < r.sourceLabels.length; k++) {
    if (k > 0) val += r.separator;
    val += labels.get(r.sourceLabels[k]!) ?? '';
  }
  switch (r.action) {
    case 'drop':
      return !r.regex.test(val);
    case 'keep':
      return r.regex.test(val);
    case 'dropequal':
      return (labels.get(r.targetLabel) ?? '') !== val;
    case 'keepequal':
      return (labels.get(r.targetLabel) ?? '') === val;
    case 'replace': {
      const match = r.regex.exec(val);
      if (match === null) return true;
      const target = expand(r.targetLabel, match);
      if (!isLabelName(target)) return true;
      set(labels, target, expand(r.replacement, match));
      return true;
    }
    case 'lowercase':
      set(labels, r.targetLabel, val.toLowerCase());
      return true;
    case 'uppercase':
      set(labels, r.targetLabel, val.toUpperCase());
      return true;
    case 'hashmod':
      set(labels, r.targetLabel, hashmod(val, r.modulus));
      return true;
    case 'labelmap':
      // Over a snapshot: labels this rule adds are not mapped again.
      for (const [name, value] of [...labels]) {
        const match = r.regex.exec(name);
        if (match !== null) set(labels, expand(r.replacement, match), value);
      }
      return true;
    case 'labeldrop':
      for (const name of [...labels.keys()]) if (r.regex.test(name)) labels.delete(name);
      return true;
    case 'labelkeep':
      for (const name of [...labels.keys()]) if (!r.regex.test(name)) labels.delete(name);
      return true;
  }
}

/** Applies `rules` in order, in place. False when a rule dropped the set (its contents are then undefined). */
export function relabel(labels: LabelSet, rules: readonly CompiledRule[]): boolean {
  for (const r of rules) if (!applyRule(labels, r)) return false;
  return true;
}
