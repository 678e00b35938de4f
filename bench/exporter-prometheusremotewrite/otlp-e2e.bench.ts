/**
 * OTLP in → remote write out, in one process: OTLP/HTTP protobuf requests (1,000 counter
 * points each) posted on keep-alive connections to the real OTLP receiver → the
 * prometheusremotewrite exporter (translate, queue, shards, encode, snappyjs, undici) → a
 * loopback store that reads each request and answers 204. Samples per second from the first
 * post until the exporter has counted every sample as sent. Everything (client, Skein, store)
 * shares the process's one JavaScript thread, so this is a figure for one core.
 */
import { Agent, request } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { MetricsRegistry } from '@skein/core';
import { startService } from '@skein/core/testing';
import remoteWrite, { RemoteWriteMetricNames } from '@skein/exporter-prometheusremotewrite';
import otlp from '@skein/receiver-otlp';
import { count, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);
/** Bounds of the load loop, whichever comes first. */
const LOAD = { requests: 1500, maxMs: 6000, inFlight: 4 };
const POINTS_PER_REQUEST = 1000;
const T_MS = 1_737_000_000_000;
const MODES = ['user', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'nice'];

const protoDir = join(dirname(fileURLToPath(import.meta.url)), '../../packages/receiver-otlp/proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoDir, target);
root.loadSync(['opentelemetry/proto/collector/metrics/v1/metrics_service.proto']);
const RequestType = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');

/** Request k: 4 resources × 250 cumulative counter points, a new timestamp per request. */
function requestBody(k: number): Uint8Array {
  const timeUnixNano = String(BigInt(T_MS + k * 1000) * 1_000_000n);
  const startTimeUnixNano = String(BigInt(T_MS - 3_600_000) * 1_000_000n);
  const object = {
    resourceMetrics: Array.from({ length: 4 }, (_, r) => ({
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'node' } },
          { key: 'service.instance.id', value: { stringValue: `node-${r}:9100` } },
        ],
      },
      scopeMetrics: [
        {
          scope: { name: 'bench' },
          metrics: [
            {
              name: 'node.cpu',
              unit: 's',
              sum: {
                aggregationTemporality: 2,
                isMonotonic: true,
                dataPoints: Array.from({ length: POINTS_PER_REQUEST / 4 }, (_, i) => ({
                  attributes: [
                    { key: 'cpu', value: { stringValue: String(i % 32) } },
                    { key: 'mode', value: { stringValue: MODES[Math.floor(i / 32) % 8]! } },
                  ],
                  startTimeUnixNano,
                  timeUnixNano,
                  asDouble: k + i * 0.25,
                })),
              },
            },
          ],
        },
      ],
    })),
  };
  return RequestType.encode(RequestType.fromObject(object)).finish();
}

let storeRequests = 0;
const store = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    storeRequests++;
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => store.listen(0, '127.0.0.1', r));
const storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}/api/v1/write`;

function post(agent: Agent, port: number, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/metrics', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const rows: (string | number)[][] = [];
for (const protocol of ['v1', 'v2'] as const) {
  const registry = new MetricsRegistry();
  const service = await startService(
    `
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:0}
exporters:
  prometheusremotewrite:
    endpoint: ${storeUrl}
    protocol: ${protocol}
    target_info: {enabled: false}
    queue: {capacity: 2000000}
    sending: {shards: 4, max_samples_per_send: 2000, batch_send_deadline: 5ms}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}
`,
    [otlp, remoteWrite],
    { registry },
  );
  const port = service.getComponent<{ httpAddress?: { port: number } }>('receivers', 'otlp')!.httpAddress!.port;
  const pool = Array.from({ length: 32 }, (_, k) => requestBody(k));
  const agent = new Agent({ keepAlive: true, maxSockets: LOAD.inFlight });
  const started = process.hrtime.bigint();
  const deadline = Date.now() + LOAD.maxMs;
  let next = 0;
  let pushed = 0;
  const worker = async () => {
    while (next < LOAD.requests && Date.now() < deadline) {
      const k = next++;
      const status = await post(agent, port, pool[k % pool.length]!);
      if (status !== 200) throw new Error(`the receiver answered ${status}`);
      pushed += POINTS_PER_REQUEST;
    }
  };
  await Promise.all(Array.from({ length: LOAD.inFlight }, worker));
  const sent = () => registry.value(RemoteWriteMetricNames.samplesSent, { exporter: 'prometheusremotewrite' }) ?? 0;
  const waitUntil = Date.now() + 30_000;
  while (sent() < pushed && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 2));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (sent() !== pushed) throw new Error(`only ${sent()} of ${pushed} samples sent`);
  agent.destroy();
  await service.shutdown();
  rows.push([protocol, count(pushed), `${seconds.toFixed(2)} s`, count(pushed / seconds)]);
  report.figure(`OTLP in → remote write out, ${protocol}`, pushed / seconds / 1e6, 'M samples/s');
}
store.close();
report.table({
  title: `OTLP/HTTP protobuf (${POINTS_PER_REQUEST.toLocaleString('en-US')} points a request, ${LOAD.inFlight} in flight) → otlp receiver → prometheusremotewrite → loopback store, one process`,
  columns: ['protocol', 'samples', 'elapsed', 'samples/s'],
  rows,
});
report.finish();
