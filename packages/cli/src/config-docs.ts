/**
 * Renders config schemas as Markdown tables: docs/configuration.md for the whole distribution,
 * and the config table of each component README. scripts/gen-config-docs.ts writes them.
 */
import { TopLevelSchema, type ComponentKind, type Factory } from '@skein/core';

/** The parts of JSON Schema that TypeBox emits and the tables show. */
interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  minItems?: number;
}

export interface ConfigRow {
  /** Dotted key path; `<name>` is a key the user chooses, `[]` each item of a list. */
  key: string;
  type: string;
  /** Markdown, empty when there is none. */
  default: string;
  allowed: string;
  description: string;
}

/** The string formats the config validator knows (packages/core/src/config/validate.ts). */
const FORMATS: Record<string, { type: string; allowed: string }> = {
  duration: { type: 'duration', allowed: 'a duration such as `30s`, `500ms` or `1h`' },
  size: { type: 'size', allowed: 'a size such as `512KiB` or `10MiB`' },
  'host-port': { type: 'string', allowed: '`host:port`, e.g. `0.0.0.0:4318`' },
};

const code = (v: unknown) => '`' + (typeof v === 'string' ? v : JSON.stringify(v)) + '`';

function recordValue(s: JsonSchema): JsonSchema | undefined {
  if (s.patternProperties) return Object.values(s.patternProperties)[0];
  return typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
}

function constsOf(s: JsonSchema): unknown[] | undefined {
  if (s.enum) return s.enum;
  if (s.anyOf && s.anyOf.length > 0 && s.anyOf.every((b) => 'const' in b)) return s.anyOf.map((b) => b.const);
  return undefined;
}

function typeName(s: JsonSchema): string {
  const consts = constsOf(s);
  if (consts) return [...new Set(consts.map((c) => typeof c))].join(' or ');
  if ('const' in s) return typeof s.const;
  if (s.anyOf) return [...new Set(s.anyOf.map(typeName))].join(' or ');
  if (s.format && FORMATS[s.format]) return FORMATS[s.format]!.type;
  const type = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  if (type === 'array') return s.items ? `list of ${typeName(s.items)}` : 'list';
  if (type === 'object' || s.properties || s.patternProperties) {
    const value = recordValue(s);
    if (value && !s.properties) return Object.keys(value).length === 0 ? 'mapping' : `mapping of ${typeName(value)}`;
    return 'object';
  }
  return type ?? 'any';
}

function allowed(s: JsonSchema): string {
  const parts: string[] = [];
  const consts = constsOf(s);
  if (consts) parts.push(consts.map(code).join(', '));
  else if ('const' in s) parts.push(code(s.const));
  if (s.format) parts.push(FORMATS[s.format]?.allowed ?? `format \`${s.format}\``);
  const low = s.minimum !== undefined ? `≥ ${s.minimum}` : s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : undefined;
  const high = s.maximum !== undefined ? `≤ ${s.maximum}` : s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : undefined;
  if (low && high) parts.push(`${low} and ${high}`);
  else if (low ?? high) parts.push((low ?? high)!);
  if (s.minLength === 1) parts.push('not empty');
  else if (s.minLength !== undefined) parts.push(`at least ${s.minLength} characters`);
  if (s.pattern) parts.push(`matches the regular expression \`${s.pattern}\``);
  if (s.minItems !== undefined) parts.push(s.minItems === 1 ? 'not empty' : `at least ${s.minItems} items`);
  if (s.items) {
    const each = allowed(s.items);
    if (each) parts.push(`each: ${each}`);
  }
  return parts.join('; ');
}

function defaultText(s: JsonSchema, required: boolean): string {
  if (s.default === undefined) return required ? 'required' : '';
  if (typeof s.default === 'string') return s.default === '' ? '`""`' : code(s.default);
  return code(s.default);
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** One row per key, depth first, nested keys as dotted paths. */
export function schemaRows(schema: JsonSchema | object, prefix = ''): ConfigRow[] {
  const s = schema as JsonSchema;
  const rows: ConfigRow[] = [];
  const required = new Set(s.required ?? []);
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const isRequired = required.has(key);
    const nested = child.properties && Object.keys(child.properties).length > 0;
    const value = recordValue(child);
    const itemsNested = child.items?.properties && Object.keys(child.items.properties).length > 0;
    // A plain grouping object (no description, filled in by default) needs no row of its own.
    const groupOnly = nested && !child.description && child.default !== undefined;
    if (!groupOnly) {
      rows.push({
        key: path,
        type: typeName(child),
        default: nested && isEmptyObject(child.default) ? '' : defaultText(child, isRequired),
        allowed: allowed(child),
        description: child.description ?? '',
      });
    }
    if (nested) rows.push(...schemaRows(child, path));
    else if (value?.properties) rows.push(...schemaRows(value, `${path}.<name>`));
    else if (itemsNested) rows.push(...schemaRows(child.items!, `${path}[]`));
  }
  return rows;
}

const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

/** A Markdown table of `schema`, or a sentence when it has no keys. */
export function configTable(schema: object, emptyText: string): string {
  const rows = schemaRows(schema);
  if (rows.length === 0) return emptyText;
  const out = ['| Key | Type | Default | Allowed values | Description |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    out.push(`| ${cell(code(r.key))} | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.allowed)} | ${cell(r.description)} |`);
  }
  return out.join('\n');
}

/** The config table of one component, as its README shows it. */
export function componentTable(factory: Factory): string {
  return configTable(factory.configSchema, `The \`${factory.type}\` ${factory.kind} takes no settings; write \`${factory.type}: {}\`.`);
}

const SECTIONS: { kind: ComponentKind; title: string; key: string }[] = [
  { kind: 'receiver', title: 'Receivers', key: 'receivers' },
  { kind: 'processor', title: 'Processors', key: 'processors' },
  { kind: 'exporter', title: 'Exporters', key: 'exporters' },
  { kind: 'connector', title: 'Connectors', key: 'connectors' },
  { kind: 'extension', title: 'Extensions', key: 'extensions' },
];

const INTRO = `# Configuration reference

<!-- Generated by scripts/gen-config-docs.ts from the config schemas: do not edit by hand.
     Change a schema, then run \`npm run docs\`; a test fails while this file is stale. -->

A Skein config is a YAML file; several files (\`--config a.yaml --config b.yaml\`) merge in
order, mappings key by key, anything else replaced by the later file. The component sections
declare components by ID, \`type[/name]\` (\`batch\`, \`batch/slow\`); \`service\` wires them into
pipelines, and only what a pipeline or \`service.extensions\` uses is created.

- \`\${env:VAR}\` is replaced by an environment variable, \`\${env:VAR:-default}\` falls back to
  \`default\` when it is unset or empty, and \`$$\` is a literal \`$\`.
- Durations are strings such as \`200ms\`, \`30s\` or \`1m30s\`; sizes are strings such as
  \`512KiB\` or \`10MiB\`; addresses are \`host:port\`.
- Unknown keys are errors. \`skein validate --config FILE\` reports every problem at once, each
  with its file, line, column and key path (written \`receivers::heartbeat::interval\`).

In the tables a key such as \`telemetry.metrics.address\` is nested YAML, \`<name>\` stands for a
key you choose and \`[]\` for each item of a list. A default is filled in when the key is left
out; a key with neither a default nor "required" is optional.
`;

/** docs/configuration.md: the top-level schema, then every built-in component by kind. */
export function renderConfigDocs(builtins: readonly { packageName: string; factory: Factory }[]): string {
  const parts = [
    INTRO,
    '## Top level and `service`',
    '',
    configTable(TopLevelSchema, ''),
    '',
  ];
  for (const section of SECTIONS) {
    const members = builtins.filter((b) => b.factory.kind === section.kind).sort((a, b) => a.factory.type.localeCompare(b.factory.type));
    if (members.length === 0) continue;
    parts.push(`## ${section.title}`, '', `Declared under \`${section.key}:\`.`, '');
    for (const { packageName, factory } of members) {
      parts.push(
        `### \`${factory.type}\``,
        '',
        `${factory.description} Stability: ${factory.stability}. Package: \`${packageName}\`.`,
        '',
        componentTable(factory),
        '',
      );
    }
  }
  return parts.join('\n');
}

export const TABLE_START = '<!-- config-table:start -->';
export const TABLE_END = '<!-- config-table:end -->';

/** `readme` with the text between the config-table markers replaced; undefined if it has none. */
export function withConfigTable(readme: string, table: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return undefined;
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}
