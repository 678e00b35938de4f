import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@skein/core';
import { componentTable, renderConfigDocs, schemaRows, withConfigTable } from '../src/config-docs.ts';
import { loadBuiltins } from '../src/distribution.ts';
import { REPO } from './helpers.ts';

const GENERATOR = join(REPO, 'scripts/gen-config-docs.ts');
const REFERENCE = join(REPO, 'docs/configuration.md');
const builtins = await loadBuiltins();

function generator(...args: string[]) {
  const r = spawnSync(process.execPath, [GENERATOR, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

test('docs/configuration.md is what the schemas generate (run `npm run docs` if this fails)', () => {
  assert.equal(readFileSync(REFERENCE, 'utf8'), renderConfigDocs(builtins));
});

test('the generator in --check mode passes on the committed docs and READMEs', () => {
  const r = generator('--check');
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});

test('the generator in --check mode fails on a stale file and names it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-docs-'));
  try {
    const stale = join(dir, 'configuration.md');
    writeFileSync(stale, readFileSync(REFERENCE, 'utf8').replace('| `interval` |', '| `period` |'));
    const r = generator('--check', '--out', stale);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /configuration\.md is out of date with the config schemas; run npm run docs\n$/);
    assert.equal(readFileSync(stale, 'utf8').includes('| `period` |'), true, '--check must not write');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the reference has a section for every built-in component', () => {
  const doc = renderConfigDocs(builtins);
  for (const { factory, packageName } of builtins) {
    assert.ok(doc.includes(`### \`${factory.type}\`\n\n${factory.description} Stability: ${factory.stability}. Package: \`${packageName}\`.`), factory.type);
  }
  assert.ok(doc.includes('| `service.shutdown_timeout` | duration | `30s` | a duration such as `30s`, `500ms` or `1h` | How long SIGTERM/SIGINT waits for pipelines to drain before giving up. |'));
  assert.ok(doc.includes('| `service.pipelines.<name>.processors` | list of string | `[]` |  | Processor IDs, applied in order. |'));
});

test('nested keys become dotted paths with type, default, allowed values and description', () => {
  const schema = Type.Object({
    protocols: Type.Object(
      {
        http: Type.Optional(
          Type.Object(
            {
              endpoint: Type.String({ format: 'host-port', default: '0.0.0.0:4318', description: 'Where to listen.' }),
              max_body: Type.String({ format: 'size', default: '4MiB' }),
            },
            { description: 'Set to serve HTTP.' },
          ),
        ),
      },
      { default: {} },
    ),
    mode: Type.Union([Type.Literal('fast'), Type.Literal('safe')], { default: 'safe' }),
    retries: Type.Integer({ minimum: 0, maximum: 10 }),
    targets: Type.Array(Type.Object({ url: Type.String({ minLength: 1 }), weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })) })),
    headers: Type.Record(Type.String(), Type.String(), { description: 'Extra | headers.' }),
  });
  assert.deepEqual(schemaRows(schema), [
    { key: 'protocols.http', type: 'object', default: '', allowed: '', description: 'Set to serve HTTP.' },
    { key: 'protocols.http.endpoint', type: 'string', default: '`0.0.0.0:4318`', allowed: '`host:port`, e.g. `0.0.0.0:4318`', description: 'Where to listen.' },
    { key: 'protocols.http.max_body', type: 'size', default: '`4MiB`', allowed: 'a size such as `512KiB` or `10MiB`', description: '' },
    { key: 'mode', type: 'string', default: '`safe`', allowed: '`fast`, `safe`', description: '' },
    { key: 'retries', type: 'integer', default: 'required', allowed: '≥ 0 and ≤ 10', description: '' },
    { key: 'targets', type: 'list of object', default: 'required', allowed: '', description: '' },
    { key: 'targets[].url', type: 'string', default: 'required', allowed: 'not empty', description: '' },
    { key: 'targets[].weight', type: 'number', default: '', allowed: '> 0', description: '' },
    { key: 'headers', type: 'mapping of string', default: 'required', allowed: '', description: 'Extra | headers.' },
  ]);
  assert.ok(componentTable({ ...builtins[0]!.factory, configSchema: schema }).includes('| `headers` | mapping of string | required |  | Extra \\| headers. |'));
});

test('a README gets its table between the markers, and one without markers is left alone', () => {
  const readme = '# x\n\n## Configuration\n\n<!-- config-table:start -->\nold\n<!-- config-table:end -->\n\n## Example\n';
  assert.equal(withConfigTable(readme, 'NEW'), '# x\n\n## Configuration\n\n<!-- config-table:start -->\nNEW\n<!-- config-table:end -->\n\n## Example\n');
  assert.equal(withConfigTable('# no markers\n', 'NEW'), undefined);
});
