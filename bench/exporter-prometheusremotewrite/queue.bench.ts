/**
 * The persistent queue's storage, two ways, in the same run: node:sqlite in WAL mode (the
 * exporter's PersistentQueue: push, take, ack) against an append-only segment log
 * (segment-log.ts: append, read, ack). Both store the same bytes: a request as the exporter
 * forms it when a batch is queued (remote write 1.0, snappy-compressed), formed once before the
 * loop, since the exporter would encode and compress it to send it anyway. Each cycle appends
 * one request and acknowledges the one appended `lag` cycles before (a queue a few requests
 * deep), for a small request (one agent push, 1 sample) and a large one (500 samples). Both
 * durability levels: process crash only (sqlite synchronous=NORMAL; log without fsync) and
 * power loss (synchronous=FULL; fsync).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formRequests, PersistentQueue, requestBuilder, type RemoteSeries } from '@skein/exporter-prometheusremotewrite';
import { drive } from '../lib/measure.ts';
import { count, ratio, Report } from '../lib/report.ts';
import { SegmentLog } from './segment-log.ts';

const report = new Report(import.meta.url);
const LAG = 8;

function series(n: number): RemoteSeries[] {
  return Array.from({ length: n }, (_, i) => ({
    labels: [
      { name: '__name__', value: 'node_cpu_seconds_total' },
      { name: 'cpu', value: String(i % 64) },
      { name: 'instance', value: `node-${Math.floor(i / 64)}:9100` },
      { name: 'job', value: 'node' },
      { name: 'mode', value: ['user', 'system', 'idle', 'iowait'][i % 4]! },
    ],
    samples: [{ timestampMs: 1_737_000_000_000, value: i * 1.5 }],
    histograms: [],
    type: 'counter' as const,
    help: 'Seconds the CPUs spent in each mode.',
    unit: 'seconds',
    familyName: 'node_cpu_seconds_total',
  }));
}

const SHAPES = [
  { name: 'small (1 sample)', series: series(1), limit: { count: 200_000, maxMs: 2500 } },
  { name: 'large (500 samples)', series: series(500), limit: { count: 50_000, maxMs: 2500 } },
];

const rows: (string | number)[][] = [];
for (const sync of ['normal', 'full'] as const) {
  for (const shape of SHAPES) {
    const samples = shape.series.length;
    const [formed] = formRequests(requestBuilder('v1'), shape.series, { maxSamples: samples, maxBytes: Infinity });
    const request = { ...formed!, shard: 0, points: samples };
    const bytes = request.body.length;
    const limit = sync === 'full' ? { count: Math.min(shape.limit.count, 5000), maxMs: shape.limit.maxMs } : shape.limit;

    const sqliteDir = mkdtempSync(join(tmpdir(), 'skein-bench-sqlite-'));
    const q = new PersistentQueue({ directory: sqliteDir, capacity: 1e12, shards: 1, sync });
    const sqlite = await drive(async () => {
      q.push([request]);
      if (q.pending(0) >= LAG * samples) q.ack(0, q.take(0)!.id);
    }, limit);
    q.close();
    rmSync(sqliteDir, { recursive: true, force: true });

    const logDir = mkdtempSync(join(tmpdir(), 'skein-bench-log-'));
    const log = new SegmentLog(logDir, { sync: sync === 'full' });
    let acked = 0;
    const segment = await drive(async () => {
      const seq = log.append(request.body);
      if (seq - acked >= LAG) {
        acked++;
        log.read(acked);
        log.ack(acked);
      }
    }, limit);
    log.close();
    rmSync(logDir, { recursive: true, force: true });

    const perSec = (d: { iterations: number; elapsedNs: number }) => d.iterations / (d.elapsedNs / 1e9);
    const s = perSec(sqlite);
    const l = perSec(segment);
    rows.push([sync, shape.name, count(bytes), count(s), count(s * samples), count(l), count(l * samples), `${ratio(l / s)}×`]);
    report.figure(`segment log ÷ sqlite, ${shape.name}, sync=${sync}`, l / s, '×');
  }
}
report.table({
  title: 'Append + acknowledge throughput (requests/s and samples/s, one core)',
  columns: ['sync', 'request', 'bytes', 'sqlite requests/s', 'sqlite samples/s', 'log requests/s', 'log samples/s', 'log ÷ sqlite'],
  rows,
});
report.finish();
