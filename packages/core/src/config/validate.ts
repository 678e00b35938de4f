/**
 * Checks a config value against a TypeBox (JSON) schema with ajv, fills in defaults, and turns
 * ajv's errors into messages a user can act on: lowercase, naming the key and the allowed values.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import type { ConfigIssue } from '../errors.ts';
import { configIssue, type PathSegment, type PositionIndex } from './source.ts';
import { isDuration, isHostPort, isSize } from './units.ts';

/** The string formats config schemas may use, with the words error messages describe them by. */
export const CONFIG_FORMATS: Readonly<Record<string, { validate: (s: string) => boolean; description: string }>> = {
  duration: { validate: isDuration, description: 'a duration such as "30s" or "1m30s"' },
  size: { validate: isSize, description: 'a size such as "10MiB"' },
  'host-port': { validate: isHostPort, description: 'host:port' },
};

// verbose: errors carry the offending data and the schema, which the messages need.
const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: false, verbose: true });
for (const [name, format] of Object.entries(CONFIG_FORMATS)) ajv.addFormat(name, { type: 'string', validate: format.validate });

const compiled = new WeakMap<TSchema, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/**
 * Validates `value` (found at `basePath` of the config) against `schema`. The input is not
 * changed: a copy gets the defaults. `value` is deep-frozen when `issues` is empty; otherwise it
 * is the partly checked copy and should not be used. A null or missing value is checked as `{}`,
 * so a component declared with no config gets all its defaults.
 */
export function validateAgainst<S extends TSchema>(
  schema: S,
  value: unknown,
  basePath: PathSegment[],
  positions: PositionIndex | undefined,
): { value: Static<S>; issues: ConfigIssue[] } {
  const data = value === null || value === undefined ? {} : structuredClone(value);
  const validate = validatorFor(schema);
  if (validate(data)) return { value: deepFreeze(data) as Static<S>, issues: [] };

  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const { path, what } of describeErrors(validate.errors ?? [])) {
    const issue = configIssue(positions, [...basePath, ...path], 'SKEIN_ERR_CONFIG_INVALID', what);
    const key = `${issue.path}\0${what}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return { value: data as Static<S>, issues: sortByPosition(issues) };
}

// ---------------------------------------------------------------------------------------------
// ajv errors → messages

interface Problem {
  path: string[];
  what: string;
}

function describeErrors(errors: ErrorObject[]): Problem[] {
  // A TypeBox Union becomes anyOf: ajv reports each failed branch and then the anyOf itself.
  // The anyOf error speaks for its branches.
  const unions = errors.filter((e) => e.keyword === 'anyOf');
  const inUnion = (e: ErrorObject) =>
    unions.some((u) => u !== e && e.schemaPath.startsWith(u.schemaPath + '/') && isWithin(e.instancePath, u.instancePath));
  const problems: Problem[] = [];
  for (const e of errors) {
    if (inUnion(e)) continue;
    const path = pointerSegments(e.instancePath);
    if (e.keyword === 'additionalProperties') {
      const key = String(e.params.additionalProperty);
      problems.push({ path: [...path, key], what: unknownKey(e.parentSchema) });
    } else if (e.keyword === 'required') {
      problems.push({ path, what: `missing required key ${JSON.stringify(e.params.missingProperty)}` });
    } else if (e.keyword === 'anyOf') {
      problems.push({ path, what: unionMessage(e, errors.filter((s) => s !== e && s.schemaPath.startsWith(e.schemaPath + '/'))) });
    } else {
      problems.push({ path, what: message(e) });
    }
  }
  return problems;
}

function isWithin(instancePath: string, parent: string): boolean {
  return instancePath === parent || instancePath.startsWith(parent + '/');
}

/** `/a/b~1c/0` → `['a', 'b/c', '0']` (JSON Pointer). */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function unknownKey(parentSchema: unknown): string {
  const properties = (parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
  const allowed = Object.keys(properties).sort();
  return allowed.length > 0 ? `unknown key; allowed keys: ${allowed.join(', ')}` : 'unknown key; no keys are allowed here';
}

function unionMessage(e: ErrorObject, branchErrors: ErrorObject[]): string {
  const branches = (Array.isArray(e.schema) ? e.schema : []) as Array<Record<string, unknown>>;
  if (branches.length > 0 && branches.every((b) => 'const' in b)) {
    return `must be one of ${branches.map((b) => JSON.stringify(b.const)).join(', ')}, got ${shown(e.data)}`;
  }
  // Union of plain types (string or number): name the types.
  if (branchErrors.length > 0 && branchErrors.every((b) => b.keyword === 'type' && b.instancePath === e.instancePath)) {
    const types = [...new Set(branchErrors.flatMap((b) => String(b.params.type).split(',')))];
    return `must be ${types.map(typeName).join(' or ')}, got ${shown(e.data)}`;
  }
  return `${e.message?.toLowerCase()}, got ${shown(e.data)}`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping',
  null: 'null',
};

function typeName(type: string): string {
  return TYPE_NAMES[type] ?? type;
}

function message(e: ErrorObject): string {
  const got = shown(e.data);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `must be ${String(p.type).split(',').map(typeName).join(' or ')}, got ${got}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${got}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}, got ${got}`;
    case 'format': {
      const format = CONFIG_FORMATS[String(p.format)];
      return format ? `must be ${format.description}, got ${got}` : `must match format ${JSON.stringify(p.format)}, got ${got}`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${p.comparison} ${p.limit}, got ${got}`;
    case 'minLength':
      return p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters`;
    case 'minItems':
      return p.limit === 1 ? 'must not be empty' : `must list at least ${p.limit} items`;
    case 'pattern':
      return `must match /${p.pattern}/, got ${got}`;
    default:
      return `${(e.message ?? `fails ${e.keyword}`).toLowerCase()}, got ${got}`;
  }
}

/** The offending value as JSON, cut to 60 characters. */
function shown(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 60 ? json.slice(0, 57) + '...' : json;
}

// ---------------------------------------------------------------------------------------------

/** By file (in order of first mention), line and column; issues with no position keep their order, last. */
function sortByPosition(issues: ConfigIssue[]): ConfigIssue[] {
  const fileRank = new Map<string, number>();
  for (const i of issues) if (i.file !== undefined && !fileRank.has(i.file)) fileRank.set(i.file, fileRank.size);
  const rank = (i: ConfigIssue) => (i.file === undefined ? Infinity : fileRank.get(i.file)!);
  return issues.toSorted(
    (a, b) => rank(a) - rank(b) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0),
  );
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
