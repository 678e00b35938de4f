/**
 * The fleet path as it runs in production, on loopback with free ports: the real OTLP receiver
 * (HTTP and gRPC, `middlewares: [threshold_headers]`) → the real threshold processor → a sink,
 * with a memory threshold_store. Pushes are real OTLP requests made by the OpenTelemetry JS
 * SDK's serialiser; replies are read with fetch (HTTP headers) and grpc-js (initial metadata).
 */
import * as grpc from '@grpc/grpc-js';
import { ValueType, type HrTime } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { MetricsRegistry, silentLogger, type Logger, type Service } from '@skein/core';
import { sinkExporter, startService } from '@skein/core/testing';
import thresholdStore, { type ThresholdStoreExtension } from '@skein/extension-threshold-store';
import thresholdProcessor from '@skein/processor-threshold';
import otlp, { METRICS_EXPORT_PATH, type OtlpReceiver } from '@skein/receiver-otlp';
import thresholdHeaders, { type ThresholdHeadersExtension } from '../src/index.ts';

export interface Fleet {
  service: Service;
  store: ThresholdStoreExtension;
  headers: ThresholdHeadersExtension;
  registry: MetricsRegistry;
  sink: ReturnType<typeof sinkExporter>;
  httpPort: number;
  grpcPort: number;
  stop(): Promise<void>;
}

/**
 * `headers` is the YAML mapping body of the threshold_headers config after `store`, e.g.
 * `threshold_header: x-t`. The store never refreshes on its own (1 h): thresholds change only
 * when a push reaches the quorum or the test calls `store.refresh()`.
 */
export async function startFleet(opts: { statisticalMin?: number; headers?: string; logger?: Logger } = {}): Promise<Fleet> {
  const sink = sinkExporter();
  const registry = new MetricsRegistry();
  const headersConfig = ['store: threshold_store', ...(opts.headers ? [opts.headers] : [])].join(', ');
  const yaml = `
extensions:
  threshold_store: {ttl: 30s, refresh_interval: 1h}
  threshold_headers: {${headersConfig}}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", middlewares: [threshold_headers]}
      http: {endpoint: "127.0.0.1:0", middlewares: [threshold_headers]}
processors:
  threshold: {store: threshold_store, statistical_min: ${opts.statisticalMin ?? 3}}
exporters:
  sink: {}
service:
  extensions: [threshold_store, threshold_headers]
  pipelines:
    metrics: {receivers: [otlp], processors: [threshold], exporters: [sink]}
`;
  const service = await startService(yaml, [otlp, thresholdProcessor, thresholdStore, thresholdHeaders, sink.factory], {
    registry,
    logger: opts.logger ?? silentLogger,
  });
  const receiver = service.getComponent<OtlpReceiver>('receivers', 'otlp')!;
  return {
    service,
    store: service.getExtension<ThresholdStoreExtension>('threshold_store'),
    headers: service.getExtension<ThresholdHeadersExtension>('threshold_headers'),
    registry,
    sink,
    httpPort: receiver.httpAddress!.port,
    grpcPort: receiver.grpcAddress!.port,
    stop: () => service.shutdown(),
  };
}

const T: HrTime = [1_736_942_400, 0];

/** What an agent's SDK hands its exporter: one `health.score` gauge point for `node`. */
export function scoreMetrics(node: string, score: number, resource: Record<string, string> = {}): ResourceMetrics {
  return {
    resource: resourceFromAttributes({ 'service.name': 'agent', 'host.name': node, ...resource }),
    scopeMetrics: [
      {
        scope: { name: 'agent' },
        metrics: [
          {
            descriptor: { name: 'health.score', description: '', unit: '1', valueType: ValueType.DOUBLE },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: [{ startTime: T, endTime: T, attributes: {}, value: score }],
          },
        ],
      },
    ],
  };
}

export function scoreProto(node: string, score: number, resource: Record<string, string> = {}): Uint8Array {
  const bytes = ProtobufMetricsSerializer.serializeRequest(scoreMetrics(node, score, resource));
  if (!bytes) throw new Error('the SDK serialised nothing');
  return bytes;
}

export interface Reply {
  status: number;
  /** Lowercase names. */
  headers: Record<string, string>;
  body: string;
}

async function reply(res: Response): Promise<Reply> {
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** An OTLP/HTTP protobuf push of one score; `cluster` goes in `?cluster_id=` unless undefined. */
export async function pushHttp(port: number, node: string, score: number, cluster: string | undefined, resource: Record<string, string> = {}): Promise<Reply> {
  const query = cluster === undefined ? '' : `?cluster_id=${encodeURIComponent(cluster)}`;
  const res = await fetch(`http://127.0.0.1:${port}/v1/metrics${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: scoreProto(node, score, resource),
  });
  return reply(res);
}

export async function get(port: number, path: string, method = 'GET'): Promise<Reply> {
  return reply(await fetch(`http://127.0.0.1:${port}${path}`, { method }));
}

const raw = (b: Buffer) => b;
const ExportClient = grpc.makeGenericClientConstructor(
  {
    Export: {
      path: METRICS_EXPORT_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
  },
  'MetricsService',
);
type ExportCall = (body: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall;

export interface GrpcReply {
  /** The gRPC status code (0 = OK). */
  code: number;
  /** The server's initial metadata, text values. */
  initial: Record<string, string>;
}

/** A gRPC Export of one score over its own channel; `cluster` goes in metadata `cluster_id` unless undefined. */
export function pushGrpc(port: number, node: string, score: number, cluster: string | undefined, resource: Record<string, string> = {}): Promise<GrpcReply> {
  const client = new ExportClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (cluster !== undefined) md.set('cluster_id', cluster);
  const initial: Record<string, string> = {};
  return new Promise<GrpcReply>((resolve) => {
    const call = (client as unknown as { Export: ExportCall }).Export(Buffer.from(scoreProto(node, score, resource)), md, { deadline: Date.now() + 10_000 }, (err) => {
      client.close();
      resolve({ code: err ? err.code : 0, initial });
    });
    call.on('metadata', (m: grpc.Metadata) => {
      for (const [k, v] of Object.entries(m.getMap())) initial[k] = String(v);
    });
  });
}
