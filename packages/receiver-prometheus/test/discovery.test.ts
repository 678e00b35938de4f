import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPattern, globRegex, parseTargetFile } from '../src/discovery.ts';
import { compileRule } from '../src/relabel.ts';
import { buildTargets, type TargetSettings } from '../src/targets.ts';

test('file SD files: JSON and YAML lists of groups, with __meta_filepath; errors say what is wrong', () => {
  assert.deepEqual(parseTargetFile('/t/a.json', '[{"targets": ["h:1", "h:2"], "labels": {"env": "prod"}}]'), [
    { targets: ['h:1', 'h:2'], labels: { env: 'prod', __meta_filepath: '/t/a.json' }, source: '/t/a.json:0' },
  ]);
  assert.deepEqual(parseTargetFile('/t/b.yml', '- targets: [h:3]\n'), [{ targets: ['h:3'], labels: { __meta_filepath: '/t/b.yml' }, source: '/t/b.yml:0' }]);
  assert.deepEqual(parseTargetFile('/t/empty.yaml', ''), []);
  assert.throws(() => parseTargetFile('/t/a.txt', '[]'), { message: 'unknown file extension ".txt"; use .json, .yml or .yaml' });
  assert.throws(() => parseTargetFile('/t/a.json', '{"targets": []}'), { message: 'must be a list of target groups ({targets: [...], labels: {...}})' });
  assert.throws(() => parseTargetFile('/t/a.json', '[{"targets": [1]}]'), { message: 'group 0: targets must be a list of addresses' });
  assert.throws(() => parseTargetFile('/t/a.json', '[{"targets": [], "labls": {}}]'), { message: 'group 0: unknown key "labls" (allowed: targets, labels)' });
  assert.throws(() => parseTargetFile('/t/a.json', '[{"targets": [], "labels": {"a": 1}}]'), { message: 'group 0: label a must be a string' });
});

test('a glob in the last path element, as Go\'s filepath.Match reads it', async () => {
  assert.ok(globRegex('*.json').test('a.json'));
  assert.ok(!globRegex('*.json').test('a.json.bak'));
  assert.ok(globRegex('node-?.y[am]l').test('node-1.yml'));
  assert.ok(globRegex('node-[^x]*').test('node-y1'));
  assert.ok(!globRegex('node-[^x]*').test('node-x1'));
  const dir = mkdtempSync(join(tmpdir(), 'skein-glob-'));
  try {
    for (const f of ['b.json', 'a.json', 'c.yml']) writeFileSync(join(dir, f), '[]');
    assert.deepEqual(await expandPattern(join(dir, '*.json')), [join(dir, 'a.json'), join(dir, 'b.json')]);
    assert.deepEqual(await expandPattern(join(dir, 'c.yml')), [join(dir, 'c.yml')]);
    assert.deepEqual(await expandPattern(join(dir, 'missing', '*.json')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const SETTINGS: TargetSettings = {
  jobName: 'node',
  scheme: 'http',
  metricsPath: '/metrics',
  intervalMs: 15_000,
  timeoutMs: 10_000,
  intervalText: '15s',
  timeoutText: '10s',
  params: {},
  relabel: [],
};

test('targets: default port, instance, labels without __, one target per label set, per-target interval and timeout', () => {
  const { targets, dropped, errors } = buildTargets(
    [
      { targets: ['h1', 'h1:80', '[::1]:9100', 'h2:9100'], labels: { dc: 'x' }, source: 's' },
      { targets: ['h3:9100'], labels: { __scrape_interval__: '1m', __scrape_timeout__: '2m' }, source: 's2' },
    ],
    { ...SETTINGS, relabel: [compileRule({ source_labels: ['__address__'], regex: 'h2:.*', action: 'drop' })] },
  );
  assert.equal(dropped, 1);
  assert.deepEqual(errors, []);
  assert.deepEqual(
    targets.map((t) => [t.url, Object.fromEntries(t.labels), t.intervalMs, t.timeoutMs]),
    [
      // `h1` and `h1:80` are one target: the default port makes their labels equal.
      ['http://h1/metrics', { dc: 'x', instance: 'h1:80', job: 'node' }, 15_000, 10_000],
      ['http://[::1]:9100/metrics', { dc: 'x', instance: '[::1]:9100', job: 'node' }, 15_000, 10_000],
      // A timeout longer than the interval is cut to it.
      ['http://h3:9100/metrics', { instance: 'h3:9100', job: 'node' }, 60_000, 60_000],
    ],
  );
  const bad = buildTargets([{ targets: ['h:1'], labels: { __scheme__: 'ftp' }, source: 's' }], SETTINGS);
  assert.deepEqual(bad.errors, [{ address: 'h:1', reason: '__scheme__ must be http or https, got "ftp"' }]);
  const noAddress = buildTargets([{ targets: ['h:1'], labels: {}, source: 's' }], { ...SETTINGS, relabel: [compileRule({ regex: '__address__', action: 'labeldrop' })] });
  assert.deepEqual(noAddress.errors, [{ address: 'h:1', reason: 'no __address__ label after relabeling' }]);
});
