/**
 * OTLP/HTTP: `POST <metrics_path>` with a protobuf or JSON body, answered in the same encoding
 * (OTLP spec, "OTLP/HTTP"). Error bodies are `google.rpc.Status`, JSON when the request's
 * content type is not one OTLP knows. Middlewares' routes share the port.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  formatHostPort,
  listen,
  MiddlewareRejection,
  nodeHttp,
  parseDuration,
  parseHostPort,
  parseSize,
  type Authenticator,
  type HttpRoute,
  type Logger,
  type RequestContext,
  type ServerRequest,
} from '@skein/core';
import { encodeMetricsResponseJson, encodeMetricsResponseProto, encodeStatusJson, encodeStatusProto } from './codec/index.ts';
import type { HttpConfig } from './config.ts';
import { BadCompressionError, BodyAbortedError, BodyTooLargeError, parseContentEncoding, readBody, SUPPORTED_ENCODINGS } from './decompress.ts';
import type { ReceiverMetrics } from './metrics.ts';
import type { TlsFiles } from './net.ts';
import { GrpcCode, isFailure, type Accepted, type Encoding, type Failure, type PushFront } from './push.ts';

const CONTENT_TYPES: Record<Encoding, string> = { proto: 'application/x-protobuf', json: 'application/json' };

/** The signals OTLP/HTTP defines that Skein does not carry, by default path. */
const OTHER_SIGNALS: ReadonlyMap<string, string> = new Map([
  ['/v1/traces', 'traces'],
  ['/v1/logs', 'logs'],
]);

/** Unread body a refused request may still send before the connection is closed instead of drained (Go's net/http uses the same). */
const MAX_DRAIN_BYTES = 256 * 1024;

/** How long a closing connection keeps reading (and discarding) after the reply, so the client can read it. */
const LINGER_MS = 1000;

/** How long shutdown waits for requests in flight before closing their connections. */
const DRAIN_TIMEOUT_MS = 5000;

export interface HttpServerOptions {
  receiverId: string;
  config: HttpConfig;
  tls?: TlsFiles;
  front: PushFront;
  /** Checks requests to the middlewares' routes too. */
  authenticator?: Authenticator;
  routes: HttpRoute[];
  metrics: ReceiverMetrics;
  logger: Logger;
}

export interface RunningServer {
  readonly address: { host: string; port: number };
  /** Stops accepting, lets requests in flight finish (bounded), closes idle connections. */
  close(): Promise<void>;
}

/** The encoding a request's `Content-Type` names (parameters ignored), or undefined. */
export function parseContentType(header: string | undefined): Encoding | undefined {
  if (header === undefined) return undefined;
  const semi = header.indexOf(';');
  const mime = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (mime === 'application/x-protobuf') return 'proto';
  if (mime === 'application/json') return 'json';
  return undefined;
}

export async function startHttpServer(o: HttpServerOptions): Promise<RunningServer> {
  const { config, front, metrics, logger, receiverId } = o;
  const limit = parseSize(config.max_request_body_size);
  const headersTimeout = parseDuration(config.read_header_timeout);
  const requestTimeout = parseDuration(config.request_timeout);
  const serverOptions = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: parseDuration(config.idle_timeout),
    // Node checks the two timeouts every interval (30 s by default), too coarse for short limits.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, headersTimeout / 4)),
  };
  let closing = false;
  const awaitingContinue = new WeakSet<IncomingMessage>();

  /** Writes one reply; it closes the connection when shutting down or when the rest of the body will not (or should not) be read. */
  function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array) {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    // One flat list for writeHead: Node then writes the head without a header map per reply.
    const head: string[] = [];
    for (const name in headers) {
      const value = headers[name]!;
      try {
        nodeHttp.validateHeaderName(name);
        nodeHttp.validateHeaderValue(name, value);
        head.push(name, value);
      } catch (err) {
        logger.warn('dropping a reply header with an invalid name or value', { header: name, err });
      }
    }
    head.push('Content-Length', String(length));
    // A client still waiting for 100 Continue will not send its body: the connection cannot be reused.
    if (awaitingContinue.has(req) || closing) head.push('Connection', 'close');
    else if (!req.complete && unreadBodyIsLarge(req)) {
      head.push('Connection', 'close');
      lingerAfterReply(req);
    }
    res.writeHead(status, head);
    // Node writes the head and a string body in one write(2), but a Buffer body in a writev(2)
    // after them, which costs a push several µs more; replies are small, so they go as latin1
    // text, byte for byte.
    if (length === 0) res.end();
    else if (typeof body === 'string') res.end(body);
    else res.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1'), 'latin1');
  }

  function sendFailure(req: IncomingMessage, res: ServerResponse, encoding: Encoding, f: Failure, headers: Record<string, string> = {}) {
    const status = { code: f.grpcCode, message: f.message, ...(f.retryAfterMs !== undefined && { retryDelayMs: f.retryAfterMs }) };
    const all: Record<string, string> = { ...headers, ...f.headers, 'content-type': CONTENT_TYPES[encoding] };
    if (f.retryAfterMs !== undefined) all['retry-after'] = String(Math.ceil(f.retryAfterMs / 1000));
    send(req, res, f.httpStatus, all, encoding === 'proto' ? encodeStatusProto(status) : encodeStatusJson(status));
  }

  function sendAccepted(req: IncomingMessage, res: ServerResponse, encoding: Encoding, a: Accepted, headers: Record<string, string>) {
    const body = encoding === 'proto' ? encodeMetricsResponseProto(a) : encodeMetricsResponseJson(a);
    send(req, res, 200, { ...headers, 'content-type': CONTENT_TYPES[encoding] }, body);
  }

  async function push(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, startedAt: number) {
    const replyEncoding = parseContentType(req.headers['content-type']) ?? 'json';
    const done = (f: Failure) => {
      sendFailure(req, res, replyEncoding, f);
      metrics.request('http', f.outcome, startedAt);
    };
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return done({
        outcome: 'method_not_allowed',
        httpStatus: 405,
        grpcCode: GrpcCode.UNIMPLEMENTED,
        message: `method ${req.method} is not allowed on ${path}; send metrics with POST`,
      });
    }
    const aborted = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) aborted.abort(new Error('the client closed the connection'));
    });
    const ctx: RequestContext = {
      transport: 'http',
      receiver: receiverId,
      peer: peerAddress(req),
      signal: aborted.signal,
    };
    const clusterId = query.get('cluster_id');
    if (clusterId !== null) ctx.clusterId = clusterId;
    if (config.include_headers.length > 0) ctx.headers = selectHeaders(req, config.include_headers);
    const sreq: ServerRequest = { transport: 'http', path, headers: requestHeaders(req), query, ctx };

    const refused = await front.admit(sreq);
    if (refused) return done(refused);

    const result = await readAndPush(req, res, ctx);
    if (result === undefined) {
      // The client is gone: nobody to answer.
      metrics.request('http', 'aborted', startedAt);
      return;
    }
    const headers = await front.replyHeaders(sreq, isFailure(result) ? { accepted: false, error: result.error } : { accepted: true });
    if (isFailure(result)) {
      sendFailure(req, res, replyEncoding, result, headers);
      metrics.request('http', result.outcome, startedAt);
    } else {
      sendAccepted(req, res, replyEncoding, result, headers);
      metrics.request('http', result.rejectedDataPoints > 0 ? 'partial' : 'accepted', startedAt);
    }
  }

  /** The push's answer, or undefined when the client went away mid-body. */
  async function readAndPush(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<Accepted | Failure | undefined> {
    const rawType = req.headers['content-type'];
    const encoding = parseContentType(rawType);
    if (encoding === undefined) {
      const named = rawType === undefined ? 'no content type' : `unsupported content type ${JSON.stringify(rawType)}`;
      return { outcome: 'unsupported', httpStatus: 415, grpcCode: GrpcCode.INVALID_ARGUMENT, message: `${named}; send application/x-protobuf or application/json` };
    }
    const rawEncoding = req.headers['content-encoding'];
    const compression = parseContentEncoding(rawEncoding);
    if (compression === undefined) {
      return {
        outcome: 'unsupported',
        httpStatus: 415,
        grpcCode: GrpcCode.INVALID_ARGUMENT,
        message: `unsupported content encoding ${JSON.stringify(rawEncoding)}; use ${SUPPORTED_ENCODINGS}`,
      };
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return tooLarge(new BodyTooLargeError(limit, 'wire'));
    // Only now ask a client that waits (`Expect: 100-continue`) for its body: every refusal
    // above is answered without the body ever being sent.
    if (awaitingContinue.delete(req)) res.writeContinue();
    let body: Buffer;
    try {
      body = await readBody(req, compression, limit);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return tooLarge(err);
      if (err instanceof BadCompressionError) return { outcome: 'invalid', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT, message: err.message };
      if (err instanceof BodyAbortedError) return undefined;
      throw err;
    }
    return front.push(body, encoding, ctx);
  }

  async function route(req: IncomingMessage, res: ServerResponse, r: HttpRoute, path: string, query: URLSearchParams) {
    if (o.authenticator) {
      const ctx: RequestContext = { transport: 'http', receiver: receiverId, peer: peerAddress(req) };
      try {
        ctx.principal = await o.authenticator.authenticate({ transport: 'http', path, headers: requestHeaders(req), query, ctx });
      } catch (err) {
        if (!(err instanceof MiddlewareRejection)) logger.error('the authenticator failed', { err });
        return sendFailure(req, res, 'json', routeAuthFailure(err));
      }
    }
    const url = new URL('http://receiver');
    url.pathname = path;
    url.search = query.toString();
    if (awaitingContinue.delete(req)) res.writeContinue();
    await r.handle(req, res, url);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const startedAt = performance.now();
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    if (path === config.metrics_path) return push(req, res, path, query, startedAt);

    const signal = OTHER_SIGNALS.get(path);
    if (signal !== undefined) {
      const f: Failure = {
        outcome: 'no_pipeline',
        httpStatus: 404,
        grpcCode: GrpcCode.UNIMPLEMENTED,
        message: `no ${signal} pipeline is configured: receiver ${receiverId} takes metrics only, at ${config.metrics_path}`,
      };
      sendFailure(req, res, parseContentType(req.headers['content-type']) ?? 'json', f);
      metrics.request('http', f.outcome, startedAt);
      return;
    }

    const matches = o.routes.filter((r) => r.path === path);
    const r = matches.find((m) => m.method === req.method || (m.method === 'GET' && req.method === 'HEAD'));
    if (r) return route(req, res, r, path, query);
    if (matches.length > 0) {
      res.setHeader('Allow', [...new Set(matches.map((m) => m.method))].join(', '));
      return sendFailure(req, res, 'json', {
        outcome: 'method_not_allowed',
        httpStatus: 405,
        grpcCode: GrpcCode.UNIMPLEMENTED,
        message: `method ${req.method} is not allowed on ${path}`,
      });
    }
    sendFailure(req, res, parseContentType(req.headers['content-type']) ?? 'json', {
      outcome: 'unsupported',
      httpStatus: 404,
      grpcCode: GrpcCode.UNIMPLEMENTED,
      message: `not found: ${path}; push metrics with POST ${config.metrics_path}`,
    });
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('failed to answer an HTTP request', { path: req.url, err });
      if (!res.headersSent) {
        sendFailure(req, res, 'json', { outcome: 'error', httpStatus: 500, grpcCode: GrpcCode.INTERNAL, message: 'internal error' });
      } else {
        res.destroy();
      }
    });
  };

  const server: Server = o.tls
    ? createHttpsServer(
        {
          ...serverOptions,
          cert: o.tls.cert,
          key: o.tls.key,
          ...(o.tls.ca && { ca: o.tls.ca, requestCert: true, rejectUnauthorized: true }),
        },
        onRequest,
      )
    : nodeHttp.createServer(serverOptions, onRequest);
  server.keepAliveTimeout = serverOptions.keepAliveTimeout;
  // Node would answer `Expect: 100-continue` at once; the push decides when (readAndPush).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    onRequest(req, res);
  });

  const { host, port } = parseHostPort(config.endpoint);
  await listen(server, { host, port, what: 'OTLP/HTTP' });
  server.on('error', (err) => logger.error('OTLP/HTTP server error', { err }));
  if (o.tls) {
    server.on('tlsClientError', (err) => logger.debug('TLS handshake failed', { err }));
  }
  const info = server.address() as AddressInfo;
  const address = { host: info.address, port: info.port };

  let closed: Promise<void> | undefined;
  return {
    address,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        const timer = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

/** A route's authentication failure: the rejection's own status, or 500 when the authenticator broke. */
function routeAuthFailure(err: unknown): Failure {
  if (err instanceof MiddlewareRejection) {
    return { outcome: 'unauthenticated', httpStatus: err.httpStatus, grpcCode: err.grpcCode, message: err.message, headers: err.headers };
  }
  return { outcome: 'error', httpStatus: 500, grpcCode: GrpcCode.INTERNAL, message: 'authentication failed' };
}

function tooLarge(err: BodyTooLargeError): Failure {
  return { outcome: 'too_large', httpStatus: 413, grpcCode: GrpcCode.RESOURCE_EXHAUSTED, message: err.message };
}

/**
 * Ends the connection after this reply without a TCP reset (RFC 9112 §9.6): Node destroys a
 * `Connection: close` socket as soon as the reply is flushed, and a client still sending its
 * body would then get a reset that can wipe the reply before it reads it. Instead: stop writing,
 * keep discarding what arrives for LINGER_MS (or until the client closes), then close.
 */
function lingerAfterReply(req: IncomingMessage) {
  const socket = req.socket as Socket & { destroySoon?: () => void };
  socket.destroySoon = () => {
    socket.end();
    req.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

function peerAddress(req: IncomingMessage): string | undefined {
  const { remoteAddress, remotePort } = req.socket;
  return remoteAddress === undefined || remotePort === undefined ? undefined : formatHostPort(remoteAddress, remotePort);
}

function unreadBodyIsLarge(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  // Chunked: no telling how much is left.
  if (length === undefined) return req.headers['transfer-encoding'] !== undefined;
  return Number(length) > MAX_DRAIN_BYTES;
}

function requestHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function selectHeaders(req: IncomingMessage, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const name = n.toLowerCase();
    const value = req.headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
