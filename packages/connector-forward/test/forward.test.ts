import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defineProcessor,
  gauge,
  internalContext,
  isRetryable,
  metricsBatch,
  numberPoint,
  permanentError,
  Type,
  type MetricsBatch,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import forward from '../src/index.ts';

function oneGauge(value: number): MetricsBatch {
  return metricsBatch([{ resource: { 'service.name': 'test' }, metrics: [gauge('up', [numberPoint(value)])] }]);
}

/** A processor that rewrites every gauge value in place, to check who gets a copy. */
const doubler = defineProcessor({
  type: 'doubler',
  description: 'Doubles every number point in place (tests).',
  stability: 'development',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create: (_s, next) => ({
    mutatesData: true,
    consume(batch, ctx) {
      for (const rm of batch.resourceMetrics)
        for (const sm of rm.scopeMetrics)
          for (const m of sm.metrics) if (m.type === 'gauge') for (const p of m.points) p.value = Number(p.value) * 2;
      return next.consume(batch, ctx);
    },
  }),
});

test('forwards each batch to every pipeline that receives from it', async () => {
  const source = sourceReceiver();
  const a = sinkExporter({ type: 'sink_a' });
  const b = sinkExporter({ type: 'sink_b' });
  const service = await startService(
    `
receivers: {source: {}}
connectors: {forward: {}}
exporters: {sink_a: {}, sink_b: {}}
service:
  pipelines:
    metrics/in: {receivers: [source], exporters: [forward]}
    metrics/out_a: {receivers: [forward], exporters: [sink_a]}
    metrics/out_b: {receivers: [forward], exporters: [sink_b]}
`,
    [source.factory, forward, a.factory, b.factory],
  );
  try {
    await source.consumers.get('source')!.consume(oneGauge(7), internalContext('source'));
    assert.equal(a.received.length, 1);
    assert.equal(b.received.length, 1);
    for (const sink of [a, b]) {
      const { batch } = sink.received[0]!;
      assert.equal(batch.resourceMetrics[0]!.resource.attributes['service.name'], 'test');
      const metric = batch.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!;
      assert.equal(metric.name, 'up');
      assert.equal((metric.points[0] as { value: number }).value, 7);
    }
    assert.equal(a.received[0]!.ctx.receiver, 'source', 'the context still names the receiver that took the data in');
  } finally {
    await service.shutdown();
  }
});

test('a downstream processor that mutates does not change what the upstream pipeline shares', async () => {
  const source = sourceReceiver();
  const upstream = sinkExporter({ type: 'sink_up' });
  const downstream = sinkExporter({ type: 'sink_down' });
  const service = await startService(
    `
receivers: {source: {}}
processors: {doubler: {}}
connectors: {forward: {}}
exporters: {sink_up: {}, sink_down: {}}
service:
  pipelines:
    metrics/in: {receivers: [source], exporters: [sink_up, forward]}
    metrics/out: {receivers: [forward], processors: [doubler], exporters: [sink_down]}
`,
    [source.factory, doubler, forward, upstream.factory, downstream.factory],
  );
  try {
    await source.consumers.get('source')!.consume(oneGauge(5), internalContext('source'));
    const valueOf = (b: MetricsBatch) => (b.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.points[0] as { value: number }).value;
    assert.equal(valueOf(downstream.received[0]!.batch), 10);
    assert.equal(valueOf(upstream.received[0]!.batch), 5);
  } finally {
    await service.shutdown();
  }
});

test('a downstream refusal reaches the upstream sender with its kind', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  sink.control.fail = () => permanentError('bad data', { reason: 'invalid' });
  const service = await startService(
    `
receivers: {source: {}}
connectors: {forward/join: {}}
exporters: {sink: {}}
service:
  pipelines:
    metrics/in: {receivers: [source], exporters: [forward/join]}
    metrics/out: {receivers: [forward/join], exporters: [sink]}
`,
    [source.factory, forward, sink.factory],
  );
  try {
    await assert.rejects(source.consumers.get('source')!.consume(oneGauge(1), internalContext('source')), (err: unknown) => {
      assert.equal(isRetryable(err), false);
      assert.match((err as Error).message, /bad data/);
      return true;
    });
  } finally {
    await service.shutdown();
  }
});
