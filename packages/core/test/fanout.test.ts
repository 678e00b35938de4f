import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fanout,
  gauge,
  metricsBatch,
  numberPoint,
  permanentError,
  retryableError,
  type Consumer,
  type MetricsBatch,
} from '../src/index.ts';

function consumer(mutatesData: boolean, seen: MetricsBatch[], fail?: Error): Consumer {
  return {
    mutatesData,
    async consume(batch) {
      if (fail) throw fail;
      if (mutatesData) batch.resourceMetrics[0]!.resource.attributes.touched = true;
      seen.push(batch);
    },
  };
}

const batch = () => metricsBatch([{ resource: { a: 'b' }, metrics: [gauge('g', [numberPoint(1)])] }]);

test('read-only consumers share the batch; a mutating one gets its own copy', async () => {
  const r1: MetricsBatch[] = [];
  const r2: MetricsBatch[] = [];
  const m: MetricsBatch[] = [];
  const b = batch();
  const f = fanout([consumer(false, r1), consumer(true, m), consumer(false, r2)]);
  assert.equal(f.mutatesData, true);
  await f.consume(b, { transport: 'test' });
  assert.equal(r1[0], b);
  assert.equal(r2[0], b);
  assert.notEqual(m[0], b);
  assert.equal(b.resourceMetrics[0]!.resource.attributes.touched, undefined, 'the shared batch was not mutated');
  assert.equal(m[0]!.resourceMetrics[0]!.resource.attributes.touched, true);
});

test('when every consumer mutates, all but the last get copies', async () => {
  const seen: MetricsBatch[][] = [[], [], []];
  const b = batch();
  await fanout(seen.map((s) => consumer(true, s))).consume(b, { transport: 'test' });
  assert.notEqual(seen[0]![0], b);
  assert.notEqual(seen[1]![0], b);
  assert.equal(seen[2]![0], b);
  assert.notEqual(seen[0]![0], seen[1]![0]);
});

test('one consumer is returned as is, with no wrapper', () => {
  const c = consumer(true, []);
  assert.equal(fanout([c]), c);
});

test('refusals combine: retryable only if all were, with the longest retry-after', async () => {
  const ok: MetricsBatch[] = [];
  const both = fanout([
    consumer(false, ok),
    consumer(false, [], retryableError('a is full', { retryAfterMs: 100, reason: 'queue_full' })),
    consumer(false, [], retryableError('b is down', { retryAfterMs: 500 })),
  ]);
  await assert.rejects(both.consume(batch(), { transport: 'test' }), {
    name: 'RetryableError',
    message: 'a is full; b is down',
    retryAfterMs: 500,
    reason: 'queue_full',
  });
  assert.equal(ok.length, 1, 'the healthy consumer still got the data');

  const mixed = fanout([
    consumer(false, [], retryableError('a is full')),
    consumer(false, [], permanentError('bad data', { reason: 'invalid' })),
  ]);
  await assert.rejects(mixed.consume(batch(), { transport: 'test' }), { name: 'PermanentError', reason: 'invalid' });
});
