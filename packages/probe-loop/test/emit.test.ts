import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataPointFlags } from '@skein/core';
import { ProbeMetrics, type SeriesSpec } from '../src/emit.ts';
import type { CycleResult } from '../src/loop.ts';
import type { ProbeOutcome } from '../src/result.ts';
import { pointsOf } from '../src/testing.ts';

interface T {
  key: string;
}

const specs: SeriesSpec<T>[] = [
  { name: 'x.reachable', unit: '', description: '', value: (r) => (r.outcome.reachable ? 1 : 0) },
  {
    name: 'x.error',
    unit: '',
    description: '',
    value: (r) => (r.outcome.reachable ? undefined : 1),
    attributes: (r) => ({ 'error.class': r.outcome.error_class ?? 'other' }),
  },
];

const a: T = { key: 'a' };
const b: T = { key: 'b' };
const at = (target: T, outcome: ProbeOutcome): CycleResult<T> => ({ target, outcome, timeUnixNano: 1n });
const series = (batch: ReturnType<ProbeMetrics<T>['batch']>, name: string) =>
  pointsOf(batch!, name).map((p) => `${p.attributes.target}${p.attributes['error.class'] ? '/' + p.attributes['error.class'] : ''}=${p.flags === DataPointFlags.NoRecordedValue ? 'stale' : p.value}`);

test('series that end get one stale marker: a changed error class, a recovery, a removed target', () => {
  const m = new ProbeMetrics<T>({ name: 'scope' }, specs, (t) => ({ target: t.key }));
  const first = m.batch([at(a, { reachable: false, error_class: 'refused' }), at(b, { reachable: false, error_class: 'dns' })], 2n);
  assert.deepEqual(series(first, 'x.reachable'), ['a=0', 'b=0']);
  assert.deepEqual(series(first, 'x.error'), ['a/refused=1', 'b/dns=1']);

  const second = m.batch([at(a, { reachable: false, error_class: 'timeout' }), at(b, { reachable: true })], 3n);
  assert.deepEqual(series(second, 'x.reachable'), ['a=0', 'b=1']);
  assert.deepEqual(series(second, 'x.error'), ['a/timeout=1', 'a/refused=stale', 'b/dns=stale']);

  const third = m.batch([at(a, { reachable: false, error_class: 'timeout' })], 4n);
  assert.deepEqual(series(third, 'x.reachable'), ['a=0', 'b=stale']);
  assert.deepEqual(series(third, 'x.error'), ['a/timeout=1']);
  const stale = pointsOf(third!, 'x.reachable')[1]!;
  assert.deepEqual(stale.attributes, { target: 'b' });

  assert.equal(m.batch([], 5n) !== undefined, true, 'the last series of a still end');
  assert.equal(m.batch([], 6n), undefined, 'nothing left to say');
});
