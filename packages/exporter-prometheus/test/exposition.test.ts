import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openMetricsExposition, textExposition } from '../src/exposition.ts';
import type { FamilyMeta, HeldSeries } from '../src/store.ts';

const family: FamilyMeta = { name: 'rpc_seconds', type: 'histogram', help: 'RPC time.\nWith "quotes" and \\.', unit: 'seconds' };

function held(name: string, labels: Record<string, string>, value: number): HeldSeries {
  return {
    name,
    labels: Object.entries(labels).map(([n, v]) => ({ name: n, value: v })),
    family,
    value,
    timestampMs: 0,
    createdMs: undefined,
    updatedAt: 0,
  };
}

// In the order a store may hold them after series came and went: scrambled.
const series = [
  held('rpc_seconds_count', { svc: 'b' }, 2),
  held('rpc_seconds_bucket', { le: '+Inf', svc: 'a' }, 4),
  held('rpc_seconds_sum', { svc: 'a' }, 1.5),
  held('rpc_seconds_bucket', { le: '10', svc: 'a' }, 3),
  held('rpc_seconds_count', { svc: 'a' }, 4),
  held('rpc_seconds_bucket', { le: '2', svc: 'a' }, 1),
  held('rpc_seconds_bucket', { le: '+Inf', svc: 'b' }, 2),
];

test('text: a histogram is written per label set, buckets in numeric le order, then sum and count; HELP escaped', () => {
  assert.equal(
    textExposition([{ meta: family, series }]),
    [
      '# HELP rpc_seconds RPC time.\\nWith "quotes" and \\\\.',
      '# TYPE rpc_seconds histogram',
      'rpc_seconds_bucket{le="2",svc="a"} 1',
      'rpc_seconds_bucket{le="10",svc="a"} 3',
      'rpc_seconds_bucket{le="+Inf",svc="a"} 4',
      'rpc_seconds_sum{svc="a"} 1.5',
      'rpc_seconds_count{svc="a"} 4',
      'rpc_seconds_bucket{le="+Inf",svc="b"} 2',
      'rpc_seconds_count{svc="b"} 2',
      '',
    ].join('\n'),
  );
});

test('OpenMetrics: count before sum, quotes escaped in HELP, label values escaped, # EOF last', () => {
  const odd = held('rpc_seconds_count', { svc: 'line\nbreak "q" \\' }, 1);
  assert.equal(
    openMetricsExposition([{ meta: family, series: [odd] }]),
    [
      '# TYPE rpc_seconds histogram',
      '# UNIT rpc_seconds seconds',
      '# HELP rpc_seconds RPC time.\\nWith \\"quotes\\" and \\\\.',
      'rpc_seconds_count{svc="line\\nbreak \\"q\\" \\\\"} 1',
      '# EOF',
      '',
    ].join('\n'),
  );
  assert.equal(openMetricsExposition([]), '# EOF\n');
  assert.equal(textExposition([]), '');
});
