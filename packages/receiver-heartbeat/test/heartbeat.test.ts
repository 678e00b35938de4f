import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineExporter, SkeinError, Type, type MetricsBatch } from '@skein/core';
import { sinkExporter, startService } from '@skein/core/testing';
import heartbeat, { HEARTBEAT_METRIC } from '../src/index.ts';

/** Polls `cond` until it holds, failing after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const CONFIG = (interval: string, exporter = 'sink') => `
receivers: {heartbeat: {interval: ${interval}}}
exporters: {${exporter}: {}}
service:
  pipelines:
    metrics: {receivers: [heartbeat], exporters: [${exporter}]}
`;

test('emits skein.heartbeat = 1 with service.name=skein, once per interval', async () => {
  const sink = sinkExporter();
  const service = await startService(CONFIG('10ms'), [heartbeat, sink.factory]);
  try {
    await until(() => sink.received.length >= 2, 'two heartbeats');
  } finally {
    await service.shutdown();
  }
  for (const { batch, ctx } of sink.received) {
    assert.equal(batch.resourceMetrics.length, 1);
    const rm = batch.resourceMetrics[0]!;
    assert.deepEqual(rm.resource.attributes, { 'service.name': 'skein' });
    assert.equal(rm.scopeMetrics[0]!.scope.name, '@skein/receiver-heartbeat');
    const [metric] = rm.scopeMetrics[0]!.metrics;
    assert.equal(metric!.name, HEARTBEAT_METRIC);
    assert.equal(metric!.type, 'gauge');
    assert.equal(metric!.points.length, 1);
    assert.equal((metric!.points[0] as { value: number }).value, 1);
    assert.equal(ctx.transport, 'internal');
    assert.equal(ctx.receiver, 'heartbeat');
  }
});

test('shutdown waits for the heartbeat in flight and stops the timer', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const received: MetricsBatch[] = [];
  const slow = defineExporter({
    type: 'slow',
    description: 'Holds the first batch until released (tests).',
    stability: 'development',
    configSchema: Type.Object({}),
    create: () => ({
      async consume(batch) {
        received.push(batch);
        if (received.length === 1) await gate;
      },
    }),
  });
  const service = await startService(CONFIG('5ms', 'slow'), [heartbeat, slow]);
  await until(() => received.length === 1, 'the first heartbeat');
  let done = false;
  const stopping = service.shutdown().then(() => (done = true));
  // The receiver's shutdown cannot finish while the gated consume is pending.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'shutdown resolved while a heartbeat was still in flight');
  release();
  await stopping;
  // Beats are never overlapped: the pending one blocked every later tick.
  assert.equal(received.length, 1);
});

test('an interval of 0s is refused when the receiver is created', async () => {
  await assert.rejects(startService(CONFIG('0s'), [heartbeat, sinkExporter().factory]), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_COMPONENT_CREATE');
    assert.equal(err.message, 'receivers::heartbeat: cannot create: interval must be more than 0s, got "0s"');
    return true;
  });
});
