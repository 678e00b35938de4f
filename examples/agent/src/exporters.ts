/**
 * OTLP metric exporters for the OpenTelemetry JS SDK that, unlike the stock ones, hand the
 * reply's threshold headers back to the agent.
 *
 * The SDK's exporters (`@opentelemetry/exporter-metrics-otlp-http`, `-grpc`) resolve with an
 * ExportResult only: the HTTP one sends with node:http inside otlp-exporter-base (so wrapping
 * `globalThis.fetch` sees nothing) and the gRPC one never surfaces the call's metadata. Rather
 * than reach into their internals, these two do the small part that matters here themselves:
 * serialise with the SDK's own `ProtobufMetricsSerializer` (the bytes the stock exporters send),
 * then POST with fetch, or call `MetricsService/Export` with grpc-js, and read the headers or
 * the initial metadata. Everything else (instruments, the periodic reader, resources) is the SDK.
 *
 * What they leave out: retries within an interval (the next interval pushes the newest score
 * anyway), compression, TLS.
 */
import * as grpc from '@grpc/grpc-js';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** What a reply (or the API) says about the agent's cluster. */
export interface ThresholdReply {
  threshold: number;
  quorumMet: boolean;
}

/** Reply header names; these are Skein's defaults (and the Ingero fleet protocol's). */
export interface HeaderNames {
  threshold: string;
  quorum: string;
}

export const DEFAULT_HEADERS: HeaderNames = { threshold: 'ingero-threshold', quorum: 'ingero-quorum-met' };

/** How a push ended, with the threshold its reply carried (undefined when it carried none). */
export interface PushResult {
  ok: boolean;
  /** `HTTP 503`, `gRPC UNAVAILABLE: …`, or a network error; undefined when ok. */
  error?: string;
  reply: ThresholdReply | undefined;
}

type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];
/** `ExportResultCode` of `@opentelemetry/core`. */
const SUCCESS = 0;
const FAILED = 1;

/** The threshold and quorum from two header values; undefined unless both are well formed. */
export function parseThresholdHeaders(threshold: string | null | undefined, quorum: string | null | undefined): ThresholdReply | undefined {
  if (threshold == null || quorum == null || threshold.trim() === '') return undefined;
  const value = Number(threshold);
  if (!Number.isFinite(value) || (quorum !== 'true' && quorum !== 'false')) return undefined;
  return { threshold: value, quorumMet: quorum === 'true' };
}

function serialize(metrics: ResourceMetrics): Uint8Array {
  const bytes = ProtobufMetricsSerializer.serializeRequest(metrics);
  if (!bytes) throw new Error('the OTLP serializer returned nothing');
  return bytes;
}

interface ExporterOptions {
  cluster: string;
  headers?: HeaderNames;
  timeoutMs: number;
  /** Called once per push, before the SDK is told how it ended. */
  onPush(result: PushResult): void;
}

/** OTLP/HTTP protobuf to `<endpoint>/v1/metrics?cluster_id=<cluster>`, with fetch. */
export class HttpThresholdExporter implements PushMetricExporter {
  readonly #url: string;
  readonly #o: ExporterOptions;
  readonly #names: HeaderNames;
  #pending = new Set<Promise<void>>();

  constructor(endpoint: string, o: ExporterOptions) {
    const url = new URL('/v1/metrics', endpoint);
    url.searchParams.set('cluster_id', o.cluster);
    this.#url = url.href;
    this.#o = o;
    this.#names = o.headers ?? DEFAULT_HEADERS;
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    const push = this.#push(metrics).then((result) => {
      this.#o.onPush(result);
      done(result.ok ? { code: SUCCESS } : { code: FAILED, error: new Error(result.error) });
    });
    this.#pending.add(push);
    void push.finally(() => this.#pending.delete(push));
  }

  async #push(metrics: ResourceMetrics): Promise<PushResult> {
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: serialize(metrics),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      await res.arrayBuffer();
      const reply = parseThresholdHeaders(res.headers.get(this.#names.threshold), res.headers.get(this.#names.quorum));
      return res.ok ? { ok: true, reply } : { ok: false, error: `HTTP ${res.status}`, reply };
    } catch (err) {
      return { ok: false, error: errorText(err), reply: undefined };
    }
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  shutdown(): Promise<void> {
    return this.forceFlush();
  }
}

const raw = (b: Buffer) => b;
/** `MetricsService/Export` with bytes in and out: the request is serialised by the SDK already. */
const ExportClient = grpc.makeGenericClientConstructor(
  {
    Export: {
      path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
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

/** OTLP/gRPC to `host:port` with metadata `cluster_id`, reading the reply's initial metadata. */
export class GrpcThresholdExporter implements PushMetricExporter {
  readonly #client: grpc.Client;
  readonly #export: ExportCall;
  readonly #o: ExporterOptions;
  readonly #names: HeaderNames;
  #pending = new Set<Promise<void>>();

  /** `target` is `host:port`; an `http://` prefix is accepted and dropped. */
  constructor(target: string, o: ExporterOptions) {
    this.#client = new ExportClient(target.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure());
    this.#export = (this.#client as unknown as { Export: ExportCall }).Export.bind(this.#client);
    this.#o = o;
    this.#names = o.headers ?? DEFAULT_HEADERS;
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    const push = this.#push(metrics).then((result) => {
      this.#o.onPush(result);
      done(result.ok ? { code: SUCCESS } : { code: FAILED, error: new Error(result.error) });
    });
    this.#pending.add(push);
    void push.finally(() => this.#pending.delete(push));
  }

  #push(metrics: ResourceMetrics): Promise<PushResult> {
    return new Promise((resolve) => {
      const md = new grpc.Metadata();
      md.set('cluster_id', this.#o.cluster);
      let reply: ThresholdReply | undefined;
      try {
        const call = this.#export(Buffer.from(serialize(metrics)), md, { deadline: Date.now() + this.#o.timeoutMs }, (err) => {
          resolve(err ? { ok: false, error: `gRPC ${grpc.status[err.code]}: ${err.details}`, reply } : { ok: true, reply });
        });
        // Initial metadata arrives before the reply (or the error status), so `reply` is set by then.
        call.on('metadata', (m: grpc.Metadata) => {
          const text = (key: string) => {
            const [v] = m.get(key);
            return v === undefined ? undefined : String(v);
          };
          reply = parseThresholdHeaders(text(this.#names.threshold), text(this.#names.quorum));
        });
      } catch (err) {
        resolve({ ok: false, error: errorText(err), reply: undefined });
      }
    });
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    this.#client.close();
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
