/**
 * Shared by the receiver's tests: a running service around the receiver, hand-built OTLP
 * requests, real HTTP and gRPC clients, decoders for the replies, and throwaway certificates.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Agent, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import type { Transform } from 'node:stream';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import {
  defineExporter,
  MetricsRegistry,
  silentLogger,
  Type,
  type Factory,
  type Logger,
  type MetricsBatch,
  type RequestContext,
  type Service,
} from '@skein/core';
import { startService, type Received } from '@skein/core/testing';
import otlp, { type OtlpReceiver } from '../src/index.ts';

/**
 * The exporter `sink`: records what it accepts; `fail` makes it refuse, `hold` makes every
 * consume wait (the context is recorded in `seen` before it waits).
 */
export function recordingExporter() {
  const received: Received[] = [];
  const seen: RequestContext[] = [];
  const control: { fail?: (batch: MetricsBatch) => Error | undefined; hold?: Promise<void> } = {};
  const factory = defineExporter({
    type: 'sink',
    description: 'Records every batch it receives (tests).',
    stability: 'development',
    configSchema: Type.Object({}, { additionalProperties: false }),
    create: () => ({
      async consume(batch: MetricsBatch, ctx: RequestContext) {
        seen.push(ctx);
        if (control.hold) await control.hold;
        const err = control.fail?.(batch);
        if (err) throw err;
        received.push({ batch, ctx });
      },
    }),
  });
  return { factory, received, seen, control };
}

export interface Harness {
  service: Service;
  receiver: OtlpReceiver;
  sink: ReturnType<typeof recordingExporter>;
  registry: MetricsRegistry;
  httpPort: number;
  grpcPort: number;
  /** `skein_receiver_requests_total` for one transport and outcome. */
  requests(transport: 'http' | 'grpc', outcome: string): number;
  stop(): Promise<void>;
}

/**
 * Starts `receivers: {otlp: {protocols: <protocols>}}` → `sink`, plus any extensions.
 * `protocols` is YAML, e.g. `{http: {endpoint: "127.0.0.1:0"}}`.
 */
export async function startOtlp(opts: {
  protocols: string;
  extensions?: string;
  extensionIds?: string[];
  factories?: Factory[];
  env?: Record<string, string>;
  logger?: Logger;
}): Promise<Harness> {
  let receiver: OtlpReceiver | undefined;
  const capturing: Factory = {
    ...otlp,
    create: async (settings, next) => {
      receiver = (await otlp.create(settings, next)) as OtlpReceiver;
      return receiver;
    },
  };
  const sink = recordingExporter();
  const registry = new MetricsRegistry();
  const yaml = `
extensions:
${opts.extensions ?? '  {}'}
receivers:
  otlp:
    protocols: ${opts.protocols}
exporters:
  sink: {}
service:
  extensions: [${(opts.extensionIds ?? []).join(', ')}]
  pipelines:
    metrics: {receivers: [otlp], exporters: [sink]}
`;
  const service = await startService(yaml, [capturing, sink.factory, ...(opts.factories ?? [])], {
    registry,
    logger: opts.logger ?? silentLogger,
    env: opts.env ?? {},
  });
  const r = receiver!;
  return {
    service,
    receiver: r,
    sink,
    registry,
    httpPort: r.httpAddress?.port ?? 0,
    grpcPort: r.grpcAddress?.port ?? 0,
    requests: (transport, outcome) => registry.sum('skein_receiver_requests_total', { receiver: 'otlp', transport, outcome }),
    stop: () => service.shutdown(),
  };
}

// ---------------------------------------------------------------------------------------------
// Requests

const TIME = 1_700_000_000_000_000_000;

/**
 * An ExportMetricsServiceRequest in protobuf: one resource (`service.name=agent`), one gauge
 * `name` with `points` valid points and `valueless` points with no value (which OTLP's
 * partial success rejects).
 */
export function metricsProto(opts: { points?: number; valueless?: number; name?: string } = {}): Uint8Array {
  const { points = 1, valueless = 0, name = 'health.score' } = opts;
  const w = protobuf.Writer.create();
  w.uint32(0x0a).fork(); // resource_metrics = 1
  w.uint32(0x0a).fork(); // resource = 1
  w.uint32(0x0a).fork(); // attributes = 1 (KeyValue)
  w.uint32(0x0a).string('service.name');
  w.uint32(0x12).fork().uint32(0x0a).string('agent').ldelim(); // value: AnyValue.string_value
  w.ldelim();
  w.ldelim();
  w.uint32(0x12).fork(); // scope_metrics = 2
  w.uint32(0x0a).fork().uint32(0x0a).string('test').ldelim(); // scope.name
  w.uint32(0x12).fork(); // metrics = 2
  w.uint32(0x0a).string(name);
  w.uint32(0x2a).fork(); // gauge = 5
  for (let i = 0; i < points; i++) {
    w.uint32(0x0a).fork(); // data_points = 1
    w.uint32(0x19).fixed64(TIME + i); // time_unix_nano = 3
    w.uint32(0x21).double(i / 10); // as_double = 4
    w.ldelim();
  }
  for (let i = 0; i < valueless; i++) {
    w.uint32(0x0a).fork().uint32(0x19).fixed64(TIME).ldelim();
  }
  w.ldelim();
  w.ldelim();
  w.ldelim();
  w.ldelim();
  return w.finish();
}

/** The same request in OTLP/JSON. */
export function metricsJson(opts: { points?: number; valueless?: number; name?: string } = {}): string {
  const { points = 1, valueless = 0, name = 'health.score' } = opts;
  const dataPoints: object[] = [];
  for (let i = 0; i < points; i++) dataPoints.push({ timeUnixNano: String(BigInt(TIME) + BigInt(i)), asDouble: i / 10 });
  for (let i = 0; i < valueless; i++) dataPoints.push({ timeUnixNano: String(TIME) });
  return JSON.stringify({
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'agent' } }] },
        scopeMetrics: [{ scope: { name: 'test' }, metrics: [{ name, gauge: { dataPoints } }] }],
      },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Replies

export interface DecodedStatus {
  code: number;
  message: string;
  /** From a google.rpc.RetryInfo detail, when there is one. */
  retryDelayMs?: number;
}

export function decodeStatusProto(bytes: Uint8Array): DecodedStatus {
  const r = protobuf.Reader.create(bytes);
  const out: DecodedStatus = { code: 0, message: '' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 0x08) out.code = r.int32();
    else if (tag === 0x12) out.message = r.string();
    else if (tag === 0x1a) {
      const end = r.uint32() + r.pos;
      let typeUrl = '';
      let value: Uint8Array = new Uint8Array(0);
      while (r.pos < end) {
        const t = r.uint32();
        if (t === 0x0a) typeUrl = r.string();
        else if (t === 0x12) value = r.bytes();
        else r.skipType(t & 7);
      }
      if (typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') out.retryDelayMs = decodeRetryInfo(value);
    } else r.skipType(tag & 7);
  }
  return out;
}

function decodeRetryInfo(bytes: Uint8Array): number {
  const r = protobuf.Reader.create(bytes);
  let ms = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag !== 0x0a) {
      r.skipType(tag & 7);
      continue;
    }
    const end = r.uint32() + r.pos;
    while (r.pos < end) {
      const t = r.uint32();
      if (t === 0x08) ms += Number(r.int64()) * 1000;
      else if (t === 0x10) ms += r.int32() / 1e6;
      else r.skipType(t & 7);
    }
  }
  return ms;
}

export function decodeStatusJson(text: string): DecodedStatus {
  const j = JSON.parse(text) as { code?: number; message?: string; details?: { '@type': string; retryDelay?: string }[] };
  const out: DecodedStatus = { code: j.code ?? 0, message: j.message ?? '' };
  const retry = j.details?.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo');
  if (retry?.retryDelay !== undefined) out.retryDelayMs = parseFloat(retry.retryDelay) * 1000;
  return out;
}

export interface DecodedResponse {
  rejectedDataPoints: number;
  errorMessage: string;
}

export function decodeResponseProto(bytes: Uint8Array): DecodedResponse {
  const out = { rejectedDataPoints: 0, errorMessage: '' };
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag !== 0x0a) {
      r.skipType(tag & 7);
      continue;
    }
    const end = r.uint32() + r.pos;
    while (r.pos < end) {
      const t = r.uint32();
      if (t === 0x08) out.rejectedDataPoints = Number(r.int64());
      else if (t === 0x12) out.errorMessage = r.string();
      else r.skipType(t & 7);
    }
  }
  return out;
}

export function decodeResponseJson(text: string): DecodedResponse {
  const j = JSON.parse(text) as { partialSuccess?: { rejectedDataPoints?: string | number; errorMessage?: string } };
  return { rejectedDataPoints: Number(j.partialSuccess?.rejectedDataPoints ?? 0), errorMessage: j.partialSuccess?.errorMessage ?? '' };
}

// ---------------------------------------------------------------------------------------------
// HTTP client

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export interface TlsClient {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** One request on its own connection (unless `agent` is given); the body may be omitted. */
export function send(
  port: number,
  opts: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: Uint8Array | string; agent?: Agent; tls?: TlsClient } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const base = {
      host: '127.0.0.1',
      port,
      method: opts.method ?? 'POST',
      path: opts.path ?? '/v1/metrics',
      headers: opts.headers ?? {},
      agent: opts.agent ?? false,
    };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    };
    const req = opts.tls
      ? httpsRequest({ ...base, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, servername: 'localhost' }, onResponse)
      : httpRequest(base, onResponse);
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A protobuf push; `body` defaults to one valid point. */
export function pushProto(port: number, body: Uint8Array = metricsProto(), headers: OutgoingHttpHeaders = {}, path = '/v1/metrics') {
  return send(port, { path, body, headers: { 'content-type': 'application/x-protobuf', ...headers } });
}

export function pushJson(port: number, body: string = metricsJson(), headers: OutgoingHttpHeaders = {}, path = '/v1/metrics') {
  return send(port, { path, body, headers: { 'content-type': 'application/json', ...headers } });
}

// ---------------------------------------------------------------------------------------------
// gRPC client

export const METRICS_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
export const TRACES_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
export const LOGS_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

const raw = (b: Buffer) => b;

export interface GrpcAnswer {
  response?: Buffer;
  error?: grpc.ServiceError;
  /** The server's initial metadata (middleware headers). */
  initial?: grpc.Metadata;
}

export type ExportClient = grpc.Client & {
  Export(body: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
};

/** A client for one Export method, from a hand-made service definition (bytes in, bytes out). */
export function grpcClient(port: number, opts: { path?: string; credentials?: grpc.ChannelCredentials; options?: grpc.ChannelOptions } = {}): ExportClient {
  const Client = grpc.makeGenericClientConstructor(
    {
      Export: {
        path: opts.path ?? METRICS_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    'Export',
  );
  const target = `${opts.credentials ? 'localhost' : '127.0.0.1'}:${port}`;
  return new Client(target, opts.credentials ?? grpc.credentials.createInsecure(), opts.options) as unknown as ExportClient;
}

export function grpcExport(client: ExportClient, body: Uint8Array = metricsProto(), metadata: Record<string, string> = {}): Promise<GrpcAnswer> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    const answer: GrpcAnswer = {};
    const call = client.Export(Buffer.from(body), md, { deadline: Date.now() + 20_000 }, (err, res) => {
      if (err) answer.error = err;
      else answer.response = res;
      resolve(answer);
    });
    call.on('metadata', (m) => (answer.initial = m));
  });
}

/** The google.rpc.Status in a gRPC error's `grpc-status-details-bin` trailer, if any. */
export function statusDetails(err: grpc.ServiceError): DecodedStatus | undefined {
  const [bin] = err.metadata.get('grpc-status-details-bin');
  return bin instanceof Buffer ? decodeStatusProto(bin) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Certificates

export interface Certs {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  ca: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  /** A client certificate signed by another CA. */
  strangerCert: Buffer;
  strangerKey: Buffer;
  remove(): void;
}

/** A throwaway CA, a server certificate for localhost/127.0.0.1 and client certificates, made with the openssl CLI. */
export function makeCerts(): Certs {
  const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));
  if (!openssl) throw new Error('the TLS tests need the openssl command (looked in /usr/bin and /usr/local/bin); install openssl');
  const dir = mkdtempSync(join(tmpdir(), 'skein-otlp-tls-'));
  const run = (...args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const ca = (name: string) => {
    key(name);
    run('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  };
  const leaf = (name: string, signer: string, ext: string) => {
    key(name);
    writeFileSync(join(dir, `${name}.ext`), ext);
    run('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  ca('ca');
  ca('stranger-ca');
  leaf('server', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n');
  const file = (n: string) => join(dir, n);
  return {
    dir,
    caFile: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    ca: readFileSync(file('ca.crt')),
    clientCert: readFileSync(file('client.crt')),
    clientKey: readFileSync(file('client.key')),
    strangerCert: readFileSync(file('stranger.crt')),
    strangerKey: readFileSync(file('stranger.key')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Waits until `check` holds, polling; fails after `ms`. For state reached asynchronously, not for timing. */
export async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `bytes` zeros, compressed as a stream so the test never holds them inflated. */
export async function bomb(make: () => Transform, bytes: number): Promise<Buffer> {
  const z = make();
  const chunks: Buffer[] = [];
  z.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => z.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < bytes; written += zeros.length) {
    if (!z.write(zeros)) await new Promise((resolve) => z.once('drain', resolve));
  }
  z.end();
  await ended;
  return Buffer.concat(chunks);
}
