/**
 * Reads config files into plain data: YAML parsing, `${env:VAR}` substitution and merging of
 * several files in order, recording where every key and list item was written so later errors
 * can point at it. Validation against schemas happens elsewhere (validate.ts).
 */
import { readFileSync } from 'node:fs';
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Pair,
  type Scalar,
  type ScalarTag,
} from 'yaml';
import { ConfigError, type ConfigIssue, type ErrorCode } from '../errors.ts';
import { configIssue, PositionIndex, type LoadedConfig, type PathSegment, type Position } from './source.ts';

export interface LoadOptions {
  /** Variables for `${env:VAR}`; process.env by default. */
  env?: Record<string, string | undefined>;
}

/** Reads, substitutes and merges `files` in order; throws one ConfigError listing every problem. */
export function loadConfig(files: string[], opts: LoadOptions = {}): LoadedConfig {
  return load(
    files.map((file) => ({ file, read: () => readFileSync(file, 'utf8') })),
    opts,
  );
}

/** Loads one in-memory document as if it were the file `fileName`. */
export function loadConfigText(text: string, fileName: string, opts: LoadOptions = {}): LoadedConfig {
  return load([{ file: fileName, read: () => text }], opts);
}

interface Source {
  file: string;
  read: () => string;
}

function load(sources: Source[], opts: LoadOptions): LoadedConfig {
  const env = opts.env ?? process.env;
  const issues: ConfigIssue[] = [];
  const raw: Record<string, unknown> = {};
  const positions = new PositionIndex();
  if (sources.length > 0) positions.set([], { file: sources[0].file, line: 1, col: 1 });
  for (const { file, read } of sources) {
    let text: string;
    try {
      text = read();
    } catch (err) {
      issues.push({ code: 'SKEIN_ERR_CONFIG_READ', message: `${file}: cannot read config: ${readReason(err)}`, file, path: '' });
      continue;
    }
    const parsed = parseFile(file, text, env, issues);
    if (parsed) mergeInto(raw, parsed.value, [], positions, parsed.positions);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { raw, positions, files: sources.map((s) => s.file) };
}

/** `ENOENT: no such file or directory, open 'x'` → `no such file or directory`. */
function readReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /^E[A-Z]+: ([^,]+)/.exec(message)?.[1] ?? message;
}

// ---------------------------------------------------------------------------------------------
// One file

/** A yaml bomb (aliases of aliases) would expand exponentially; no real config comes near this. */
const MAX_ALIAS_EXPANSIONS = 10_000;

interface FileContext {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  env: Record<string, string | undefined>;
  positions: PositionIndex;
  issues: ConfigIssue[];
  /** Substituted scalars, so a scalar reached again through an alias is not reported twice. */
  scalars: Map<Scalar, unknown>;
  /** Collections being built, to catch an alias inside the node it names. */
  open: Set<Node>;
  aliasExpansions: number;
}

function parseFile(
  file: string,
  text: string,
  env: Record<string, string | undefined>,
  issues: ConfigIssue[],
): { value: Record<string, unknown>; positions: PositionIndex } | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: false });
  // Only the first syntax error: the ones after it are usually echoes of the same mistake.
  const syntax = doc.errors[0];
  if (syntax) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    const what =
      syntax.code === 'MULTIPLE_DOCS'
        ? 'a config file holds one document, but a second one starts here'
        : lowerFirst(syntax.message);
    issues.push({ code: 'SKEIN_ERR_CONFIG_PARSE', message: `${file}:${line}:${col}: ${what}`, file, line, col, path: '' });
    return undefined;
  }
  const positions = new PositionIndex();
  positions.set([], { file, line: 1, col: 1 });
  const ctx: FileContext = { file, doc, lines, env, positions, issues, scalars: new Map(), open: new Set(), aliasExpansions: 0 };

  const top = doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) return { value: {}, positions };
  if (!isMap(top)) {
    const got = isSeq(top) ? 'a list' : isScalar(top) ? describe(top.value) : 'an alias';
    issues.push(configIssue(positions, [], 'SKEIN_ERR_CONFIG_INVALID', `the config must be a mapping of sections, got ${got}`));
    return undefined;
  }
  return { value: buildNode(ctx, top, []) as Record<string, unknown>, positions };
}

function positionOf(ctx: FileContext, node: unknown): Position | undefined {
  const range = (node as Node | null | undefined)?.range;
  if (!range) return undefined;
  const { line, col } = ctx.lines.linePos(range[0]);
  return { file: ctx.file, line, col };
}

function issue(ctx: FileContext, path: PathSegment[], code: ErrorCode, what: string): void {
  ctx.issues.push(configIssue(ctx.positions, path, code, what));
}

/** The plain-data value of `node`; its own position is recorded by the caller. */
function buildNode(ctx: FileContext, node: unknown, path: PathSegment[]): unknown {
  if (isScalar(node)) return buildScalar(ctx, node, path);
  if (isAlias(node)) {
    const target = node.resolve(ctx.doc);
    if (!target) {
      issue(ctx, path, 'SKEIN_ERR_CONFIG_PARSE', `alias *${node.source} names no anchor defined before it`);
      return null;
    }
    if (ctx.open.has(target)) {
      issue(ctx, path, 'SKEIN_ERR_CONFIG_PARSE', `alias *${node.source} refers to a node that contains it`);
      return null;
    }
    if (++ctx.aliasExpansions > MAX_ALIAS_EXPANSIONS) {
      if (ctx.aliasExpansions === MAX_ALIAS_EXPANSIONS + 1) {
        issue(ctx, path, 'SKEIN_ERR_CONFIG_PARSE', `more than ${MAX_ALIAS_EXPANSIONS} aliases to expand; the file is too large once expanded`);
      }
      return null;
    }
    // Built afresh under this path: no shared objects, and keys get the anchor's positions.
    return buildNode(ctx, target, path);
  }
  if (isMap(node)) {
    ctx.open.add(node);
    const out = buildMap(ctx, node.items, path);
    ctx.open.delete(node);
    return out;
  }
  if (isSeq(node)) {
    ctx.open.add(node);
    const out = node.items.map((item, i) => {
      const itemPath = [...path, i];
      const pos = positionOf(ctx, item);
      if (pos) ctx.positions.set(itemPath, pos);
      return buildNode(ctx, item, itemPath);
    });
    ctx.open.delete(node);
    return out;
  }
  return null;
}

function buildMap(ctx: FileContext, pairs: Pair<unknown, unknown>[], path: PathSegment[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const explicit = pairs.filter((p) => !isMergeKey(p.key));
  // YAML merge keys (`<<: *base`): explicit keys win over merged ones, and earlier sources win
  // over later ones, so merge the sources last to first and the explicit keys after them.
  const sources = pairs.filter((p) => isMergeKey(p.key)).flatMap((p) => (isSeq(p.value) ? p.value.items : [p.value]));
  for (const source of sources.reverse()) {
    const merged = buildNode(ctx, source, path);
    if (!isMapping(merged)) {
      issue(ctx, path, 'SKEIN_ERR_CONFIG_PARSE', `a merge key (<<) must name a mapping or a list of mappings, got ${describe(merged)}`);
      continue;
    }
    for (const [k, v] of Object.entries(merged)) put(out, k, v);
  }
  for (const pair of explicit) {
    const key = isScalar(pair.key) ? String(pair.key.value ?? '') : String(pair.key);
    const keyPath = [...path, key];
    const pos = positionOf(ctx, pair.key ?? pair.value);
    if (pos) ctx.positions.set(keyPath, pos);
    put(out, key, buildNode(ctx, pair.value, keyPath));
  }
  return out;
}

function isMergeKey(key: unknown): boolean {
  // With `merge: true` the yaml library resolves a plain `<<` key to Symbol('<<').
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}

function buildScalar(ctx: FileContext, node: Scalar, path: PathSegment[]): unknown {
  if (typeof node.value !== 'string') return node.value;
  if (ctx.scalars.has(node)) return ctx.scalars.get(node);
  const { text, problems, single } = substituteEnv(node.value, ctx.env);
  for (const problem of problems) issue(ctx, path, 'SKEIN_ERR_CONFIG_ENV', problem);
  // `port: ${env:PORT}` reads as if the value had been written there: 4318 is a number. Quoted
  // or tagged scalars, and text around the reference, keep it a string. Empty stays "", not null.
  const typed = single && problems.length === 0 && node.type === 'PLAIN' && !node.tag && text !== '';
  const value = typed ? resolvePlainScalar(ctx.doc, text) : text;
  ctx.scalars.set(node, value);
  return value;
}

/** What YAML would make of `text` written as a plain scalar: null, a boolean, a number, or the text. */
function resolvePlainScalar(doc: Document.Parsed, text: string): unknown {
  for (const tag of doc.schema.tags) {
    const scalarTag = tag as ScalarTag;
    if (scalarTag.default === true && scalarTag.test?.test(text)) {
      const value = scalarTag.resolve(text, () => {}, {});
      // Some tags (booleans) resolve to a Scalar node to keep the source style.
      return isScalar(value) ? value.value : value;
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// ${env:VAR} substitution

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_OPEN = '${env:';

/**
 * Replaces `${env:VAR}`, `${env:VAR:-default}` (default when VAR is unset or empty) and `$$` in
 * one pass, so substituted text is never substituted again. `single` says the whole text was
 * exactly one reference. `problems` are ready-made messages.
 */
function substituteEnv(
  text: string,
  env: Record<string, string | undefined>,
): { text: string; problems: string[]; single: boolean } {
  const problems: string[] = [];
  let out = '';
  let refs = 0;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) break;
    out += text.slice(i, dollar);
    if (text[dollar + 1] === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    if (!text.startsWith(ENV_OPEN, dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar);
    if (close < 0) {
      problems.push(`unterminated reference ${JSON.stringify(text.slice(dollar))}: missing the closing "}"`);
      out += text.slice(dollar);
      i = text.length;
      break;
    }
    const ref = text.slice(dollar, close + 1);
    const body = text.slice(dollar + ENV_OPEN.length, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    const fallback = sep < 0 ? undefined : body.slice(sep + 2);
    refs++;
    i = close + 1;
    if (name === '') {
      problems.push(`malformed reference ${JSON.stringify(ref)}: the variable name is empty`);
    } else if (name.includes(':')) {
      problems.push(`malformed reference ${JSON.stringify(ref)}: a default is written \${env:VAR:-default}`);
    } else if (!ENV_NAME.test(name)) {
      problems.push(
        `malformed reference ${JSON.stringify(ref)}: ${JSON.stringify(name)} is not a valid variable name ` +
          '(letters, digits and _, not starting with a digit)',
      );
    } else {
      const set = env[name];
      const value = fallback !== undefined && (set === undefined || set === '') ? fallback : set;
      if (value !== undefined) {
        out += value;
        continue;
      }
      problems.push(`environment variable ${JSON.stringify(name)} is not set and no default is given (write \${env:${name}:-default})`);
    }
    out += ref;
  }
  out += text.slice(i);
  const single = refs === 1 && text.startsWith(ENV_OPEN) && text.indexOf('}') === text.length - 1;
  return { text: out, problems, single };
}

// ---------------------------------------------------------------------------------------------
// Merging files

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets a key even when it is `__proto__`, which plain assignment would treat as the prototype. */
function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Mappings merge key by key; anything else replaces the earlier value and its positions. A later
 * null over a mapping adds nothing (`otlp:` with no config declares, it does not erase).
 */
function mergeInto(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
  path: PathSegment[],
  positions: PositionIndex,
  from: PositionIndex,
): void {
  for (const [key, value] of Object.entries(source)) {
    const keyPath = [...path, key];
    const existed = Object.hasOwn(target, key);
    const old = target[key];
    if (isMapping(old) && isMapping(value)) {
      mergeInto(old, value, keyPath, positions, from);
      continue;
    }
    if (isMapping(old) && value === null) continue;
    put(target, key, value);
    if (existed) positions.deleteUnder(keyPath);
    copyPositions(value, keyPath, positions, from);
  }
}

function copyPositions(value: unknown, path: PathSegment[], positions: PositionIndex, from: PositionIndex): void {
  const pos = from.get(path);
  if (pos) positions.set(path, pos);
  if (Array.isArray(value)) value.forEach((item, i) => copyPositions(item, [...path, i], positions, from));
  else if (isMapping(value)) for (const [k, v] of Object.entries(value)) copyPositions(v, [...path, k], positions, from);
}

// ---------------------------------------------------------------------------------------------

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
