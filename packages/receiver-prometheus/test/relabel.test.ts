import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, expand, hashmod, relabel, type RelabelRule } from '../src/index.ts';
import { ruleProblems } from '../src/relabel.ts';

/** Relabels `labels` with `rules`; undefined when dropped. */
function run(labels: Record<string, string>, ...rules: RelabelRule[]): Record<string, string> | undefined {
  const set = new Map(Object.entries(labels));
  return relabel(set, rules.map(compileRule)) ? Object.fromEntries([...set].sort()) : undefined;
}

test('replace: joins source labels with the separator, anchors the regex, expands $1 and ${name}', () => {
  assert.deepEqual(run({ a: 'foo', b: 'bar' }, { source_labels: ['a', 'b'], regex: 'f(.*);(?P<second>.*)', target_label: 'c', replacement: '${1}-$second' }), {
    a: 'foo',
    b: 'bar',
    c: 'oo-bar',
  });
  // Defaults: regex (.*), replacement $1, separator ;
  assert.deepEqual(run({ a: 'x', b: 'y' }, { source_labels: ['a', 'b'], target_label: 'c' }), { a: 'x', b: 'y', c: 'x;y' });
  // The regex must match all of the value: `o` alone does not match `foo`.
  assert.deepEqual(run({ a: 'foo' }, { source_labels: ['a'], regex: 'o', target_label: 'b', replacement: 'z' }), { a: 'foo' });
  // An empty result deletes the target label.
  assert.deepEqual(run({ a: 'foo', b: 'old' }, { source_labels: ['c'], regex: '', target_label: 'b', replacement: '' }), { a: 'foo' });
  // A templated target label; an invalid one leaves the set alone (Prometheus's test cases).
  assert.deepEqual(run({ a: 'foo', f: 'baz' }, { source_labels: ['a'], regex: '(f).*', target_label: '$1', replacement: '$2' }), { a: 'foo' });
  assert.deepEqual(run({ a: 'some-name-value' }, { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}' }), {
    a: 'some-name-value',
    name: 'value',
  });
  assert.deepEqual(run({ a: 'some-1name-value' }, { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}' }), { a: 'some-1name-value' });
  // Leading flags apply inside the anchors.
  assert.deepEqual(run({ a: 'FOO' }, { source_labels: ['a'], regex: '(?i)foo', target_label: 'b', replacement: 'yes' }), { a: 'FOO', b: 'yes' });
});

test('keep and drop', () => {
  const keep: RelabelRule = { source_labels: ['__name__'], regex: 'node_cpu.*|up', action: 'keep' };
  assert.deepEqual(run({ __name__: 'node_cpu_seconds_total' }, keep), { __name__: 'node_cpu_seconds_total' });
  assert.equal(run({ __name__: 'node_memory_MemFree_bytes' }, keep), undefined);
  const drop: RelabelRule = { source_labels: ['mode', 'cpu'], regex: 'idle;0', action: 'drop' };
  assert.equal(run({ mode: 'idle', cpu: '0' }, drop), undefined);
  assert.deepEqual(run({ mode: 'idle', cpu: '1' }, drop), { mode: 'idle', cpu: '1' });
  // A missing label is the empty string.
  assert.equal(run({}, { source_labels: ['x'], regex: '', action: 'drop' }), undefined);
});

test('keepequal and dropequal compare the source value with the target label', () => {
  const rule = (action: 'keepequal' | 'dropequal'): RelabelRule => ({ source_labels: ['__tmp_port'], target_label: '__port1', action });
  assert.deepEqual(run({ __tmp_port: '1234', __port1: '1234' }, rule('keepequal')), { __tmp_port: '1234', __port1: '1234' });
  assert.equal(run({ __tmp_port: '1234', __port1: '5678' }, rule('keepequal')), undefined);
  assert.equal(run({ __tmp_port: '1234', __port1: '1234' }, rule('dropequal')), undefined);
  assert.deepEqual(run({ __tmp_port: '1234', __port1: '5678' }, rule('dropequal')), { __tmp_port: '1234', __port1: '5678' });
});

test('hashmod: MD5, last 8 bytes, modulo, as Prometheus computes it', () => {
  // Values from Prometheus's own relabel tests.
  assert.equal(hashmod('baz', 1000), '976');
  assert.equal(hashmod('foo\nbar', 1000), '734');
  assert.deepEqual(run({ a: 'foo', b: 'bar', c: 'baz' }, { source_labels: ['c'], target_label: 'd', modulus: 1000, action: 'hashmod' }), {
    a: 'foo',
    b: 'bar',
    c: 'baz',
    d: '976',
  });
});

test('labelmap copies matching label names through the replacement, over a snapshot', () => {
  assert.deepEqual(run({ a: 'foo', b1: 'bar', b2: 'baz' }, { regex: '(b.*)', replacement: 'bar_${1}', action: 'labelmap' }), {
    a: 'foo',
    b1: 'bar',
    b2: 'baz',
    bar_b1: 'bar',
    bar_b2: 'baz',
  });
  assert.deepEqual(run({ __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', a: 'x' }, { regex: '__meta_(my.*)', replacement: '${1}', action: 'labelmap' }), {
    __meta_my_bar: 'aaa',
    __meta_my_baz: 'bbb',
    a: 'x',
    my_bar: 'aaa',
    my_baz: 'bbb',
  });
});

test('labeldrop and labelkeep match label names', () => {
  assert.deepEqual(run({ a: '1', b: '2', c: '3' }, { regex: '[ab]', action: 'labeldrop' }), { c: '3' });
  assert.deepEqual(run({ a: '1', b: '2', c: '3' }, { regex: '[ab]', action: 'labelkeep' }), { a: '1', b: '2' });
});

test('lowercase and uppercase', () => {
  assert.deepEqual(run({ a: 'AbC' }, { source_labels: ['a'], target_label: 'l', action: 'lowercase' }), { a: 'AbC', l: 'abc' });
  assert.deepEqual(run({ a: 'AbC' }, { source_labels: ['a'], target_label: 'u', action: 'uppercase' }), { a: 'AbC', u: 'ABC' });
});

test('rules run in order, each on what the previous left', () => {
  assert.deepEqual(
    run(
      { __address__: 'host:9100' },
      { source_labels: ['__address__'], regex: '([^:]+):\\d+', target_label: 'host' },
      { source_labels: ['host'], regex: 'host', action: 'keep' },
      { regex: '__address__', action: 'labeldrop' },
    ),
    { host: 'host' },
  );
});

test('expand follows Go: $1x is the group named 1x, $$ is $, a bare $ stays', () => {
  const m = /^(?:(a)(?<name>b))$/.exec('ab')!;
  assert.equal(expand('$1x', m), '');
  assert.equal(expand('${1}x', m), 'ax');
  assert.equal(expand('$name-$2', m), 'b-b');
  assert.equal(expand('$$1 costs $', m), '$1 costs $');
  assert.equal(expand('${unclosed', m), '${unclosed');
  assert.equal(expand('$9', m), '');
});

test('rule problems say what is wrong, as Prometheus checks a relabel config', () => {
  assert.deepEqual(ruleProblems({ action: 'hashmod', target_label: 'x' }), [{ path: ['modulus'], message: 'must be set and more than 0 for action hashmod' }]);
  assert.deepEqual(ruleProblems({ action: 'replace' }), [{ path: ['target_label'], message: 'is required by action replace' }]);
  assert.deepEqual(ruleProblems({ action: 'labeldrop', regex: 'a', source_labels: ['b'] }), [
    { path: ['source_labels'], message: 'must not be set for action labeldrop, which takes only regex' },
  ]);
  assert.deepEqual(ruleProblems({ regex: '(', target_label: 'a' }).map((p) => p.path), [['regex']]);
  assert.deepEqual(ruleProblems({ target_label: '1bad' }), [
    { path: ['target_label'], message: 'must be a label name (letters, digits and _, not starting with a digit), got "1bad"' },
  ]);
  assert.deepEqual(ruleProblems({ target_label: '${1}', regex: '(.*)' }), []);
  assert.deepEqual(ruleProblems({ action: 'keepequal', target_label: 'a' }), [{ path: ['source_labels'], message: 'is required by action keepequal' }]);
});
