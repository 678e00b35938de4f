import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  cloneBatch,
  ConfigError,
  ConsumerError,
  countDataPoints,
  createLogger,
  forEachDataPoint,
  gauge,
  MetricsRegistry,
  numberPoint,
  permanentError,
  silentLogger,
  sum,
  validateAgainst,
  type Consumer,
  type Logger,
  type MetricsBatch,
  type RequestContext,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import batchProcessor, { BatchConfigSchema, createBatchProcessor } from '../src/index.ts';

const HOUR = '1h';

function settings(raw: Record<string, unknown>, opts: { logger?: Logger; registry?: MetricsRegistry } = {}) {
  const { value, issues } = validateAgainst(BatchConfigSchema, raw, ['processors', 'batch'], undefined);
  assert.deepEqual(issues, []);
  const registry = opts.registry ?? new MetricsRegistry();
  return {
    id: 'batch',
    config: value,
    logger: opts.logger ?? silentLogger,
    telemetry: registry.scoped({ processor: 'batch', pipeline: 'metrics' }),
    pipelines: ['metrics'],
  };
}

let nextValue = 0;
/** A batch with `n` gauge points on one resource, valued with a running counter so order can be checked. */
function batchOf(n: number, resource = 'r'): MetricsBatch {
  const pts = Array.from({ length: n }, () => numberPoint(nextValue++));
  return { resourceMetrics: [{ resource: { attributes: { r: resource } }, scopeMetrics: [{ scope: { name: 's' }, metrics: [gauge('g', pts)] }] }] };
}

function values(batch: MetricsBatch): number[] {
  const out: number[] = [];
  forEachDataPoint(batch, (p) => out.push(Number((p as { value: number }).value)));
  return out;
}

/** A downstream consumer that records calls; a test can hold its answers or make it refuse. */
function downstream() {
  const calls: { batch: MetricsBatch; ctx: RequestContext }[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const control: { hold?: Promise<void>; fail?: () => Error | undefined } = {};
  let answered = 0;
  const next: Consumer = {
    async consume(batch, ctx) {
      calls.push({ batch, ctx });
      for (const w of waiters.splice(0)) {
        if (calls.length >= w.count) w.resolve();
        else waiters.push(w);
      }
      try {
        if (control.hold) await control.hold;
        const err = control.fail?.();
        if (err) throw err;
      } finally {
        answered++;
      }
    },
  };
  const called = (count: number) =>
    calls.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }));
  return { next, calls, control, called, answered: () => answered };
}

/** Lets queued sends run (they go one after another on promise callbacks). */
const settle = () => new Promise<void>((r) => setImmediate(r));

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const ctx: RequestContext = { transport: 'http' };

test('sends once send_batch_size points are waiting, merging batches in order', async () => {
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 10, timeout: HOUR }), d.next);
  const first = batchOf(6, 'a');
  const second = batchOf(6, 'b');
  const expected = [...values(first), ...values(second)];
  await p.consume(first, ctx);
  await settle();
  assert.equal(d.calls.length, 0);
  await p.consume(second, ctx);
  await settle();
  assert.equal(d.calls.length, 1);
  const sent = d.calls[0]!.batch;
  assert.equal(countDataPoints(sent), 12);
  assert.deepEqual(values(sent), expected);
  assert.deepEqual(
    sent.resourceMetrics.map((rm) => rm.resource.attributes.r),
    ['a', 'b'],
  );
  await p.shutdown!();
  assert.equal(d.calls.length, 1, 'nothing was left to drain');
});

test('sends what is waiting when the timeout passes', { timeout: 10_000 }, async () => {
  const registry = new MetricsRegistry();
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 1000, timeout: '20ms' }, { registry }), d.next);
  const batch = batchOf(5);
  const expected = values(batch);
  await p.consume(batch, ctx);
  await settle();
  assert.equal(d.calls.length, 0);
  await d.called(1);
  assert.deepEqual(values(d.calls[0]!.batch), expected);
  assert.equal(registry.value('skein_processor_batch_batches_total', { trigger: 'timeout' }), 1);
  await p.shutdown!();
  assert.equal(d.calls.length, 1);
});

test('splits at send_batch_max_size with exact counts, keeping structure and order', async () => {
  const registry = new MetricsRegistry();
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 5, send_batch_max_size: 7, timeout: HOUR }, { registry }), d.next);
  // 23 points over two resources, the first with two scopes and a sum and a gauge.
  const batch: MetricsBatch = {
    resourceMetrics: [
      {
        resource: { attributes: { r: 'one' } },
        schemaUrl: 'https://example.com/schema',
        scopeMetrics: [
          {
            scope: { name: 's1' },
            metrics: [
              gauge('g1', Array.from({ length: 4 }, (_, i) => numberPoint(i))),
              sum('c1', Array.from({ length: 6 }, (_, i) => numberPoint(4 + i))),
            ],
          },
          { scope: { name: 's2' }, metrics: [gauge('g2', Array.from({ length: 5 }, (_, i) => numberPoint(10 + i)))] },
        ],
      },
      {
        resource: { attributes: { r: 'two' } },
        scopeMetrics: [{ scope: { name: 's3' }, metrics: [gauge('g3', Array.from({ length: 8 }, (_, i) => numberPoint(15 + i)))] }],
      },
    ],
  };
  const before = cloneBatch(batch);
  await p.consume(batch, ctx);
  await settle();
  assert.deepEqual(
    d.calls.map((c) => countDataPoints(c.batch)),
    [7, 7, 7],
  );
  await p.shutdown!();
  assert.deepEqual(
    d.calls.map((c) => countDataPoints(c.batch)),
    [7, 7, 7, 2],
  );
  assert.deepEqual(
    d.calls.flatMap((c) => values(c.batch)),
    Array.from({ length: 23 }, (_, i) => i),
  );
  // Each part keeps resource → scope → metric, with the metric's own fields.
  const shape = (b: MetricsBatch) =>
    b.resourceMetrics.map((rm) => ({
      r: rm.resource.attributes.r,
      schemaUrl: rm.schemaUrl,
      scopes: rm.scopeMetrics.map((sm) => ({ scope: sm.scope.name, metrics: sm.metrics.map((m) => `${m.type}:${m.name}:${m.points.length}`) })),
    }));
  assert.deepEqual(shape(d.calls[0]!.batch), [
    { r: 'one', schemaUrl: 'https://example.com/schema', scopes: [{ scope: 's1', metrics: ['gauge:g1:4', 'sum:c1:3'] }] },
  ]);
  assert.deepEqual(shape(d.calls[1]!.batch), [
    {
      r: 'one',
      schemaUrl: 'https://example.com/schema',
      scopes: [
        { scope: 's1', metrics: ['sum:c1:3'] },
        { scope: 's2', metrics: ['gauge:g2:4'] },
      ],
    },
  ]);
  assert.deepEqual(shape(d.calls[2]!.batch), [
    { r: 'one', schemaUrl: 'https://example.com/schema', scopes: [{ scope: 's2', metrics: ['gauge:g2:1'] }] },
    { r: 'two', schemaUrl: undefined, scopes: [{ scope: 's3', metrics: ['gauge:g3:6'] }] },
  ]);
  assert.deepEqual(shape(d.calls[3]!.batch), [{ r: 'two', schemaUrl: undefined, scopes: [{ scope: 's3', metrics: ['gauge:g3:2'] }] }]);
  assert.equal(p.mutatesData, false);
  assert.deepEqual(batch, before, 'the batch given in is not changed');
  assert.equal(registry.value('skein_processor_batch_batches_total', { trigger: 'size' }), 3);
  assert.equal(registry.value('skein_processor_batch_batches_total', { trigger: 'shutdown' }), 1);
  assert.equal(registry.value('skein_processor_batch_send_size_points'), 4, 'the histogram counted 4 batches');
});

test('without send_batch_max_size a size-triggered batch is sent whole', async () => {
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 5, timeout: HOUR }), d.next);
  await p.consume(batchOf(23), ctx);
  await settle();
  assert.deepEqual(
    d.calls.map((c) => countDataPoints(c.batch)),
    [23],
  );
  await p.shutdown!();
});

test('a zero timeout sends at once, split at send_batch_max_size', async () => {
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 5, send_batch_max_size: 5, timeout: '0s' }), d.next);
  await p.consume(batchOf(12), ctx);
  await settle();
  assert.deepEqual(
    d.calls.map((c) => countDataPoints(c.batch)),
    [5, 5, 2],
  );
  await p.shutdown!();
});

test('shutdown sends what is pending and waits for downstream to answer', async () => {
  const d = downstream();
  const release = gate();
  d.control.hold = release.opened;
  const p = createBatchProcessor(settings({ send_batch_size: 100, timeout: HOUR }), d.next);
  const batch = batchOf(3);
  const expected = values(batch);
  await p.consume(batch, ctx);
  await settle();
  assert.equal(d.calls.length, 0);
  let drained = false;
  const stopping = Promise.resolve(p.shutdown!()).then(() => (drained = true));
  await d.called(1);
  assert.deepEqual(values(d.calls[0]!.batch), expected);
  await settle();
  assert.equal(drained, false, 'shutdown waits while downstream holds the batch');
  release.open();
  await stopping;
  assert.equal(d.answered(), 1);
});

test('past max_pending_points consume refuses with a retryable error until downstream catches up', async () => {
  const registry = new MetricsRegistry();
  const d = downstream();
  const release = gate();
  d.control.hold = release.opened;
  const p = createBatchProcessor(settings({ send_batch_size: 5, max_pending_points: 10, timeout: HOUR }, { registry }), d.next);
  await p.consume(batchOf(5), ctx); // sent, unanswered
  await p.consume(batchOf(5), ctx); // sent, unanswered
  assert.equal(registry.value('skein_processor_batch_pending_points'), 10);
  await assert.rejects(p.consume(batchOf(1), ctx), (err: unknown) => {
    assert.ok(err instanceof ConsumerError);
    assert.equal(err.retryable, true);
    assert.equal(err.code, 'SKEIN_ERR_RETRYABLE');
    assert.equal(err.reason, 'queue_full');
    assert.equal(err.message, 'the batch processor holds 10 data points; 1 more would pass max_pending_points (10); retry later');
    return true;
  });
  release.open();
  await d.called(2);
  // Let both answers settle.
  while (registry.value('skein_processor_batch_pending_points') !== 0) await settle();
  await p.consume(batchOf(1), ctx);
  assert.equal(registry.value('skein_processor_batch_pending_points'), 1);
  await p.shutdown!();
  assert.equal(registry.value('skein_processor_batch_pending_points'), 0);
});

test('max_pending_points defaults to 10 × send_batch_size, and one batch bigger than it is taken when nothing is held', async () => {
  const d = downstream();
  const release = gate();
  d.control.hold = release.opened;
  const p = createBatchProcessor(settings({ send_batch_size: 2, timeout: HOUR }), d.next);
  await p.consume(batchOf(25), ctx);
  await d.called(1);
  await assert.rejects(p.consume(batchOf(1), ctx), { reason: 'queue_full', retryable: true });
  release.open();
  await p.shutdown!();
});

test('keeps clusters apart: each batch holds one cluster_id and is cut on its own size', async () => {
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 6, timeout: HOUR }), d.next);
  const a1 = batchOf(3, 'a');
  const b1 = batchOf(3, 'b');
  const n1 = batchOf(3, 'none');
  const a2 = batchOf(3, 'a');
  await p.consume(a1, { transport: 'http', clusterId: 'a' });
  await p.consume(b1, { transport: 'http', clusterId: 'b' });
  await p.consume(n1, { transport: 'http' });
  await settle();
  assert.equal(d.calls.length, 0, 'three clusters of 3 points each: none reached 6');
  await p.consume(a2, { transport: 'http', clusterId: 'a' });
  await settle();
  assert.equal(d.calls.length, 1);
  assert.equal(d.calls[0]!.ctx.clusterId, 'a');
  assert.deepEqual(values(d.calls[0]!.batch), [...values(a1), ...values(a2)]);
  await p.shutdown!();
  const rest = d.calls.slice(1).map((c) => ({ cluster: c.ctx.clusterId, resources: c.batch.resourceMetrics.map((rm) => rm.resource.attributes.r) }));
  assert.deepEqual(
    rest.sort((x, y) => String(x.cluster).localeCompare(String(y.cluster))),
    [
      { cluster: 'b', resources: ['b'] },
      { cluster: undefined, resources: ['none'] },
    ],
  );
});

test('a merged batch carries the first request context, without its abort signal', async () => {
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 4, timeout: HOUR }), d.next);
  const aborter = new AbortController();
  await p.consume(batchOf(2), { transport: 'http', peer: '10.0.0.1:5000', clusterId: 'c', principal: 'agent-1', signal: aborter.signal });
  aborter.abort();
  await p.consume(batchOf(2), { transport: 'grpc', peer: '10.0.0.2:5000', clusterId: 'c', principal: 'agent-2' });
  await d.called(1);
  assert.deepEqual(d.calls[0]!.ctx, { transport: 'http', peer: '10.0.0.1:5000', clusterId: 'c', principal: 'agent-1' });
  // The next batch starts a new one, with its own first context.
  await p.consume(batchOf(4), { transport: 'grpc', peer: '10.0.0.3:5000', clusterId: 'c' });
  await d.called(2);
  assert.equal(d.calls[1]!.ctx.peer, '10.0.0.3:5000');
  await p.shutdown!();
});

test('a refusal after buffering is logged and counted as dropped, by reason', async () => {
  const registry = new MetricsRegistry();
  const lines: string[] = [];
  const logger = createLogger({ format: 'json', write: (l) => lines.push(l) });
  const d = downstream();
  d.control.fail = () => permanentError('bad data', { reason: 'invalid' });
  const p = createBatchProcessor(settings({ send_batch_size: 3, timeout: HOUR }, { registry, logger }), d.next);
  await p.consume(batchOf(3), { transport: 'http', clusterId: 'eu' });
  await p.shutdown!();
  assert.equal(registry.value('skein_processor_batch_dropped_points_total', { reason: 'invalid' }), 3);
  const warn = lines.map((l) => JSON.parse(l)).find((r) => r.level === 'warn');
  assert.ok(warn, 'a warning was logged');
  assert.equal(warn.msg, 'downstream refused a batch that was already accepted; its data points are dropped');
  assert.equal(warn.points, 3);
  assert.equal(warn.reason, 'invalid');
  assert.equal(warn.clusterId, 'eu');
  assert.equal(registry.value('skein_processor_batch_pending_points'), 0);
});

test('shutdown is safe without start and twice; consume after it refuses as retryable', async () => {
  const d = downstream();
  const idle = createBatchProcessor(settings({}), d.next);
  await idle.shutdown!();
  await idle.shutdown!();

  const p = createBatchProcessor(settings({ send_batch_size: 100, timeout: HOUR }), d.next);
  await p.consume(batchOf(1), ctx);
  await Promise.all([p.shutdown!(), p.shutdown!()]);
  await p.shutdown!();
  assert.equal(d.calls.length, 1, 'pending data is sent once');
  await assert.rejects(p.consume(batchOf(1), ctx), (err: unknown) => {
    assert.ok(err instanceof ConsumerError);
    assert.equal(err.retryable, true);
    assert.equal(err.reason, 'shutdown');
    return true;
  });
});

test('an empty batch is accepted and nothing is sent for it', async () => {
  const d = downstream();
  const p = createBatchProcessor(settings({ send_batch_size: 1, timeout: HOUR }), d.next);
  await p.consume({ resourceMetrics: [] }, ctx);
  await p.shutdown!();
  assert.equal(d.calls.length, 0);
});

test('the pending timer does not keep the process alive', { timeout: 30_000 }, () => {
  const src = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const script = `
    import { createBatchProcessor } from ${JSON.stringify(src)};
    import { MetricsRegistry, silentLogger, gauge, numberPoint, metricsBatch } from '@skein/core';
    const p = createBatchProcessor(
      { id: 'batch', config: { send_batch_size: 100, send_batch_max_size: 0, timeout: '1h' }, logger: silentLogger,
        telemetry: new MetricsRegistry().scoped({}), pipelines: [] },
      { async consume() { console.log('sent'); } },
    );
    await p.consume(metricsBatch([{ metrics: [gauge('g', [numberPoint(1)])] }]), { transport: 'internal' });
    console.log('buffered');
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(res.error, undefined, `the process did not exit by itself: ${res.error?.message}`);
  assert.equal(res.stderr, '');
  assert.equal(res.stdout, 'buffered\n');
  assert.equal(res.status, 0);
});

test('limits that contradict send_batch_size are config errors, with their positions', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = `
receivers: {source: {}}
processors:
  batch: {send_batch_size: 1000, send_batch_max_size: 100, max_pending_points: 10}
exporters: {sink: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [batch], exporters: [sink]}
`;
  await assert.rejects(startService(yaml, [source.factory, sink.factory, batchProcessor]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    assert.deepEqual(
      err.issues.map((i) => i.message),
      [
        'test.yaml:4:34: processors::batch::send_batch_max_size: must be 0 (no limit) or at least send_batch_size (1000), got 100',
        'test.yaml:4:60: processors::batch::max_pending_points: must be at least send_batch_size (1000), got 10',
      ],
    );
    return true;
  });
});

test('create() refuses the same contradictions when called without validate', () => {
  const raw = { send_batch_size: 1000, send_batch_max_size: 100 };
  assert.throws(() => createBatchProcessor(settings(raw), downstream().next), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, 'processors::batch::send_batch_max_size: must be 0 (no limit) or at least send_batch_size (1000), got 100');
    return true;
  });
  assert.deepEqual(batchProcessor.validate!(settings({ send_batch_size: 10, send_batch_max_size: 0, max_pending_points: 10 }).config), []);
});

test('in a service: batches flow to the exporter, the drain on shutdown included', async () => {
  const registry = new MetricsRegistry();
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = `
receivers: {source: {}}
processors:
  batch: {send_batch_size: 4, timeout: 1h}
exporters: {sink: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [batch], exporters: [sink]}
`;
  const service = await startService(yaml, [source.factory, sink.factory, batchProcessor], { registry });
  const push = source.consumers.get('source')!;
  try {
    await push.consume(batchOf(3), { transport: 'internal', clusterId: 'x' });
    await push.consume(batchOf(3), { transport: 'internal', clusterId: 'x' });
    await settle();
    assert.deepEqual(
      sink.received.map((r) => countDataPoints(r.batch)),
      [6],
    );
    await push.consume(batchOf(1), { transport: 'internal', clusterId: 'x' });
  } finally {
    await service.shutdown();
  }
  assert.deepEqual(
    sink.received.map((r) => countDataPoints(r.batch)),
    [6, 1],
  );
  assert.equal(sink.received[1]!.ctx.clusterId, 'x');
  const labels = { processor: 'batch', pipeline: 'metrics' };
  assert.equal(registry.value('skein_processor_batch_batches_total', { ...labels, trigger: 'size' }), 1);
  assert.equal(registry.value('skein_processor_batch_batches_total', { ...labels, trigger: 'shutdown' }), 1);
  assert.equal(registry.value('skein_processor_incoming_points_total', labels), 7);
  assert.equal(registry.value('skein_processor_outgoing_points_total', labels), 7);
});
