/// <reference path="../../packages/exporter-prometheusremotewrite/src/snappyjs.d.ts" />
/**
 * Remote-write encode + compress, in samples per second on one core, for a request of 2,000
 * series with one sample each (the default max_samples_per_send; node_exporter-like labels):
 *
 *   - RW 1.0 and 2.0 bodies from the exporter's hand-written encoder, compressed by the
 *     exporter's own snappy compressor (what it uses), by snappyjs and by the native `snappy`
 *     package (the reference);
 *   - the 1.0 body written with protobufjs's Writer instead, to show why the encoder is
 *     hand-written;
 *   - translate → encode → compress, from an OTLP-shaped batch, for the whole CPU path.
 */
import { gauge, metricsBatch, millisToNanos, numberPoint, sum, type Metric } from '@skein/core';
import { encodeRequest, requestBuilder, type RemoteSeries } from '@skein/exporter-prometheusremotewrite';
import { translate } from '@skein/prometheus-translation';
import protobuf from 'protobufjs';
import { compressSync } from 'snappy';
import snappyjs from 'snappyjs';
import { snappyCompress } from '../../packages/exporter-prometheusremotewrite/src/snappy.ts';
import { do_not_optimize, time } from '../lib/measure.ts';
import { count, duration, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);
const N = 2000;
const T = 1_737_000_000_000;
const MODES = ['user', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'nice'];

const series: RemoteSeries[] = Array.from({ length: N }, (_, i) => ({
  labels: [
    { name: '__name__', value: 'node_cpu_seconds_total' },
    { name: 'cpu', value: String(i % 32) },
    { name: 'instance', value: `node-${String(Math.floor(i / 256)).padStart(4, '0')}.eu-west-1.internal:9100` },
    { name: 'job', value: 'node' },
    { name: 'mode', value: MODES[Math.floor(i / 32) % 8]! },
    { name: 'replica', value: 'bridge-a' },
  ],
  samples: [{ timestampMs: T + (i % 15) * 1000, value: 12345.67 + i * 0.25 }],
  histograms: [],
  type: 'counter',
  help: 'Seconds the CPUs spent in each mode.',
  unit: 'seconds',
  familyName: 'node_cpu_seconds_total',
}));

const v1 = requestBuilder('v1');
const v2 = requestBuilder('v2');
const encodeWith = (b: typeof v1) => {
  b.reset();
  for (const s of series) b.add(s);
  return b.finish();
};

// The same 1.0 body through protobufjs's Writer (fork/ldelim), for the hand-written-or-not decision.
const pbWriter = () => {
  const w = protobuf.Writer.create();
  for (const s of series) {
    w.uint32(10).fork();
    for (const l of s.labels) w.uint32(10).fork().uint32(10).string(l.name).uint32(18).string(l.value).ldelim();
    for (const x of s.samples) w.uint32(18).fork().uint32(9).double(x.value).uint32(16).int64(x.timestampMs).ldelim();
    w.ldelim();
  }
  return w.finish();
};
if (Buffer.compare(Buffer.from(pbWriter()), Buffer.from(encodeRequest('v1', series))) !== 0) throw new Error('protobufjs and the hand-written encoder disagree');

// An OTLP-shaped batch that translates to the same 2,000 series (plus target_info).
const resources = Array.from({ length: 8 }, (_, r) => ({
  resource: { 'service.name': 'node', 'service.instance.id': `node-${String(r).padStart(4, '0')}.eu-west-1.internal:9100` },
  metrics: [
    sum(
      'node.cpu',
      Array.from({ length: 250 }, (_, i) =>
        numberPoint(12345.67 + i * 0.25, { timeUnixNano: millisToNanos(T), startTimeUnixNano: millisToNanos(T - 3_600_000), attributes: { cpu: String(i % 32), mode: MODES[Math.floor(i / 32) % 8]! } }),
      ),
      { unit: 's' },
    ) as Metric,
    gauge('node.load1', [numberPoint(0.5, { timeUnixNano: millisToNanos(T) })]),
  ],
}));
const batch = metricsBatch(resources);
const translated = translate(batch, { externalLabels: { replica: 'bridge-a' } }).series;

const rawV1 = encodeWith(v1).slice();
const rawV2 = encodeWith(v2).slice();
const cases: { name: string; fn: () => unknown; samples: number }[] = [
  { name: 'RW 1.0 encode + exporter snappy', fn: () => snappyCompress(encodeWith(v1)), samples: N },
  { name: 'RW 2.0 encode + exporter snappy', fn: () => snappyCompress(encodeWith(v2)), samples: N },
  { name: 'RW 1.0 encode + snappyjs', fn: () => snappyjs.compress(encodeWith(v1)), samples: N },
  { name: 'RW 2.0 encode + snappyjs', fn: () => snappyjs.compress(encodeWith(v2)), samples: N },
  { name: 'RW 1.0 encode + native snappy', fn: () => compressSync(encodeWith(v1)), samples: N },
  { name: 'RW 2.0 encode + native snappy', fn: () => compressSync(encodeWith(v2)), samples: N },
  { name: 'RW 1.0 encode only (hand-written)', fn: () => encodeWith(v1), samples: N },
  { name: 'RW 1.0 encode only (protobufjs Writer)', fn: pbWriter, samples: N },
  { name: 'RW 2.0 encode only', fn: () => encodeWith(v2), samples: N },
  { name: 'exporter snappy compress only, RW 1.0 body', fn: () => snappyCompress(rawV1), samples: N },
  { name: 'snappyjs compress only, RW 1.0 body', fn: () => snappyjs.compress(rawV1), samples: N },
  { name: 'native snappy compress only, RW 1.0 body', fn: () => compressSync(rawV1), samples: N },
  {
    name: 'translate + RW 1.0 encode + exporter snappy',
    fn: () => {
      const b = requestBuilder('v1');
      for (const s of translate(batch, { externalLabels: { replica: 'bridge-a' } }).series) b.add(s);
      return snappyCompress(b.finish());
    },
    samples: translated.length,
  },
];

const rows: (string | number)[][] = [];
const rate: Record<string, number> = {};
for (const c of cases) {
  const t = report.record(await time(c.name, () => do_not_optimize(c.fn())));
  rate[c.name] = c.samples / (t.avgNs / 1e9);
  rows.push([c.name, count(c.samples), duration(t.avgNs), count(rate[c.name]!)]);
}
report.table({
  title: `Encode + compress a request of ${N} series × 1 sample (1.0 body ${count(rawV1.length)} B → ${count(snappyjs.compress(rawV1).length)} B; 2.0 body ${count(rawV2.length)} B → ${count(snappyjs.compress(rawV2).length)} B)`,
  columns: ['what', 'samples', 'per request', 'samples/s'],
  rows,
});
report.figure('RW 1.0 encode + exporter snappy', rate['RW 1.0 encode + exporter snappy']! / 1e6, 'M samples/s (target ≥ 1)');
report.figure('RW 2.0 encode + exporter snappy', rate['RW 2.0 encode + exporter snappy']! / 1e6, 'M samples/s (target ≥ 1)');
report.figure('exporter snappy ÷ snappyjs, compress only', rate['exporter snappy compress only, RW 1.0 body']! / rate['snappyjs compress only, RW 1.0 body']!, '×');
report.figure('native snappy ÷ snappyjs, RW 1.0', rate['RW 1.0 encode + native snappy']! / rate['RW 1.0 encode + snappyjs']!, '×');
report.figure('hand-written ÷ protobufjs Writer, RW 1.0 encode', rate['RW 1.0 encode only (hand-written)']! / rate['RW 1.0 encode only (protobufjs Writer)']!, '×');
report.finish();

