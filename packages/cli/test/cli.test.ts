import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtins, loadBuiltins } from '../src/distribution.ts';
import { USAGE } from '../src/main.ts';
import { lines, skein } from './helpers.ts';

const ERRORS = 'packages/cli/test/testdata/errors.yaml';
const EXAMPLE_PLUGIN = './examples/custom-processor/src/index.ts';
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What `validate` prints for testdata/errors.yaml: every problem, in file order. */
const ERROR_LINES = [
  `${ERRORS}:2:15: receivers::heartbeat::interval: must be a duration such as "30s" or "1m30s", got "soon"`,
  `${ERRORS}:3:3: receivers::nosuch: unknown receiver type "nosuch"; known types: ${builtins
    .filter((b) => b.kind === 'receiver')
    .map((b) => b.type)
    .sort()
    .join(', ')}`,
  `${ERRORS}:5:11: processors::batch::send_batch_size: must be >= 1, got 0`,
  `${ERRORS}:7:11: exporters::debug::verbosity: must be one of "basic", "normal", "detailed", got "loud"`,
  `${ERRORS}:13:26: service::pipelines::metrics::exporters::1: exporter "missing" is not declared; declared exporters and connectors: debug`,
  `${ERRORS}:14:5: service::pipelines::metrics/no_exporter: a pipeline needs at least one exporter`,
];

test('validate accepts the default config', () => {
  const r = skein('validate', '--config', 'configs/default.yaml');
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'config is valid\n');
  assert.equal(r.code, 0);
});

test('validate prints every error, exactly, then the count, and exits 1', () => {
  const r = skein('validate', '--config', ERRORS);
  assert.deepEqual(lines(r.stderr), [...ERROR_LINES, `${ERROR_LINES.length} errors`]);
  assert.equal(r.stdout, '');
  assert.equal(r.code, 1);
});

test('validate reports a file that cannot be read as one error', () => {
  const r = skein('validate', '--config', 'no/such/config.yaml');
  assert.deepEqual(lines(r.stderr), ['no/such/config.yaml: cannot read config: no such file or directory', '1 error']);
  assert.equal(r.code, 1);
});

test('validate prints warnings and still passes', () => {
  const r = skein('validate', '--config', 'packages/cli/test/testdata/unused.yaml');
  assert.deepEqual(lines(r.stderr), [
    'warning: packages/cli/test/testdata/unused.yaml:4:3: processors::batch: declared but not used by any pipeline',
  ]);
  assert.equal(r.stdout, 'config is valid\n');
  assert.equal(r.code, 0);
});

test('run logs the same config errors and exits 1 before starting anything', () => {
  const r = skein('run', '--config', ERRORS);
  const logged = lines(r.stderr).map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.deepEqual(
    logged.map((l) => [l.level, l.msg]),
    ERROR_LINES.map((m) => ['error', m]),
  );
  assert.equal(r.code, 1);
});

test('components lists every built-in with its kind, type and stability', async () => {
  const r = skein('components');
  assert.equal(r.code, 0);
  const [header, ...rows] = lines(r.stdout);
  assert.match(header!, /^KIND\s+TYPE\s+STABILITY\s+DESCRIPTION$/);
  const cells = rows.map((row) => row.split(/\s{2,}/));
  const listed = cells.map(([kind, type]) => `${kind}/${type}`);
  // Grouped by kind in pipeline order, each built-in once.
  const kindOrder = ['receiver', 'processor', 'exporter', 'extension', 'connector'];
  assert.deepEqual(listed, [...listed].sort((a, b) => kindOrder.indexOf(a.split('/')[0]!) - kindOrder.indexOf(b.split('/')[0]!)));
  assert.equal(new Set(listed).size, builtins.length);
  for (const id of ['receiver/heartbeat', 'receiver/otlp', 'processor/batch', 'processor/memory_limiter', 'exporter/debug', 'extension/health_check', 'connector/forward']) {
    assert.ok(listed.includes(id), `${id} is not listed`);
  }
  for (const { factory: f } of await loadBuiltins()) {
    assert.ok(
      cells.some(([kind, type, stability, description]) => kind === f.kind && type === f.type && stability === f.stability && description === f.description),
      `${f.kind}/${f.type} (${f.stability}) missing from:\n${r.stdout}`,
    );
  }
});

test('components --json gives the same list with where each came from', async () => {
  const r = skein('components', '--json');
  assert.equal(r.code, 0);
  const list = JSON.parse(r.stdout) as { kind: string; type: string; stability: string; description: string; source: string }[];
  const byId = (a: { kind: string; type: string }, b: { kind: string; type: string }) => `${a.kind}/${a.type}`.localeCompare(`${b.kind}/${b.type}`);
  assert.deepEqual(
    list.toSorted(byId),
    (await loadBuiltins())
      .map(({ factory: f }) => ({ kind: f.kind, type: f.type, stability: f.stability, description: f.description, source: 'built-in' }))
      .toSorted(byId),
  );
});

test('--version and version print the cli package version', () => {
  for (const args of [['--version'], ['version'], ['-v']]) {
    const r = skein(...args);
    assert.equal(r.stdout, `skein ${VERSION}\n`, args.join(' '));
    assert.equal(r.code, 0);
  }
});

test('--help prints the usage on stdout', () => {
  for (const args of [['--help'], ['help'], ['validate', '--help']]) {
    const r = skein(...args);
    assert.equal(r.stdout, USAGE, args.join(' '));
    assert.equal(r.code, 0);
  }
});

test('command line mistakes exit 2 with a message and the usage', () => {
  const cases: [string[], string][] = [
    [[], 'skein: a command is required'],
    [['frobnicate'], 'skein: unknown command "frobnicate"'],
    [['--frobnicate'], 'skein: unknown flag --frobnicate'],
    [['validate', '--config', 'configs/default.yaml', '--frobnicate'], 'skein validate: unknown flag --frobnicate'],
    [['components', '--config', 'configs/default.yaml'], 'skein components: unknown flag --config'],
    [['validate', '--config'], 'skein validate: --config needs a value'],
    [['validate', 'configs/default.yaml'], 'skein validate: unexpected argument "configs/default.yaml"'],
    [['validate'], 'skein validate: --config is required, e.g. skein validate --config configs/default.yaml'],
    [['run'], 'skein run: --config is required, e.g. skein run --config configs/default.yaml'],
    [['version', 'extra'], 'skein version: unexpected argument "extra"'],
  ];
  for (const [args, message] of cases) {
    const r = skein(...args);
    assert.equal(r.stderr, `${message}\n\n${USAGE}`, args.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(r.code, 2, args.join(' '));
  }
});

test('--plugin loads a processor written outside core, for validate and components', () => {
  const without = skein('validate', '--config', 'packages/cli/test/testdata/uses-drop-metrics.yaml');
  assert.equal(without.code, 1);
  const knownProcessors = builtins
    .filter((b) => b.kind === 'processor')
    .map((b) => b.type)
    .sort()
    .join(', ');
  assert.ok(
    without.stderr.includes(`processors::drop_metrics: unknown processor type "drop_metrics"; known types: ${knownProcessors}\n`),
    without.stderr,
  );

  const r = skein('validate', '--config', 'packages/cli/test/testdata/uses-drop-metrics.yaml', '--plugin', EXAMPLE_PLUGIN);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'config is valid\n');
  assert.equal(r.code, 0);

  const c = skein('components', '--plugin', EXAMPLE_PLUGIN);
  assert.equal(c.code, 0);
  assert.match(c.stdout, /^processor\s+drop_metrics\s+development\s+Drops metrics by exact name or by a regular expression on the name\.$/m);
  const json = JSON.parse(skein('components', '--json', '--plugin', EXAMPLE_PLUGIN).stdout) as { type: string; source: string }[];
  assert.equal(json.find((f) => f.type === 'drop_metrics')?.source, EXAMPLE_PLUGIN);
});

test('plugins: in a config resolve from the config file directory', () => {
  const r = skein('validate', '--config', 'packages/cli/test/testdata/with-plugin.yaml');
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
});

test('a plugin that cannot be loaded is an error naming it', () => {
  for (const command of [['validate', '--config', 'configs/default.yaml'], ['components']]) {
    const r = skein(...command, '--plugin', './no/such/plugin.ts');
    assert.equal(r.code, 1, command[0]);
    assert.match(r.stderr, /^plugin "\.\/no\/such\/plugin\.ts": cannot load: Cannot find module '.*\/no\/such\/plugin\.ts'/);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
  }
});

test('a plugin whose default export is not a factory is an error naming it', () => {
  const spec = './packages/cli/test/testdata/malformed-plugin.ts';
  for (const command of [['validate', '--config', 'configs/default.yaml'], ['components']]) {
    const r = skein(...command, '--plugin', spec);
    assert.equal(r.stderr, `plugin "${spec}": factory type must be lowercase snake_case such as "my_processor", got "Bad-Type"\n`);
    assert.equal(r.code, 1);
  }
});

test('a plugin that declares a type the distribution already has is an error naming both', () => {
  const spec = './packages/cli/test/testdata/duplicate-batch-plugin.ts';
  const r = skein('validate', '--config', 'configs/default.yaml', '--plugin', spec);
  assert.equal(r.stderr, `plugin "${spec}": a processor of type "batch" is already registered by "built-in"\n`);
  assert.equal(r.code, 1);
});

test('run reports a plugin that cannot be loaded and exits 1', () => {
  const r = skein('run', '--config', 'configs/default.yaml', '--plugin', './no/such/plugin.ts');
  const logged = lines(r.stderr).map((l) => JSON.parse(l) as { level: string; msg: string; code?: string; message?: string });
  assert.equal(logged.length, 1, r.stderr);
  assert.equal(logged[0]!.level, 'error');
  assert.equal(logged[0]!.code, 'SKEIN_ERR_PLUGIN_LOAD');
  assert.match(logged[0]!.message!, /^plugin "\.\/no\/such\/plugin\.ts": cannot load: /);
  assert.equal(r.code, 1);
});
