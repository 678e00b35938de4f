import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig, loadConfigText } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import type { PathSegment, PositionIndex } from '../src/config/source.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./testdata/config/${name}`, import.meta.url));

/** `line:col` where `path` was written. */
function at(positions: PositionIndex, path: PathSegment[]): string {
  const pos = positions.get(path);
  assert.ok(pos, `no position for ${path.join('::')}`);
  return `${pos.line}:${pos.col}`;
}

/** `file:line:col` where `path` was written. */
function where(positions: PositionIndex, path: PathSegment[]): string {
  return `${positions.get(path)?.file}:${at(positions, path)}`;
}

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

describe('loadConfig: positions', () => {
  const file = fixture('positions.yaml');
  const { positions, raw, files } = loadConfig([file], { env: {} });

  it('records the key token of nested keys, 1-based', () => {
    assert.equal(at(positions, []), '1:1');
    assert.equal(at(positions, ['receivers']), '2:1');
    assert.equal(at(positions, ['receivers', 'otlp']), '3:3');
    assert.equal(at(positions, ['receivers', 'otlp', 'protocols']), '4:5');
    assert.equal(at(positions, ['receivers', 'otlp', 'protocols', 'grpc']), '5:7');
    assert.equal(at(positions, ['receivers', 'otlp', 'protocols', 'grpc', 'endpoint']), '5:14');
    assert.equal(at(positions, ['receivers', 'otlp', 'protocols', 'http', 'endpoint']), '7:9');
    assert.equal(at(positions, ['service', 'pipelines', 'metrics/fleet', 'exporters']), '19:40');
  });

  it('records list items by index, in block and flow lists', () => {
    const http = ['receivers', 'otlp', 'protocols', 'http', 'middlewares'];
    assert.equal(at(positions, [...http, 0]), '8:23');
    assert.equal(at(positions, [...http, 1]), '8:42');
    const scrape = ['receivers', 'prometheus/node', 'scrape_configs'];
    assert.equal(at(positions, [...scrape, 0]), '11:9');
    assert.equal(at(positions, [...scrape, 0, 'static_configs', 0]), '13:13');
    assert.equal(at(positions, [...scrape, 0, 'static_configs', 0, 'targets', 0]), '13:23');
    assert.equal(at(positions, ['service', 'extensions', 0]), '16:7');
    assert.equal(at(positions, ['service', 'extensions', 1]), '17:9');
    assert.equal(at(positions, ['service', 'pipelines', 'metrics/fleet', 'receivers', 0]), '19:33');
  });

  it('falls back to the nearest written ancestor', () => {
    assert.equal(at(positions, ['service', 'pipelines', 'metrics/fleet', 'processors']), '19:5');
  });

  it('gives plain data and the file list', () => {
    assert.deepEqual(files, [file]);
    assert.deepEqual(raw.service, {
      extensions: ['threshold_store', 'health_check'],
      pipelines: { 'metrics/fleet': { receivers: ['otlp'], exporters: ['debug'] } },
    });
    assert.equal(positions.get(['receivers'])?.file, file);
  });
});

describe('loadConfig: ${env:...} substitution', () => {
  const env = {
    ENDPOINT: 'collector:4318',
    PORT: '4318',
    INSECURE: 'true',
    RATIO: '0.5',
    NULL_TEXT: 'null',
    LIST: '[1, 2]',
    EMPTY: '',
    HOST: 'example.com',
    RECURSIVE: '${env:HOST} $$',
  };
  const { raw } = loadConfig([fixture('env.yaml')], { env });
  const exporters = raw.exporters as Record<string, Record<string, unknown>>;

  it('types a plain scalar that is exactly one reference, as if the value had been written there', () => {
    const e = exporters.otlphttp;
    assert.equal(e.endpoint, 'collector:4318');
    assert.equal(e.port, 4318);
    assert.equal(e.insecure, true);
    assert.equal(e.ratio, 0.5);
    assert.equal(e.nothing, null);
    assert.equal(e.list_text, '[1, 2]', 'only scalars are parsed, not collections');
    assert.equal(e.unset_with_default, 4317, 'a default is typed too');
    assert.equal(e.set_with_default, 4318);
  });

  it('keeps quoted, tagged, block and composite scalars as strings', () => {
    const e = exporters.otlphttp;
    assert.equal(e.port_quoted, '4318');
    assert.equal(e.port_single_quoted, '4318');
    assert.equal(e.tagged, '4318');
    assert.equal(e.block, 'host=example.com\n');
    assert.equal(e.url, 'http://example.com:4318/v1');
    assert.deepEqual(e.items, [4318, 'example.com']);
  });

  it('uses the default when the variable is unset or empty, and "" when empty without one', () => {
    const e = exporters.otlphttp;
    assert.equal(e.empty_with_default, 'fallback');
    assert.equal(e.empty_without_default, '');
  });

  it('reads $$ as $ and leaves any other $ alone', () => {
    const e = exporters.otlphttp;
    assert.equal(e.dollars, 'price $5, $example.com, $$');
    assert.equal(e.lone_dollars, 'a $ b $HOME ${HOST} $');
    assert.equal(e.escaped_reference, '${env:HOST}');
  });

  it('does not substitute substituted text again', () => {
    assert.equal(exporters.otlphttp.not_recursive, '${env:HOST} $$');
  });

  it('does not substitute keys', () => {
    assert.equal(exporters['${env:HOST}'], 'keys are left alone');
    assert.equal(exporters['example.com'], undefined);
  });

  it('reads process.env when no env is given', () => {
    process.env.SKEIN_TEST_LOAD_PORT = '9999';
    try {
      const { raw } = loadConfigText('a: ${env:SKEIN_TEST_LOAD_PORT}\n', 'inline.yaml');
      assert.deepEqual(raw, { a: 9999 });
    } finally {
      delete process.env.SKEIN_TEST_LOAD_PORT;
    }
  });
});

describe('loadConfig: ${env:...} mistakes', () => {
  const file = fixture('env-errors.yaml');

  it('lists every unset variable and malformed reference, at its key', () => {
    const err = configError(() => loadConfig([file], { env: { HOST: 'h', EMPTY: '' } }));
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_ENV');
    assert.deepEqual(
      err.issues.map((i) => i.message),
      [
        file + ':4:5: receivers::otlp::endpoint: environment variable "MISSING" is not set and no default is given (write ${env:MISSING:-default})',
        file + ':7:9: receivers::otlp::headers::1: environment variable "ALSO_MISSING" is not set and no default is given (write ${env:ALSO_MISSING:-default})',
        file + ':8:5: receivers::otlp::empty_name: malformed reference "${env:}": the variable name is empty',
        file + ':9:5: receivers::otlp::bad_name: malformed reference "${env:1BAD}": "1BAD" is not a valid variable name (letters, digits and _, not starting with a digit)',
        file + ':10:5: receivers::otlp::colon_default: malformed reference "${env:HOST:default}": a default is written ${env:VAR:-default}',
        file + ':11:5: receivers::otlp::unterminated: unterminated reference "${env:HOST": missing the closing "}"',
      ],
    );
    assert.ok(err.issues.every((i) => i.code === 'SKEIN_ERR_CONFIG_ENV'));
    assert.deepEqual(
      { file: err.issues[0].file, line: err.issues[0].line, col: err.issues[0].col, path: err.issues[0].path },
      { file, line: 4, col: 5, path: 'receivers::otlp::endpoint' },
    );
    assert.equal(err.message, err.issues.map((i) => i.message).join('\n'));
  });

  it('reports a reference reached through several aliases once, where it is written', () => {
    const text = 'a: &x {k: "${env:NOPE}"}\nb: *x\nc: *x\n';
    const err = configError(() => loadConfigText(text, 'alias.yaml', { env: {} }));
    assert.deepEqual(
      err.issues.map((i) => i.message),
      ['alias.yaml:1:8: a::k: environment variable "NOPE" is not set and no default is given (write ${env:NOPE:-default})'],
    );
  });
});

describe('loadConfig: several files', () => {
  const base = fixture('merge-base.yaml');
  const override = fixture('merge-override.yaml');
  const third = fixture('merge-third.yaml');
  const { raw, positions, files } = loadConfig([base, override, third], { env: {} });

  it('merges mappings key by key and replaces lists and scalars wholesale', () => {
    assert.deepEqual(files, [base, override, third]);
    assert.deepEqual(raw, {
      receivers: {
        otlp: {
          protocols: {
            grpc: { endpoint: '127.0.0.1:4317' },
            http: { endpoint: '0.0.0.0:4318', middlewares: ['z'] },
          },
        },
        debug: { verbosity: 'detailed' },
      },
      processors: { batch: { timeout: '1s', send_batch_size: 8192 }, memory_limiter: null },
      service: { extensions: ['three'] },
    });
  });

  it('keeps null for a key with no value, merges a later mapping over it, and ignores a later null over a mapping', () => {
    const one = loadConfigText('receivers:\n  debug:\n', 'one.yaml', { env: {} });
    assert.deepEqual(one.raw, { receivers: { debug: null } });
    // merge-base declares `debug:` (null), merge-override gives it a mapping, merge-third `debug:` again.
    assert.deepEqual((raw.receivers as Record<string, unknown>).debug, { verbosity: 'detailed' });
    assert.equal(where(positions, ['receivers', 'debug', 'verbosity']), `${override}:8:5`);
  });

  it('takes the positions of a replaced value from the later file', () => {
    const middlewares = ['receivers', 'otlp', 'protocols', 'http', 'middlewares'];
    assert.equal(where(positions, [...middlewares, 0]), `${override}:6:23`);
    // Item 2 existed only in merge-base; its position went with it, so the lookup falls back.
    assert.equal(where(positions, [...middlewares, 2]), `${override}:6:9`);
    assert.equal(where(positions, ['receivers', 'otlp', 'protocols', 'grpc', 'endpoint']), `${third}:11:9`);
    assert.equal(where(positions, ['processors', 'batch', 'timeout']), `${third}:4:5`);
    assert.equal(where(positions, ['service', 'extensions', 0]), `${override}:10:16`);
  });

  it('keeps the earlier positions of what a later file did not replace', () => {
    assert.equal(where(positions, []), `${base}:1:1`);
    assert.equal(where(positions, ['receivers']), `${base}:1:1`);
    assert.equal(where(positions, ['receivers', 'otlp', 'protocols', 'http', 'endpoint']), `${base}:7:9`);
    assert.equal(where(positions, ['processors', 'batch', 'send_batch_size']), `${base}:11:24`);
    assert.equal(where(positions, ['processors', 'memory_limiter']), `${third}:5:3`);
  });
});

describe('loadConfig: anchors, aliases and merge keys', () => {
  const file = fixture('anchors.yaml');
  const { raw, positions } = loadConfig([file], { env: {} });
  const exporters = raw.exporters as Record<string, Record<string, unknown>>;

  it('expands aliases and merge keys, explicit keys first, then earlier merge sources', () => {
    assert.deepEqual(exporters, {
      'otlp/a': { timeout: '5s', retry: { enabled: true }, endpoint: 'a:4317' },
      'otlp/b': { timeout: '10s', retry: { enabled: true }, endpoint: 'b:4317', compression: 'gzip' },
      'otlp/c': { timeout: '5s', retry: { enabled: true } },
    });
  });

  it('gives each alias its own objects, so merging one never changes another', () => {
    assert.notEqual(exporters['otlp/a'].retry, exporters['otlp/c'].retry);
    assert.notEqual(exporters['otlp/c'], raw['x-defaults']);
  });

  it('records merged keys where they were written', () => {
    assert.equal(at(positions, ['exporters', 'otlp/a', 'timeout']), '2:3');
    assert.equal(at(positions, ['exporters', 'otlp/a', 'endpoint']), '7:5');
    assert.equal(at(positions, ['exporters', 'otlp/b', 'timeout']), '9:5');
    assert.equal(at(positions, ['exporters', 'otlp/b', 'endpoint']), '11:5');
    assert.equal(at(positions, ['exporters', 'otlp/b', 'compression']), '10:47');
    assert.equal(at(positions, ['exporters', 'otlp/c']), '12:3');
    assert.equal(at(positions, ['exporters', 'otlp/c', 'retry', 'enabled']), '3:11');
  });

  it('rejects an alias with no anchor, an alias inside its own anchor, and merging a scalar', () => {
    const err = configError(() =>
      loadConfigText('a: *nope\nb: &r [1, *r]\nc: &s 1\nd: {<<: *s, e: 2}\n', 'bad-alias.yaml', { env: {} }),
    );
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_PARSE');
    assert.deepEqual(
      err.issues.map((i) => i.message),
      [
        'bad-alias.yaml:1:1: a: alias *nope names no anchor defined before it',
        'bad-alias.yaml:2:11: b::1: alias *r refers to a node that contains it',
        'bad-alias.yaml:4:1: d: a merge key (<<) must name a mapping or a list of mappings, got a number',
      ],
    );
  });

  it('stops an alias bomb instead of expanding it', () => {
    const ten = (item: string) => `[${Array(10).fill(item).join(', ')}]`;
    const text = `a: &a ${ten('x')}\nb: &b ${ten('*a')}\nc: &c ${ten('*b')}\nd: &d ${ten('*c')}\ne: ${ten('*d')}\n`;
    const err = configError(() => loadConfigText(text, 'bomb.yaml', { env: {} }));
    assert.deepEqual(
      err.issues.map((i) => i.message),
      ['bomb.yaml:2:20: e::7::8::9::3: more than 10000 aliases to expand; the file is too large once expanded'],
    );
  });
});

describe('loadConfig: files that cannot be used', () => {
  it('reports a YAML syntax error at its position, without the library position text', () => {
    const file = fixture('parse-error.yaml');
    const err = configError(() => loadConfig([file], { env: {} }));
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_PARSE');
    assert.deepEqual(
      err.issues.map((i) => [i.message, i.line, i.col]),
      [[`${file}:4:3: map keys must be unique`, 4, 3]],
    );
  });

  it('reports a flow list left open', () => {
    const err = configError(() => loadConfigText('a:\n  b: [1, 2\nc: 3\n', 'open.yaml', { env: {} }));
    assert.deepEqual(
      err.issues.map((i) => i.message),
      ['open.yaml:3:1: flow sequence in block collection must be sufficiently indented and end with a ]'],
    );
  });

  it('reports a second document', () => {
    const err = configError(() => loadConfigText('a: 1\n---\nb: 2\n', 'two.yaml', { env: {} }));
    assert.deepEqual(err.issues.map((i) => i.message), ['two.yaml:2:1: a config file holds one document, but a second one starts here']);
  });

  it('reports a file that cannot be read, and one that is a directory', () => {
    const missing = fixture('does-not-exist.yaml');
    const dir = fixture('');
    const err = configError(() => loadConfig([missing, dir], { env: {} }));
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_READ');
    assert.deepEqual(
      err.issues.map((i) => [i.code, i.message]),
      [
        ['SKEIN_ERR_CONFIG_READ', `${missing}: cannot read config: no such file or directory`],
        ['SKEIN_ERR_CONFIG_READ', `${dir}: cannot read config: illegal operation on a directory`],
      ],
    );
  });

  it('rejects a top level that is not a mapping', () => {
    const file = fixture('not-mapping.yaml');
    let err = configError(() => loadConfig([file], { env: {} }));
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    assert.deepEqual(err.issues.map((i) => i.message), [`${file}:1:1: the config must be a mapping of sections, got a list`]);
    err = configError(() => loadConfigText('just text\n', 'scalar.yaml', { env: {} }));
    assert.deepEqual(err.issues.map((i) => i.message), ['scalar.yaml:1:1: the config must be a mapping of sections, got a string']);
  });

  it('reads an empty file as an empty mapping', () => {
    assert.deepEqual(loadConfig([fixture('empty.yaml')], { env: {} }).raw, {});
    assert.deepEqual(loadConfigText('', 'blank.yaml', { env: {} }).raw, {});
  });

  it('lists the problems of every file, in file order', () => {
    const envErrors = fixture('env-errors.yaml');
    const missing = fixture('does-not-exist.yaml');
    const parseError = fixture('parse-error.yaml');
    const err = configError(() => loadConfig([envErrors, missing, parseError, fixture('positions.yaml')], { env: {} }));
    assert.deepEqual(
      err.issues.map((i) => `${i.code} ${i.file}:${i.line ?? '-'}`),
      [
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:4`,
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:7`,
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:8`,
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:9`,
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:10`,
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:11`,
        `SKEIN_ERR_CONFIG_ENV ${envErrors}:12`,
        `SKEIN_ERR_CONFIG_READ ${missing}:-`,
        `SKEIN_ERR_CONFIG_PARSE ${parseError}:4`,
      ],
    );
  });
});
