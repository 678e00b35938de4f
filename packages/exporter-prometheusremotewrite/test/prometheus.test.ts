/**
 * Against a real Prometheus (Debian's package, started with --web.enable-remote-write-receiver):
 * every metric kind sent and read back through /api/v1/query with exact names, labels and
 * values; the 2.0 fallback against a 1.0-only receiver; an outage: Prometheus stopped while
 * data keeps coming, then started again, with every sample arriving and counted; and the
 * persistent queue's stored 2.0 requests kept over a restart and delivered as 1.0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  exponentialHistogram,
  exponentialHistogramPoint,
  gauge,
  histogram,
  histogramPoint,
  metricsBatch,
  MetricsRegistry,
  millisToNanos,
  numberPoint,
  SelfMetricNames,
  sum,
  summary,
  summaryPoint,
  type MetricsBatch,
  type Service,
} from '@skein/core';
import { sourceReceiver, startService } from '@skein/core/testing';
import remoteWrite, { RemoteWriteMetricNames as M } from '../src/index.ts';
import { captureLogger, eventually } from './helpers.ts';
import { startPrometheus, type PrometheusServer } from './prometheus-server.ts';

const ID = 'prometheusremotewrite';
let prom: PrometheusServer;
const services: Service[] = [];
before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  // A failed test leaves its service running; it would retry forever and keep the file alive.
  for (const s of services) await s.shutdown();
  await prom?.destroy();
});

async function exporterPipeline(extra: string) {
  const source = sourceReceiver();
  const registry = new MetricsRegistry();
  const { logger, lines } = captureLogger();
  const service = await startService(
    `
receivers: {source: {}}
exporters:
  ${ID}:
    endpoint: ${prom.writeUrl}
${extra
  .trim()
  .split('\n')
  .map((l) => '    ' + l)
  .join('\n')}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [source], exporters: [${ID}]}
`,
    [source.factory, remoteWrite],
    { registry, logger },
  );
  services.push(service);
  const entry = source.consumers.get('source')!;
  return {
    service,
    lines,
    value: (name: string, labels: Record<string, string> = {}) => registry.value(name, { exporter: ID, ...labels }),
    push: (b: MetricsBatch) => entry.consume(b, { transport: 'internal' }),
  };
}

/** The single result of an instant query, with its labels and value. */
async function one(expr: string, at: number): Promise<{ labels: Record<string, string>; value: string }> {
  const result = await prom.query(expr, at);
  assert.equal(result.length, 1, `${expr} returns one series, got ${JSON.stringify(result)}`);
  return { labels: result[0]!.metric, value: result[0]!.value[1] };
}

describe('prometheusremotewrite into a real Prometheus', () => {
  it('stores every metric kind with exact names, labels and values', async () => {
    const tMs = Date.now() - 10_000;
    const t = millisToNanos(tMs);
    const start = t - 60_000_000_000n;
    const at = tMs / 1000;
    const p = await exporterPipeline(`
protocol: v1
external_labels: {replica: r1}
sending: {batch_send_deadline: 10ms}`);
    await p.push(
      metricsBatch([
        {
          resource: { 'service.name': 'checkout', 'service.instance.id': 'pod-7', 'k8s.namespace.name': 'shop' },
          scope: 'test',
          metrics: [
            gauge('room.temperature', [numberPoint(21.5, { timeUnixNano: t, attributes: { room: 'lab' } })], { unit: 'Cel' }),
            sum('http.requests', [numberPoint(1234n, { timeUnixNano: t, startTimeUnixNano: start, attributes: { code: '200' } })], { unit: '1' }),
            sum('queue.depth', [numberPoint(-3, { timeUnixNano: t, startTimeUnixNano: start })], { monotonic: false }),
            histogram(
              'rpc.duration',
              [histogramPoint({ explicitBounds: [0.1, 1], bucketCounts: [1, 2, 3], sum: 4.5 }, { timeUnixNano: t, startTimeUnixNano: start })],
              { unit: 's' },
            ),
            summary('payload.size', [summaryPoint({ count: 3, sum: 9, quantiles: { 0.5: 2, 0.9: 5 } }, { timeUnixNano: t, startTimeUnixNano: start })], { unit: 'By' }),
            exponentialHistogram('io.latency', [
              exponentialHistogramPoint({ scale: 1, zeroCount: 1, positive: { offset: 0, bucketCounts: [1, 2] }, sum: 5.25 }, { timeUnixNano: t, startTimeUnixNano: start }),
            ]),
          ],
        },
      ]),
    );
    // 1 gauge + 1 counter + 1 gauge (non-monotonic sum) + 5 histogram series + 4 summary series
    // + 1 native histogram + target_info.
    await eventually(() => p.value(M.samplesSent) === 14, '14 samples sent');
    await p.service.shutdown();
    assert.equal(p.value(M.samplesDropped), undefined, 'nothing dropped');

    const job = { job: 'checkout', instance: 'pod-7', replica: 'r1' };
    assert.deepEqual(await one('room_temperature_celsius', at), { labels: { __name__: 'room_temperature_celsius', room: 'lab', ...job }, value: '21.5' });
    assert.deepEqual(await one('http_requests_total', at), { labels: { __name__: 'http_requests_total', code: '200', ...job }, value: '1234' });
    assert.deepEqual(await one('queue_depth', at), { labels: { __name__: 'queue_depth', ...job }, value: '-3' });
    for (const [le, count] of [
      ['0.1', '1'],
      ['1', '3'],
      ['+Inf', '6'],
    ]) {
      assert.deepEqual(await one(`rpc_duration_seconds_bucket{le="${le}"}`, at), {
        labels: { __name__: 'rpc_duration_seconds_bucket', le: le!, ...job },
        value: count,
      });
    }
    assert.deepEqual(await one('rpc_duration_seconds_sum', at), { labels: { __name__: 'rpc_duration_seconds_sum', ...job }, value: '4.5' });
    assert.deepEqual(await one('rpc_duration_seconds_count', at), { labels: { __name__: 'rpc_duration_seconds_count', ...job }, value: '6' });
    for (const [q, v] of [
      ['0.5', '2'],
      ['0.9', '5'],
    ]) {
      assert.deepEqual(await one(`payload_size_bytes{quantile="${q}"}`, at), { labels: { __name__: 'payload_size_bytes', quantile: q!, ...job }, value: v });
    }
    assert.deepEqual(await one('payload_size_bytes_sum', at), { labels: { __name__: 'payload_size_bytes_sum', ...job }, value: '9' });
    assert.deepEqual(await one('payload_size_bytes_count', at), { labels: { __name__: 'payload_size_bytes_count', ...job }, value: '3' });
    // A native histogram: its count, sum and one bucket read back through PromQL.
    assert.deepEqual(await one('histogram_count(io_latency)', at), { labels: { ...job }, value: '4' });
    assert.deepEqual(await one('histogram_sum(io_latency)', at), { labels: { ...job }, value: '5.25' });
    assert.deepEqual(await one('target_info', at), {
      labels: { __name__: 'target_info', k8s_namespace_name: 'shop', ...job },
      value: '1',
    });
  });

  it('falls back from 2.0 to 1.0 against Prometheus 2.x, which answers 2.0 without *-Written headers', async () => {
    const tMs = Date.now() - 5_000;
    const p = await exporterPipeline(`
protocol: v2
target_info: {enabled: false}
sending: {batch_send_deadline: 10ms, shards: 1}`);
    await p.push(metricsBatch([{ resource: { 'service.name': 'v2test' }, metrics: [gauge('fallback.gauge', [numberPoint(7, { timeUnixNano: millisToNanos(tMs) })])] }]));
    await eventually(() => p.value(M.samplesSent) === 1, 'the sample sent');
    await p.service.shutdown();
    assert.ok(p.lines.some((l) => String(l.msg).includes('falling back to 1.0')));
    assert.deepEqual(await one('fallback_gauge', tMs / 1000), { labels: { __name__: 'fallback_gauge', job: 'v2test' }, value: '7' });
  });

  it('delivers every sample through an outage: Prometheus stopped, data still coming, Prometheus started again', async () => {
    const SERIES = 5;
    const ROUNDS = 20;
    const base = Date.now() - 60_000;
    const p = await exporterPipeline(`
target_info: {enabled: false}
sending: {batch_send_deadline: 10ms, min_backoff: 50ms, max_backoff: 400ms}`);
    const round = (r: number) =>
      p.push(
        metricsBatch([
          {
            resource: { 'service.name': 'outage' },
            metrics: [gauge('outage.gauge', Array.from({ length: SERIES }, (_, i) => numberPoint(r * 10 + i, { timeUnixNano: millisToNanos(base + r * 1000), attributes: { i: String(i) } })))],
          },
        ]),
      );
    for (let r = 0; r < 5; r++) await round(r);
    await eventually(() => p.value(M.samplesSent) === 5 * SERIES, 'sent before the outage');

    await prom.stop();
    for (let r = 5; r < 15; r++) await round(r);
    await eventually(() => (p.value(M.requests, { status_code: 'error' }) ?? 0) >= 2, 'requests failing while Prometheus is down', 15_000);
    assert.ok(p.value(M.samplesSent)! < ROUNDS * SERIES);

    await prom.start();
    for (let r = 15; r < ROUNDS; r++) await round(r);
    await eventually(() => p.value(M.samplesSent) === ROUNDS * SERIES, `every sample sent (${p.value(M.samplesSent)})`, 30_000);
    await p.service.shutdown();

    assert.equal(p.value(M.samplesDropped), undefined, 'nothing dropped');
    assert.ok(p.value(M.samplesRetried, { reason: 'network' })! > 0, 'the outage shows as retried samples');
    assert.equal(p.value(SelfMetricNames.exporterSent), ROUNDS * SERIES);
    assert.equal(p.value(M.queueSize), 0);

    const at = (base + (ROUNDS - 1) * 1000) / 1000;
    const counts = await prom.query('count_over_time(outage_gauge[5m])', at);
    assert.equal(counts.length, SERIES);
    for (const c of counts) assert.equal(c.value[1], String(ROUNDS), `series i=${c.metric.i} has all ${ROUNDS} samples`);
    const sums = await prom.query('sum_over_time(outage_gauge[5m])', at);
    for (const s of sums) {
      const i = Number(s.metric.i);
      const want = Array.from({ length: ROUNDS }, (_, r) => r * 10 + i).reduce((a, b) => a + b, 0);
      assert.equal(s.value[1], String(want), `series i=${i} has the exact values`);
    }
  });

  it("keeps the persistent queue's 2.0 requests over an outage and a restart, and delivers them as 1.0 to Prometheus 2.x", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skein-rw-prom-queue-'));
    const SERIES = 3;
    const ROUNDS = 6;
    const base = Date.now() - 60_000;
    const config = `
protocol: v2
target_info: {enabled: false}
queue: {directory: ${JSON.stringify(dir)}, drain_timeout: 100ms}
sending: {min_backoff: 50ms, max_backoff: 200ms}`;
    const round = (r: number) =>
      metricsBatch([
        {
          resource: { 'service.name': 'kept' },
          metrics: [
            gauge('kept.gauge', Array.from({ length: SERIES }, (_, i) => numberPoint(r * 10 + i, { timeUnixNano: millisToNanos(base + r * 1000), attributes: { i: String(i) } }))),
            exponentialHistogram('kept.latency', [
              exponentialHistogramPoint(
                { scale: 1, zeroCount: r, positive: { offset: 0, bucketCounts: [1, 2] }, sum: r + 0.5 },
                { timeUnixNano: millisToNanos(base + r * 1000), startTimeUnixNano: millisToNanos(base - 1000) },
              ),
            ]),
          ],
        },
      ]);
    try {
      await prom.stop();
      const first = await exporterPipeline(config);
      for (let r = 0; r < ROUNDS; r++) await first.push(round(r));
      await eventually(() => (first.value(M.requests, { status_code: 'error' }) ?? 0) >= 1, 'a request failing while Prometheus is down', 15_000);
      await first.service.shutdown();
      assert.equal(first.value(M.samplesSent), 0);

      await prom.start();
      const second = await exporterPipeline(config);
      await eventually(() => second.value(M.samplesSent) === ROUNDS * (SERIES + 1), `every sample sent (${second.value(M.samplesSent)})`, 30_000);
      await second.service.shutdown();
      assert.ok(second.lines.some((l) => String(l.msg).includes('falling back to 1.0')));
      assert.equal(second.value(M.samplesDropped), undefined, 'nothing dropped');
      assert.equal(second.value(SelfMetricNames.exporterSent), ROUNDS * (SERIES + 1));

      const at = (base + (ROUNDS - 1) * 1000) / 1000;
      const sums = await prom.query('sum_over_time(kept_gauge[5m])', at);
      assert.equal(sums.length, SERIES);
      for (const s of sums) {
        const i = Number(s.metric.i);
        const want = Array.from({ length: ROUNDS }, (_, r) => r * 10 + i).reduce((a, b) => a + b, 0);
        assert.equal(s.value[1], String(want), `series i=${i} has every value`);
      }
      const counts = await prom.query('count_over_time(kept_gauge[5m])', at);
      for (const c of counts) assert.equal(c.value[1], String(ROUNDS));
      // The native histogram of the last round: zero bucket ROUNDS - 1, plus 1 + 2 in the positive buckets.
      assert.deepEqual(await one('histogram_count(kept_latency)', at), { labels: { job: 'kept' }, value: String(ROUNDS - 1 + 3) });
      assert.deepEqual(await one('histogram_sum(kept_latency)', at), { labels: { job: 'kept' }, value: String(ROUNDS - 1 + 0.5) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
