/**
 * End to end in one process (one core): batches pushed into a pipeline → the
 * prometheusremotewrite exporter (translate, queue, shards, encode, snappyjs, undici) → a
 * loopback HTTP server that reads each request and answers 204. Samples per second from the
 * first push until the exporter has counted every sample as sent, with the memory queue and
 * with the persistent one (`queue.directory`, in a temporary directory). The batches enter
 * through a test source receiver, not OTLP: the OTLP receiver's decode cost is measured in
 * bench/receiver-otlp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsBatch, millisToNanos, MetricsRegistry, numberPoint, sum } from '@skein/core';
import { sourceReceiver, startService } from '@skein/core/testing';
import remoteWrite, { RemoteWriteMetricNames } from '@skein/exporter-prometheusremotewrite';
import { count, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);
const T = 1_737_000_000_000;
const MODES = ['user', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'nice'];
/** Bounds of the load loop, whichever comes first. */
const LOAD = { batches: 2000, maxMs: 5000 };

let requests = 0;
const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    requests++;
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`;

const rows: (string | number)[][] = [];
for (const [protocol, queueKind] of [
  ['v1', 'memory'],
  ['v2', 'memory'],
  ['v1', 'persistent'],
  ['v2', 'persistent'],
] as const) {
  const dir = queueKind === 'persistent' ? mkdtempSync(join(tmpdir(), 'skein-bench-rw-queue-')) : undefined;
  const source = sourceReceiver();
  const registry = new MetricsRegistry();
  const service = await startService(
    `
receivers: {source: {}}
exporters:
  prometheusremotewrite:
    endpoint: ${url}
    protocol: ${protocol}
    target_info: {enabled: false}
    queue: {capacity: 2000000${dir ? `, directory: ${JSON.stringify(dir)}` : ''}}
    sending: {shards: 4, max_samples_per_send: 2000, batch_send_deadline: 5ms}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [source], exporters: [prometheusremotewrite]}
`,
    [source.factory, remoteWrite],
    { registry },
  );
  const entry = source.consumers.get('source')!;
  // 1,000 counter points per batch, a new timestamp each batch so every sample is new.
  const batchAt = (k: number) =>
    metricsBatch(
      Array.from({ length: 4 }, (_, r) => ({
        resource: { 'service.name': 'node', 'service.instance.id': `node-${r}:9100` },
        metrics: [
          sum(
            'node.cpu',
            Array.from({ length: 250 }, (_, i) =>
              numberPoint(k + i * 0.25, { timeUnixNano: millisToNanos(T + k * 1000), startTimeUnixNano: millisToNanos(T - 3_600_000), attributes: { cpu: String(i % 32), mode: MODES[Math.floor(i / 32) % 8]! } }),
            ),
            { unit: 's' },
          ),
        ],
      })),
    );
  const pool = Array.from({ length: 16 }, (_, k) => batchAt(k));
  const started = process.hrtime.bigint();
  const deadline = Date.now() + LOAD.maxMs;
  let pushed = 0;
  for (let k = 0; k < LOAD.batches && Date.now() < deadline; k++) {
    // The pool's batches are reused: the exporter only reads them.
    await entry.consume(pool[k % pool.length]!, { transport: 'internal' });
    pushed += 1000;
    // Let the shards run: a loop that only pushes would fill the queue first and send after.
    if (k % 4 === 3) await new Promise((r) => setImmediate(r));
  }
  const sent = () => registry.value(RemoteWriteMetricNames.samplesSent, { exporter: 'prometheusremotewrite' }) ?? 0;
  const waitUntil = Date.now() + 30_000;
  while (sent() < pushed && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 2));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (sent() !== pushed) throw new Error(`only ${sent()} of ${pushed} samples sent`);
  await service.shutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
  rows.push([protocol, queueKind, count(pushed), `${seconds.toFixed(2)} s`, count(pushed / seconds)]);
  report.figure(`end to end, ${protocol}, ${queueKind} queue`, pushed / seconds / 1e6, 'M samples/s');
}
server.close();
report.table({
  title: 'Pipeline → prometheusremotewrite → loopback store (same process, one core); duplicate timestamps across reused batches are fine for a sink',
  columns: ['protocol', 'queue', 'samples', 'elapsed', 'samples/s'],
  rows,
});
report.finish();
