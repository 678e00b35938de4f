/**
 * Test helpers: a decoder built by protobufjs from ../proto (independent of the hand-written
 * encoder), and the one fake these tests allow, a mock remote-write receiver on loopback whose
 * answers each test scripts.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '@skein/core';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';

const protoDir = fileURLToPath(new URL('../proto/', import.meta.url));
const v1Root = protobuf.loadSync(protoDir + 'remote-write-v1.proto');
const v2Root = protobuf.loadSync(protoDir + 'remote-write-v2.proto');
const WriteRequest = v1Root.lookupType('prometheus.WriteRequest');
const V2Request = v2Root.lookupType('io.prometheus.write.v2.Request');
const toObject = { longs: Number, enums: Number, defaults: true, arrays: true, oneofs: true } as const;

export interface DecodedHistogram {
  countInt: number;
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCountInt: number;
  negativeSpans: { offset: number; length: number }[];
  negativeDeltas: number[];
  positiveSpans: { offset: number; length: number }[];
  positiveDeltas: number[];
  resetHint: number;
  timestamp: number;
}

export interface DecodedSeries {
  /** In wire order. */
  labels: [string, string][];
  samples: { value: number; timestamp: number }[];
  histograms: DecodedHistogram[];
  /** 2.0 only. */
  metadata?: { type: number; help: string; unit: string };
  createdTimestamp?: number;
}

export interface DecodedRequest {
  protocol: 'v1' | 'v2';
  series: DecodedSeries[];
  /** 1.0 MetricMetadata, when sent. */
  metadata: { type: number; metricFamilyName: string; help: string; unit: string }[];
  /** 2.0 symbols table. */
  symbols?: string[];
}

export function decodeV1(body: Uint8Array): DecodedRequest {
  const o = WriteRequest.toObject(WriteRequest.decode(body), toObject) as {
    timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[]; histograms: DecodedHistogram[] }[];
    metadata: DecodedRequest['metadata'];
  };
  return {
    protocol: 'v1',
    series: o.timeseries.map((t) => ({ labels: t.labels.map((l) => [l.name, l.value]), samples: t.samples, histograms: t.histograms })),
    metadata: o.metadata,
  };
}

export function decodeV2(body: Uint8Array): DecodedRequest {
  const o = V2Request.toObject(V2Request.decode(body), toObject) as {
    symbols: string[];
    timeseries: {
      labelsRefs: number[];
      samples: { value: number; timestamp: number }[];
      histograms: DecodedHistogram[];
      metadata: { type: number; helpRef: number; unitRef: number };
      createdTimestamp: number;
    }[];
  };
  const sym = (i: number) => {
    if (i >= o.symbols.length) throw new Error(`symbol ref ${i} out of range (${o.symbols.length} symbols)`);
    return o.symbols[i]!;
  };
  return {
    protocol: 'v2',
    symbols: o.symbols,
    metadata: [],
    series: o.timeseries.map((t) => {
      const labels: [string, string][] = [];
      for (let i = 0; i < t.labelsRefs.length; i += 2) labels.push([sym(t.labelsRefs[i]!), sym(t.labelsRefs[i + 1]!)]);
      return {
        labels,
        samples: t.samples,
        histograms: t.histograms,
        metadata: { type: t.metadata.type, help: sym(t.metadata.helpRef), unit: sym(t.metadata.unitRef) },
        createdTimestamp: t.createdTimestamp,
      };
    }),
  };
}

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  /** Milliseconds since the receiver started, when the request ended. */
  at: number;
  body: DecodedRequest;
  /** The request body as sent (compressed). */
  raw: Uint8Array;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer this long after the request arrived (a slow store). */
  delayMs?: number;
}

/** Decides each answer: `n` counts every request the receiver got, from 0. */
export type Responder = (req: ReceivedRequest, n: number) => Reply;

/** A good answer: 204, with the 2.0 `*-Written` headers for a 2.0 request. */
export function accept(req: ReceivedRequest): Reply {
  if (req.body.protocol === 'v1') return { status: 204 };
  let samples = 0;
  let histograms = 0;
  for (const s of req.body.series) {
    samples += s.samples.length;
    histograms += s.histograms.length;
  }
  return {
    status: 204,
    headers: {
      'X-Prometheus-Remote-Write-Samples-Written': String(samples),
      'X-Prometheus-Remote-Write-Histograms-Written': String(histograms),
      'X-Prometheus-Remote-Write-Exemplars-Written': '0',
    },
  };
}

export interface MockReceiver {
  url: string;
  /** Every request, in arrival order, whatever it was answered. */
  requests: ReceivedRequest[];
  /** Requests answered 2xx. */
  accepted(): ReceivedRequest[];
  respond: Responder;
  /** Resolves once `n` requests have been answered 2xx, or rejects after `ms`. */
  waitForAccepted(n: number, ms?: number): Promise<void>;
  /** Resolves once `n` requests have arrived, or rejects after `ms`. */
  waitForRequests(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startMockReceiver(respond: Responder = accept, opts: { tls?: { key: Buffer; cert: Buffer } } = {}): Promise<MockReceiver> {
  const started = performance.now();
  const requests: ReceivedRequest[] = [];
  const acceptedSet = new Set<ReceivedRequest>();
  const waiters: (() => void)[] = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  let server: Server;
  const mock: MockReceiver = {
    url: '',
    requests,
    respond,
    accepted: () => requests.filter((r) => acceptedSet.has(r)),
    waitForAccepted: (n, ms = 10_000) => until(() => acceptedSet.size >= n, ms, `${n} accepted requests (got ${acceptedSet.size})`),
    waitForRequests: (n, ms = 10_000) => until(() => requests.length >= n, ms, `${n} requests (got ${requests.length})`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const until = (done: () => boolean, ms: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      const timer = setTimeout(() => reject(new Error(`mock receiver: timed out waiting for ${what}`)), ms);
      check();
    });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = new Uint8Array(Buffer.concat(chunks));
      const plain = snappy.uncompress(raw);
      const v2 = String(req.headers['content-type']).includes('io.prometheus.write.v2.Request');
      const received: ReceivedRequest = { headers: req.headers, at: performance.now() - started, raw, body: v2 ? decodeV2(plain) : decodeV1(plain) };
      requests.push(received);
      const reply = mock.respond(received, requests.length - 1);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body ?? '');
        if (reply.status >= 200 && reply.status < 300) acceptedSet.add(received);
        notify();
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
      notify();
    });
  };
  server = opts.tls ? createTlsServer(opts.tls, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mock.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`;
  return mock;
}

/** A logger that keeps every line as an object, for tests that read what was logged. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Polls `check` every 20 ms until it is true, failing with `what` after `ms`. */
export async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
