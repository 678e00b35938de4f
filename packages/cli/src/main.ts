#!/usr/bin/env node
/**
 * The `skein` command: run, validate, components, version. Exit codes: 0 success, 1 the
 * config, a plugin or the service failed, 2 the command line itself is wrong.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMPONENT_KINDS, ConfigError, loadPlugins, loadWithPlugins, planGraph, runService, SkeinError } from '@skein/core';
import { builtinFactories } from './distribution.ts';
import { reexecWithNodeFlags } from './node-flags.ts';

const VERSION = (JSON.parse(readFileSync(new URL(import.meta.resolve('@skein/cli/package.json')), 'utf8')) as { version: string }).version;

export const USAGE = `Usage: skein <command> [flags]

Commands:
  run          Run the pipelines of a config until SIGTERM or SIGINT; SIGHUP reloads the config
  validate     Check a config and its plugins without starting anything
  components   List every component this distribution knows, with plugins
  version      Print the version

Flags:
  -c, --config <file>   Config file (run, validate); repeat to merge several in order
  -p, --plugin <spec>   Plugin package or file whose default export is a factory; repeatable
      --json            Print the component list as JSON (components)
  -h, --help            Print this help
  -v, --version         Print the version

Examples:
  skein run --config configs/default.yaml
  skein validate --config base.yaml --config prod.yaml
  skein components --plugin ./examples/custom-processor/src/index.ts
`;

/** A mistake on the command line: exit 2 with the usage. */
class UsageError extends Error {}

const out = (line: string) => process.stdout.write(line + '\n');
const err = (line: string) => process.stderr.write(line + '\n');

const COMMON = {
  plugin: { type: 'string', short: 'p', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;
const WITH_CONFIG = { ...COMMON, config: { type: 'string', short: 'c', multiple: true } } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode, with its errors turned into short messages. */
function parse<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const quoted = /'([^']+)'/.exec((e as Error).message)?.[1] ?? '';
    // `Option '-c, --config <value>' argument missing` names the long form after the short one.
    const flag = /--[\w-]+/.exec(quoted)?.[0] ?? quoted.split(' ')[0];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`skein ${command}: unknown flag ${flag}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`skein ${command}: ${flag} needs a value`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`skein ${command}: unexpected argument "${quoted}"`);
    throw e;
  }
}

function requireConfig(command: string, files: string[] | undefined): string[] {
  if (!files || files.length === 0) throw new UsageError(`skein ${command}: --config is required, e.g. skein ${command} --config configs/default.yaml`);
  return files;
}

/** Prints a plugin or config error the way `validate` and `components` report them. */
function report(e: unknown): number {
  if (e instanceof ConfigError) {
    for (const issue of e.issues) err(issue.message);
    const n = e.issues.length;
    err(`${n} error${n === 1 ? '' : 's'}`);
    return 1;
  }
  if (e instanceof SkeinError) {
    err(e.message);
    return 1;
  }
  throw e;
}

async function run(args: string[]): Promise<number> {
  const opts = parse('run', args, WITH_CONFIG);
  if (opts.help) return help();
  const files = requireConfig('run', opts.config);
  // Listeners alone do not keep Node alive; a service runs until a signal stops it, whether
  // or not its components hold sockets or timers.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    return await runService({ files, plugins: opts.plugin ?? [], factories: builtinFactories(), version: VERSION });
  } finally {
    clearInterval(keepAlive);
  }
}

async function validate(args: string[]): Promise<number> {
  const opts = parse('validate', args, WITH_CONFIG);
  if (opts.help) return help();
  const files = requireConfig('validate', opts.config);
  const factories = builtinFactories();
  try {
    const loaded = await loadWithPlugins(files, factories, opts.plugin ?? []);
    const plan = planGraph(loaded, factories);
    for (const w of plan.warnings) err(`warning: ${w}`);
  } catch (e) {
    return report(e);
  }
  out('config is valid');
  return 0;
}

async function components(args: string[]): Promise<number> {
  const opts = parse('components', args, { ...COMMON, json: { type: 'boolean' } });
  if (opts.help) return help();
  const factories = builtinFactories();
  try {
    await loadPlugins(opts.plugin ?? [], factories, process.cwd());
    await factories.loadAll();
  } catch (e) {
    return report(e);
  }
  const rows = factories
    .all()
    .map((f) => ({
      kind: f.kind,
      type: f.type,
      stability: f.stability,
      description: f.description,
      source: factories.sourceOf(f.kind, f.type) ?? 'built-in',
    }))
    .sort((a, b) => COMPONENT_KINDS.indexOf(a.kind) - COMPONENT_KINDS.indexOf(b.kind) || a.type.localeCompare(b.type));
  if (opts.json) {
    out(JSON.stringify(rows, null, 2));
    return 0;
  }
  const header = { kind: 'KIND', type: 'TYPE', stability: 'STABILITY', description: 'DESCRIPTION' };
  const cols = ['kind', 'type', 'stability'] as const;
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(header[c].length, ...rows.map((r) => r[c].length))]));
  for (const r of [header, ...rows]) out(cols.map((c) => r[c].padEnd(width[c]!)).join('  ') + '  ' + r.description);
  return 0;
}

function version(args: string[]): number {
  if (args.length > 0) throw new UsageError(`skein version: unexpected argument "${args[0]}"`);
  out(`skein ${VERSION}`);
  return 0;
}

function help(): number {
  process.stdout.write(USAGE);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  run,
  validate,
  components,
  version,
  '--version': version,
  '-v': version,
  help: (args) => (args.length > 0 ? Promise.reject(new UsageError(`skein help: unexpected argument "${args[0]}"`)) : help()),
  '--help': help,
  '-h': help,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) throw new UsageError('skein: a command is required');
    const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!handler) {
      throw new UsageError(command.startsWith('-') ? `skein: unknown flag ${command}` : `skein: unknown command "${command}"`);
    }
    return await handler(rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(e.message);
    err('');
    process.stderr.write(USAGE);
    return 2;
  }
}

/** Exits once what was written has been handed to the OS (a pipe may still be draining). */
async function exit(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise((r) => s.write('', r))));
  process.exit(code);
}

if (import.meta.main) {
  reexecWithNodeFlags();
  try {
    await exit(await main(process.argv.slice(2)));
  } catch (e) {
    err(e instanceof Error ? (e.stack ?? e.message) : String(e));
    await exit(1);
  }
}
