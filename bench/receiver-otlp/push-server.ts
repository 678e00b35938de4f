/**
 * The server side of receiver-otlp/push. push.bench.ts forks it, once per server, so that the
 * load generator never runs on a server's event loop:
 *
 *   push-server.ts skein   the otlp receiver (HTTP and gRPC) → a no-op exporter
 *   push-server.ts bare [http2|grpc-js]
 *                          node:http answering 200; for gRPC, node:http2 (or grpc-js) answering
 *                          an empty ExportMetricsServiceResponse
 *
 * Over IPC it sends `{ready: {http, grpc}}` (ports on 127.0.0.1), and answers `{loopDelay}`
 * (begin) and `end` with what it did in between: requests handled (bare) or points the exporter
 * took with a `cluster_id` in their context (skein), CPU time, event-loop utilisation and, when
 * asked, event-loop delay. It exits when its parent disconnects.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { countDataPoints, defineExporter, Type, type Service } from '@skein/core';
import { startService } from '@skein/core/testing';
import otlp, { METRICS_EXPORT_PATH, type OtlpReceiver } from '@skein/receiver-otlp';

export type ServerMode = 'skein' | 'bare';

export interface Ready {
  ready: { http: number; grpc: number };
}

/** What the server did between `begin` and `end`. */
export interface Interval {
  /** Pushes accepted: requests answered (bare), or points with a cluster_id that reached the exporter (skein, 1 per push). */
  handled: number;
  /** User + system CPU of the whole process (all its threads), µs. */
  cpuUs: number;
  /** Share of the interval the event loop was busy, 0…1. */
  elu: number;
  /** When asked for: the 99th percentile of how late a 1 ms timer fired (ms), i.e. how long the loop was blocked. */
  loopDelayP99Ms?: number;
}

/** Starts an interval. */
export interface Begin {
  loopDelay: boolean;
}

const mode = process.argv[2] as ServerMode;
if (mode !== 'skein' && mode !== 'bare') throw new Error(`usage: push-server.ts skein|bare, got ${JSON.stringify(process.argv[2])}`);
if (!process.send) throw new Error('push-server.ts runs as a child of push.bench.ts (it needs an IPC channel)');

let handled = 0;
let service: Service | undefined;
let ports: Ready['ready'];

if (mode === 'skein') {
  /** Takes every batch and keeps only a count: the receiver is all that is measured. */
  const noop = defineExporter({
    type: 'noop',
    description: 'Counts and drops every batch (benchmarks).',
    stability: 'development',
    configSchema: Type.Object({}, { additionalProperties: false }),
    create: () => ({
      async consume(batch, ctx) {
        if (ctx.clusterId !== undefined) handled += countDataPoints(batch);
      },
    }),
  });
  service = await startService(
    `
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
      http: {endpoint: "127.0.0.1:0"}
exporters:
  noop: {}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [noop]}
`,
    [otlp, noop],
  );
  const receiver = service.getComponent<OtlpReceiver>('receivers', 'otlp')!;
  ports = { http: receiver.httpAddress!.port, grpc: receiver.grpcAddress!.port };
} else {
  const http = createServer((req, res) => {
    // Read the body, as any server that answers a push must, then answer.
    req.on('data', () => {});
    req.on('end', () => {
      handled++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    });
  });
  // As long as the receiver's idle_timeout (60 s): agents keep their connections between rounds.
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  const grpcPort = process.argv[3] === 'grpc-js' ? await bareGrpcJs() : await bareHttp2();
  ports = { http: (http.address() as AddressInfo).port, grpc: grpcPort };
}

/** The cheapest gRPC answer: node:http2, reading the message, then headers, an empty message and grpc-status 0. */
async function bareHttp2(): Promise<number> {
  const emptyMessage = Buffer.alloc(5); // not compressed, length 0
  const server = createHttp2Server();
  server.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      handled++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(emptyMessage);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A grpc-js server with a handler that answers an empty ExportMetricsServiceResponse. */
async function bareGrpcJs(): Promise<number> {
  const raw = (b: Buffer) => b;
  const empty = Buffer.alloc(0);
  const server = new grpc.Server();
  server.addService(
    { Export: { path: METRICS_EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    {
      Export: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        handled++;
        callback(null, empty);
      },
    },
  );
  return new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

// PUSH_ALLOC_PROFILE=<dir>: a sampling profile of every allocation, including what the GC has
// since collected (which --heap-prof leaves out), written as <dir>/<mode>.heapprofile on exit.
const allocDir = process.env.PUSH_ALLOC_PROFILE;
const inspector = allocDir ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  await inspector.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}

type LoopDelay = ReturnType<typeof monitorEventLoopDelay>;
let from: { handled: number; cpu: NodeJS.CpuUsage; elu: EventLoopUtilization; delay?: LoopDelay } | undefined;
process.on('message', (msg: Begin | 'end') => {
  if (msg !== 'end') {
    let delay: LoopDelay | undefined;
    if (msg.loopDelay) {
      delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
    }
    from = { handled, cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), delay };
    process.send!('begun');
  } else if (from) {
    const cpu = process.cpuUsage(from.cpu);
    const interval: Interval = { handled: handled - from.handled, cpuUs: cpu.user + cpu.system, elu: performance.eventLoopUtilization(from.elu).utilization };
    if (from.delay) {
      from.delay.disable();
      // The histogram holds the timer's whole period; what passes 1 ms is the delay.
      interval.loopDelayP99Ms = Math.max(0, from.delay.percentile(99) / 1e6 - 1);
    }
    process.send!(interval);
  }
});
// The parent went away (finished, or crashed): stop rather than linger with open ports.
process.on('disconnect', () => {
  const profiled = inspector
    ? inspector.post('HeapProfiler.stopSampling').then(({ profile }) => writeFileSync(`${allocDir}/${mode}.heapprofile`, JSON.stringify(profile)))
    : Promise.resolve();
  void profiled.then(() => service?.shutdown()).finally(() => process.exit(0));
});
process.send({ ready: ports } satisfies Ready);
