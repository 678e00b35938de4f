/**
 * Writes docs/configuration.md, and the config table of every component README that has
 * `<!-- config-table:start -->`/`end` markers, from the config schemas.
 *
 *   node scripts/gen-config-docs.ts            write what changed
 *   node scripts/gen-config-docs.ts --check    exit 1, naming the stale files, if any would change
 *   --out FILE                                 the reference's path (default docs/configuration.md)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { componentTable, renderConfigDocs, withConfigTable } from '@skein/cli/config-docs';
import { loadBuiltins } from '@skein/cli/distribution';
import type { Factory } from '@skein/core';
import dropMetrics from '@skein/example-custom-processor';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const builtins = await loadBuiltins();

/** Component packages whose README tables are generated; the example is not a built-in. */
const documented: readonly { packageName: string; factory: Factory }[] = [
  ...builtins,
  { packageName: '@skein/example-custom-processor', factory: dropMetrics },
];

/** The directory of an installed package: the nearest package.json above its entry that names it. */
function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package.json of ${name}`);
    dir = parent;
  }
}

function targets(out: string): { file: string; content: string }[] {
  const list = [{ file: out, content: renderConfigDocs(builtins) }];
  for (const { packageName, factory } of documented) {
    const file = join(packageDir(packageName), 'README.md');
    if (!existsSync(file)) continue;
    const content = withConfigTable(readFileSync(file, 'utf8'), componentTable(factory));
    if (content !== undefined) list.push({ file, content });
  }
  return list;
}

const { values } = parseArgs({
  options: { check: { type: 'boolean', default: false }, out: { type: 'string', default: join(ROOT, 'docs/configuration.md') } },
  strict: true,
});
const stale = targets(resolve(values.out)).filter(({ file, content }) => !existsSync(file) || readFileSync(file, 'utf8') !== content);
const shown = (file: string) => relative(process.cwd(), file) || file;

if (values.check) {
  for (const { file } of stale) process.stderr.write(`${shown(file)} is out of date with the config schemas; run npm run docs\n`);
  process.exitCode = stale.length > 0 ? 1 : 0;
} else {
  for (const { file, content } of stale) {
    writeFileSync(file, content);
    process.stdout.write(`wrote ${shown(file)}\n`);
  }
  if (stale.length === 0) process.stdout.write('config docs are up to date\n');
}
