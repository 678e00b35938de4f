import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { loadConfig, loadConfigText } from '../src/config/load.ts';
import { TopLevelSchema } from '../src/config/schema.ts';
import { validateAgainst } from '../src/config/validate.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./testdata/config/${name}`, import.meta.url));

const Sample = Type.Object(
  {
    target: Type.String(),
    name: Type.String({ minLength: 1 }),
    mode: Type.Union([Type.Literal('push'), Type.Literal('pull')]),
    level: Type.Union([Type.Literal('low'), Type.Literal('high')]),
    codec: Type.String({ enum: ['gzip', 'snappy', 'none'] }),
    endpoint: Type.String({ format: 'host-port' }),
    timeout: Type.String({ format: 'duration' }),
    max_size: Type.String({ format: 'size' }),
    workers: Type.Integer({ minimum: 1, maximum: 64 }),
    ratio: Type.Number({ exclusiveMaximum: 1 }),
    tags: Type.Array(Type.String(), { minItems: 1 }),
    pair: Type.Array(Type.String(), { minItems: 2 }),
    id: Type.String({ pattern: '^[a-z]+$' }),
    label: Type.String({ minLength: 3 }),
    short: Type.String({ maxLength: 3 }),
    enabled: Type.Boolean(),
    count: Type.Integer(),
    port: Type.Union([Type.String(), Type.Integer()]),
    threshold: Type.Number(),
    retry: Type.Object({ enabled: Type.Boolean(), backoff: Type.String({ default: '1s' }) }, { additionalProperties: false }),
    nested: Type.Object({ list: Type.Array(Type.String()), map: Type.Record(Type.String(), Type.String()) }),
  },
  { additionalProperties: false },
);

describe('validateAgainst: messages', () => {
  it('names the key, says what is wrong and what is allowed, in source order', () => {
    const file = fixture('validate-bad.yaml');
    const { raw, positions } = loadConfig([file], { env: {} });
    const processors = raw.processors as Record<string, unknown>;
    const { issues } = validateAgainst(Sample, processors['sample/bad'], ['processors', 'sample/bad'], positions);
    const p = `processors::sample/bad`;
    assert.deepEqual(
      issues.map((i) => i.message),
      [
        `${file}:4:3: ${p}: missing required key "target"`,
        `${file}:5:5: ${p}::workers: must be >= 1, got 0`,
        `${file}:6:5: ${p}::name: must not be empty`,
        `${file}:7:5: ${p}::mode: must be one of "push", "pull", got "sideways"`,
        `${file}:8:5: ${p}::level: must be one of "low", "high", got 3`,
        `${file}:9:5: ${p}::codec: must be one of "gzip", "snappy", "none", got "zstd"`,
        `${file}:10:5: ${p}::endpoint: must be host:port, got "4318"`,
        `${file}:11:5: ${p}::timeout: must be a duration such as "30s" or "1m30s", got "soon"`,
        `${file}:12:5: ${p}::max_size: must be a size such as "10MiB", got "10mb"`,
        `${file}:13:5: ${p}::ratio: must be < 1, got 1`,
        `${file}:14:5: ${p}::tags: must not be empty`,
        `${file}:15:5: ${p}::pair: must list at least 2 items`,
        `${file}:16:5: ${p}::id: must match /^[a-z]+$/, got "Abc"`,
        `${file}:17:5: ${p}::label: must be at least 3 characters`,
        `${file}:18:5: ${p}::short: must not have more than 3 characters, got "abcd"`,
        `${file}:19:5: ${p}::enabled: must be a boolean, got "yes"`,
        `${file}:20:5: ${p}::count: must be an integer, got 1.5`,
        `${file}:21:5: ${p}::port: must be a string or an integer, got true`,
        `${file}:22:5: ${p}::threshold: must be a number, got "a string far too long to be shown whole in an error mess...`,
        `${file}:25:7: ${p}::retry::backof: unknown key; allowed keys: backoff, enabled`,
        `${file}:27:7: ${p}::nested::list: must be a list, got {"a":1}`,
        `${file}:28:7: ${p}::nested::map: must be a mapping, got [1]`,
        `${file}:29:5: ${p}::unknown_thing: unknown key; allowed keys: codec, count, enabled, endpoint, id, label, level, ` +
          'max_size, mode, name, nested, pair, port, ratio, retry, short, tags, target, threshold, timeout, workers',
      ],
    );
    assert.ok(issues.every((i) => i.code === 'SKEIN_ERR_CONFIG_INVALID'));
    assert.deepEqual(
      { ...issues[6] },
      {
        code: 'SKEIN_ERR_CONFIG_INVALID',
        message: `${file}:10:5: ${p}::endpoint: must be host:port, got "4318"`,
        path: `${p}::endpoint`,
        file,
        line: 10,
        col: 5,
      },
    );
  });

  it('uses the other bound words: <=, > and an upper limit', () => {
    const S = Type.Object({ a: Type.Integer({ maximum: 64 }), b: Type.Number({ exclusiveMinimum: 0 }) });
    const { issues } = validateAgainst(S, { a: 65, b: 0 }, ['x'], undefined);
    assert.deepEqual(
      issues.map((i) => i.message),
      ['x::a: must be <= 64, got 65', 'x::b: must be > 0, got 0'],
    );
  });

  it('names each bad list item by index', () => {
    const S = Type.Object({ levels: Type.Array(Type.Union([Type.Literal('a'), Type.Literal('b')])) });
    const { raw, positions } = loadConfigText('levels:\n  - a\n  - c\n  - 7\n', 'list.yaml', { env: {} });
    const { issues } = validateAgainst(S, raw, [], positions);
    assert.deepEqual(
      issues.map((i) => i.message),
      ['list.yaml:3:5: levels::1: must be one of "a", "b", got "c"', 'list.yaml:4:5: levels::2: must be one of "a", "b", got 7'],
    );
  });

  it('reports the same problem at the same key once', () => {
    // Both halves of the intersection require `endpoint`: ajv reports it twice.
    const S = Type.Intersect([
      Type.Object({ endpoint: Type.String() }),
      Type.Object({ endpoint: Type.String(), retries: Type.Integer() }),
    ]);
    const { issues } = validateAgainst(S, { x: 1 }, ['exporters', 'otlp'], undefined);
    assert.deepEqual(
      issues.map((i) => i.message),
      ['exporters::otlp: missing required key "endpoint"', 'exporters::otlp: missing required key "retries"'],
    );
  });

  it('has no position prefix and no path prefix when there is none', () => {
    const { issues } = validateAgainst(Type.Object({ a: Type.String() }), 5, [], undefined);
    assert.deepEqual(issues.map((i) => i.message), ['must be a mapping, got 5']);
  });
});

describe('validateAgainst: defaults and the result', () => {
  const Retry = Type.Object(
    { enabled: Type.Boolean({ default: true }), backoff: Type.String({ format: 'duration', default: '5s' }) },
    { additionalProperties: false, default: {} },
  );
  const Exporter = Type.Object(
    {
      endpoint: Type.String({ format: 'host-port', default: 'localhost:4317' }),
      retry: Retry,
      queue: Type.Object({ size: Type.Integer({ default: 1000 }), dir: Type.Optional(Type.String()) }, { default: {} }),
      headers: Type.Array(Type.String(), { default: [] }),
    },
    { additionalProperties: false },
  );

  it('fills defaults, also inside nested objects that default to {}', () => {
    const { value, issues } = validateAgainst(Exporter, { retry: { backoff: '1s' } }, ['exporters', 'otlp'], undefined);
    assert.deepEqual(issues, []);
    assert.deepEqual(value, {
      endpoint: 'localhost:4317',
      retry: { enabled: true, backoff: '1s' },
      queue: { size: 1000 },
      headers: [],
    });
  });

  it('reads null or a missing value as {}: a component with no config gets all defaults', () => {
    const all = { endpoint: 'localhost:4317', retry: { enabled: true, backoff: '5s' }, queue: { size: 1000 }, headers: [] };
    assert.deepEqual(validateAgainst(Exporter, null, [], undefined).value, all);
    assert.deepEqual(validateAgainst(Exporter, undefined, [], undefined).value, all);
  });

  it('returns a deep-frozen copy and leaves the input alone', () => {
    const input = { queue: { dir: './q' }, headers: ['a'] };
    const { value } = validateAgainst(Exporter, input, [], undefined);
    assert.deepEqual(input, { queue: { dir: './q' }, headers: ['a'] });
    assert.equal(Object.isFrozen(input), false);
    assert.ok(Object.isFrozen(value));
    assert.ok(Object.isFrozen(value.retry));
    assert.ok(Object.isFrozen(value.queue));
    assert.ok(Object.isFrozen(value.headers));
    assert.throws(() => {
      (value.queue as { size: number }).size = 1;
    }, TypeError);
  });

  it('validates a frozen input, and again with the same result (compiled once per schema)', () => {
    const first = validateAgainst(Exporter, Object.freeze({ endpoint: 'x' }), ['e'], undefined);
    const second = validateAgainst(Exporter, Object.freeze({ endpoint: 'x' }), ['e'], undefined);
    assert.deepEqual(first.issues.map((i) => i.message), ['e::endpoint: must be host:port, got "x"']);
    assert.deepEqual(second.issues, first.issues);
  });
});

describe('validateAgainst: TopLevelSchema', () => {
  it('points at a wrong key under service in a realistic config', () => {
    const file = fixture('realistic.yaml');
    const { raw, positions } = loadConfig([file], { env: { FOLIO_URL: 'http://folio:9009/api/v1/push' } });
    const { issues } = validateAgainst(TopLevelSchema, raw, [], positions);
    assert.deepEqual(
      issues.map((i) => i.message),
      [`${file}:19:3: service::pipeline: unknown key; allowed keys: extensions, pipelines, shutdown_timeout, telemetry`],
    );
  });

  it('fills the service defaults of a correct config', () => {
    const { raw, positions } = loadConfigText(
      'receivers: {otlp: }\nexporters: {debug: }\nservice:\n  pipelines:\n    metrics: {receivers: [otlp], exporters: [debug]}\n',
      'ok.yaml',
      { env: {} },
    );
    const { value, issues } = validateAgainst(TopLevelSchema, raw, [], positions);
    assert.deepEqual(issues, []);
    assert.deepEqual(value.service, {
      extensions: [],
      pipelines: { metrics: { receivers: ['otlp'], processors: [], exporters: ['debug'] } },
      telemetry: { metrics: { address: '127.0.0.1:8888', level: 'normal' }, logs: { level: 'info', format: 'auto' } },
      shutdown_timeout: '30s',
    });
    assert.deepEqual(value.receivers, { otlp: null });
  });
});
