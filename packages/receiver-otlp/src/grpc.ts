/**
 * OTLP/gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` (OTLP spec,
 * "OTLP/gRPC"). The service definition is written by hand so the request arrives as raw bytes
 * and is decoded once, by the codec; the trace and logs services answer UNIMPLEMENTED.
 */
import * as grpc from '@grpc/grpc-js';
import { formatHostPort, parseDuration, parseHostPort, parseSize, SkeinError, type Logger, type RequestContext, type ServerRequest } from '@skein/core';
import { encodeMetricsResponseProto, encodeStatusProto } from './codec/index.ts';
import type { GrpcConfig } from './config.ts';
import type { RunningServer } from './http.ts';
import type { ReceiverMetrics } from './metrics.ts';
import type { TlsFiles } from './net.ts';
import { GrpcCode, isFailure, type Accepted, type Failure, type Outcome, type PushFront } from './push.ts';

export const METRICS_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

const OTHER_SIGNALS = [
  { signal: 'traces', path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export' },
  { signal: 'logs', path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export' },
] as const;

/** How long shutdown waits for calls in flight before cutting them off. */
const DRAIN_TIMEOUT_MS = 5000;

const raw = (b: Buffer) => b;

function exportService(path: string, serializeResponse: (r: Accepted) => Buffer): grpc.ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: serializeResponse,
      responseDeserialize: raw,
    },
  };
}

export interface GrpcServerOptions {
  receiverId: string;
  config: GrpcConfig;
  tls?: TlsFiles;
  front: PushFront;
  metrics: ReceiverMetrics;
  logger: Logger;
}

/** grpc-js answers some calls before the handler runs (message too large, bad compression). */
function earlyOutcome(code: number): Outcome {
  if (code === GrpcCode.RESOURCE_EXHAUSTED) return 'too_large';
  if (code === grpc.status.CANCELLED || code === GrpcCode.DEADLINE_EXCEEDED) return 'aborted';
  if (code === GrpcCode.INTERNAL) return 'invalid';
  return 'error';
}

function serverOptions(config: GrpcConfig, metrics: ReceiverMetrics): grpc.ServerOptions {
  const ms = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d));
  const k = config.keepalive.server_parameters;
  const options: grpc.ServerOptions = {
    'grpc.max_receive_message_length': parseSize(config.max_recv_msg_size),
    interceptors: [
      (_method, call) => {
        const startedAt = performance.now();
        let handled = false;
        // grpc-js refuses some calls itself (message too large, bad compression) inside its base
        // call, past every interceptor's responder; watching the base call's sendStatus is the
        // one place to count them. grpc.test.ts fails if a grpc-js update moves it.
        const base = call as grpc.ServerInterceptingCallInterface;
        const sendStatus = base.sendStatus.bind(base);
        base.sendStatus = (status) => {
          if (!handled) metrics.request('grpc', earlyOutcome(status.code), startedAt);
          sendStatus(status);
        };
        return new grpc.ServerInterceptingCall(call, {
          start: (next) =>
            next({
              onReceiveMessage: (message, pass) => {
                handled = true;
                pass(message);
              },
            }),
        });
      },
    ],
  };
  const set = (key: string, value: number | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('grpc.max_concurrent_streams', config.max_concurrent_streams);
  set('grpc.max_connection_idle_ms', ms(k.max_connection_idle));
  set('grpc.max_connection_age_ms', ms(k.max_connection_age));
  set('grpc.max_connection_age_grace_ms', ms(k.max_connection_age_grace));
  set('grpc.keepalive_time_ms', ms(k.time));
  set('grpc.keepalive_timeout_ms', ms(k.timeout));
  return options;
}

export async function startGrpcServer(o: GrpcServerOptions): Promise<RunningServer> {
  const { config, front, metrics, logger, receiverId } = o;
  const server = new grpc.Server(serverOptions(config, metrics));

  const exportMetrics: grpc.handleUnaryCall<Buffer, Accepted> = (call, callback) => {
    const startedAt = performance.now();
    handleExport(call, callback, startedAt).catch((err: unknown) => {
      logger.error('failed to answer a gRPC export', { err });
      callback({ code: GrpcCode.INTERNAL, details: 'internal error' });
      metrics.request('grpc', 'error', startedAt);
    });
  };

  async function handleExport(call: grpc.ServerUnaryCall<Buffer, Accepted>, callback: grpc.sendUnaryData<Accepted>, startedAt: number) {
    const aborted = new AbortController();
    call.once('cancelled', () => aborted.abort(new Error('the client cancelled the call or its deadline passed')));
    const headers = metadataHeaders(call.metadata);
    const ctx: RequestContext = { transport: 'grpc', receiver: receiverId, peer: peerAddress(call.getPeer()), signal: aborted.signal };
    const clusterId = headers['cluster_id'] ?? headers['cluster-id'];
    if (clusterId !== undefined) ctx.clusterId = clusterId;
    if (config.include_headers.length > 0) ctx.headers = pick(headers, config.include_headers);
    const sreq: ServerRequest = { transport: 'grpc', path: call.getPath(), headers, query: new URLSearchParams(), ctx };

    const refused = await front.admit(sreq);
    if (refused) {
      callback(serviceError(refused));
      metrics.request('grpc', refused.outcome, startedAt);
      return;
    }
    const result = await front.push(call.request, 'proto', ctx);
    const reply = await front.replyHeaders(sreq, isFailure(result) ? { accepted: false, error: result.error } : { accepted: true });
    const initial = toMetadata(reply, logger);
    if (initial) call.sendMetadata(initial);
    if (isFailure(result)) {
      callback(serviceError(result));
      metrics.request('grpc', result.outcome, startedAt);
    } else {
      callback(null, result);
      metrics.request('grpc', result.rejectedDataPoints > 0 ? 'partial' : 'accepted', startedAt);
    }
  }

  server.addService(exportService(METRICS_EXPORT_PATH, (r) => Buffer.from(encodeMetricsResponseProto(r))), { Export: exportMetrics });
  for (const { signal, path } of OTHER_SIGNALS) {
    const unimplemented: grpc.handleUnaryCall<Buffer, Accepted> = (_call, callback) => {
      const startedAt = performance.now();
      callback({
        code: GrpcCode.UNIMPLEMENTED,
        details: `no ${signal} pipeline is configured: receiver ${receiverId} takes metrics only`,
      });
      metrics.request('grpc', 'no_pipeline', startedAt);
    };
    server.addService(exportService(path, () => Buffer.alloc(0)), { Export: unimplemented });
  }

  const credentials = o.tls
    ? grpc.ServerCredentials.createSsl(o.tls.ca ?? null, [{ private_key: o.tls.key, cert_chain: o.tls.cert }], o.tls.ca !== undefined)
    : grpc.ServerCredentials.createInsecure();
  const { host, port } = parseHostPort(config.endpoint);
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(formatHostPort(host, port), credentials, (err, p) => {
      if (err) reject(new SkeinError('SKEIN_ERR_COMPONENT_START', `cannot serve OTLP/gRPC on ${config.endpoint}: ${err.message}`, { cause: err }));
      else resolve(p);
    });
  });

  let closed: Promise<void> | undefined;
  return {
    address: { host, port: boundPort },
    close() {
      closed ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), DRAIN_TIMEOUT_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closed;
    },
  };
}

/** The Status of a refused call; retryable ones carry a RetryInfo in `grpc-status-details-bin`. */
function serviceError(f: Failure): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (f.retryAfterMs !== undefined) {
    const details = encodeStatusProto({ code: f.grpcCode, message: f.message, retryDelayMs: f.retryAfterMs });
    metadata.set('grpc-status-details-bin', Buffer.from(details));
  }
  return { code: f.grpcCode, details: f.message, metadata };
}

/** Text metadata as lowercase headers; several values of one key are joined with `, `. */
function metadataHeaders(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(md.getMap())) {
    if (key.endsWith('-bin')) continue;
    out[key] = md.get(key).map(String).join(', ');
  }
  return out;
}

function pick(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const value = headers[n.toLowerCase()];
    if (value !== undefined) out[n.toLowerCase()] = value;
  }
  return out;
}

function toMetadata(headers: Record<string, string>, logger: Logger): grpc.Metadata | undefined {
  const entries = Object.entries(headers);
  if (entries.length === 0) return undefined;
  const md = new grpc.Metadata();
  for (const [key, value] of entries) {
    try {
      md.set(key, value);
    } catch (err) {
      logger.warn('dropping reply metadata with an invalid key or value', { key, err });
    }
  }
  return md;
}

/** grpc-js gives `host:port` without brackets for IPv6; the context wants `[host]:port`. */
function peerAddress(peer: string): string {
  const colon = peer.lastIndexOf(':');
  if (colon < 0 || peer.startsWith('[')) return peer;
  const host = peer.slice(0, colon);
  return host.includes(':') ? `[${host}]:${peer.slice(colon + 1)}` : peer;
}
