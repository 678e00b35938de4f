/**
 * OTLP/gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` (OTLP spec,
 * "OTLP/gRPC"), served on node:http2 directly. A unary call is one HEADERS frame, one
 * length-prefixed message and an answer of headers, one message and trailers (the gRPC over
 * HTTP/2 protocol); the message arrives as bytes and is decoded once, by the codec. The trace
 * and logs services answer UNIMPLEMENTED. See docs/architecture.md for why this is not grpc-js.
 */
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { formatHostPort, listen, parseDuration, parseHostPort, parseSize, type Logger, type RequestContext, type ServerRequest } from '@skein/core';
import { encodeMetricsResponseProto, encodeStatusProto } from './codec/index.ts';
import type { GrpcConfig } from './config.ts';
import { BodyTooLargeError, inflateMessage } from './decompress.ts';
import type { RunningServer } from './http.ts';
import type { ReceiverMetrics } from './metrics.ts';
import type { TlsFiles } from './net.ts';
import { GrpcCode, isFailure, type Failure, type Outcome, type PushFront } from './push.ts';

export const METRICS_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

const OTHER_SIGNALS: ReadonlyMap<string, string> = new Map([
  ['/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'traces'],
  ['/opentelemetry.proto.collector.logs.v1.LogsService/Export', 'logs'],
]);

/** How long shutdown waits for calls in flight before cutting their connections. */
const DRAIN_TIMEOUT_MS = 5000;
/** A connection must finish its TLS handshake and send the HTTP/2 preface within this. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const ACCEPT_ENCODING = 'identity,deflate,gzip';
const { NGHTTP2_NO_ERROR } = http2.constants;
/** Custom metadata keys as gRPC allows them, and printable ASCII values. */
const METADATA_KEY = /^[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;

export interface GrpcServerOptions {
  receiverId: string;
  config: GrpcConfig;
  tls?: TlsFiles;
  front: PushFront;
  metrics: ReceiverMetrics;
  logger: Logger;
}

/** A call answered with a status before it reached the pipeline. */
interface CallStatus {
  outcome: Outcome;
  code: number;
  message: string;
}

const status = (outcome: Outcome, code: number, message: string): CallStatus => ({ outcome, code, message });

/** `grpc-timeout`: up to 8 digits and a unit (gRPC over HTTP/2, "Timeout"); milliseconds. */
const TIMEOUT_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * TIMEOUT_UNITS_MS[m[2]!]! : undefined;
}

/** `grpc-message` is percent-encoded UTF-8: every byte outside printable ASCII, and `%` itself. */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Prefixes a message with its 5-byte header: not compressed, then its length. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The peer as `host:port`, with brackets for IPv6. */
function peerOf(session: http2.Http2Session | undefined): string | undefined {
  const { remoteAddress: host, remotePort: port } = session?.socket ?? {};
  return host === undefined || port === undefined ? undefined : formatHostPort(host, port);
}

/** Request headers as metadata: lowercase keys, no pseudo-headers or transport headers, no binary values. */
const TRANSPORT_HEADERS = new Set(['content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding']);
function metadataHeaders(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* : */ || key.endsWith('-bin') || TRANSPORT_HEADERS.has(key)) continue;
    const value = headers[key];
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : value;
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

export async function startGrpcServer(o: GrpcServerOptions): Promise<RunningServer> {
  const { config, front, metrics, logger, receiverId } = o;
  const limit = parseSize(config.max_recv_msg_size);
  const k = config.keepalive.server_parameters;
  const ms = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d));
  const keepalive = { time: ms(k.time) ?? 2 * 3_600_000, timeout: ms(k.timeout) ?? 20_000 };
  const idleMs = ms(k.max_connection_idle);
  const ageMs = ms(k.max_connection_age);
  const ageGraceMs = ms(k.max_connection_age_grace);
  const settings: http2.Settings = { maxConcurrentStreams: config.max_concurrent_streams };
  const server = o.tls
    ? http2.createSecureServer({
        cert: o.tls.cert,
        key: o.tls.key,
        ...(o.tls.ca && { ca: o.tls.ca, requestCert: true, rejectUnauthorized: true }),
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        settings,
      })
    : http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  /** Sessions whose client has sent its preface and SETTINGS. */
  const settled = new WeakSet<http2.ServerHttp2Session>();
  /** The session the server made last: the one for the socket its connection event carries. */
  let newest: http2.ServerHttp2Session | undefined;
  const sockets = new WeakMap<http2.ServerHttp2Session, Socket>();
  /**
   * Cuts a connection at once. Destroying a session whose peer stopped reading (or never sent
   * its preface) can leave the socket open, so the socket itself is reset.
   */
  const cut = (session: http2.ServerHttp2Session) => {
    // The socket first: once the session is destroyed, resetting the socket no longer closes it.
    sockets.get(session)?.resetAndDestroy();
    session.destroy();
  };
  let closing = false;

  /** Keepalive pings, and the idle and age limits, for one connection. */
  function watchSession(session: http2.ServerHttp2Session) {
    sessions.add(session);
    const timers: NodeJS.Timeout[] = [];
    const after = (delay: number, fn: () => void) => timers.push(setTimeout(fn, delay).unref());
    const every = (delay: number, fn: () => void) => timers.push(setInterval(fn, delay).unref());
    newest = session;
    session.once('remoteSettings', () => settled.add(session));
    every(keepalive.time, () => {
      // A session can be destroyed a moment before its close event clears these timers.
      if (session.destroyed) return;
      const deadline = setTimeout(() => cut(session), keepalive.timeout).unref();
      // false: too many pings unanswered already; the deadline of an earlier one stands.
      if (!session.ping(() => clearTimeout(deadline))) clearTimeout(deadline);
    });
    if (ageMs !== undefined) {
      after(ageMs, () => {
        session.close();
        if (ageGraceMs !== undefined) after(ageGraceMs, () => cut(session));
      });
    }
    if (idleMs !== undefined) {
      let idle: NodeJS.Timeout | undefined;
      let active = 0;
      const arm = () => (idle = setTimeout(() => session.close(), idleMs).unref());
      arm();
      session.on('stream', (stream: http2.ServerHttp2Stream) => {
        active++;
        clearTimeout(idle);
        stream.once('close', () => --active === 0 && !session.closed && arm());
      });
      session.once('close', () => clearTimeout(idle));
    }
    session.on('error', (err) => logger.debug('gRPC connection error', { err }));
    session.once('close', () => {
      sessions.delete(session);
      for (const t of timers) clearTimeout(t);
    });
    if (closing) session.close();
  }

  /** Reads the one length-prefixed message of a unary call, at most `limit` bytes. */
  function readMessage(stream: http2.ServerHttp2Stream): Promise<{ compressed: boolean; message: Buffer } | CallStatus | undefined> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let declared = -1;
      let done = false;
      const finish = (result: { compressed: boolean; message: Buffer } | CallStatus | undefined) => {
        if (done) return;
        done = true;
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.off('close', onClose);
        resolve(result);
      };
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        chunks.push(chunk);
        if (declared < 0 && received >= 5) {
          const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, received);
          if (head[0]! > 1) return finish(status('invalid', GrpcCode.INTERNAL, `invalid message compression flag ${head[0]}`));
          declared = head.readUInt32BE(1);
          if (declared > limit) return finish(status('too_large', GrpcCode.RESOURCE_EXHAUSTED, `received message larger than max (${declared} vs. ${limit})`));
        }
        if (declared >= 0 && received > 5 + declared) {
          finish(status('invalid', GrpcCode.INTERNAL, 'a unary call carries one request message; got more bytes after it'));
        }
      };
      const onEnd = () => {
        if (received === 0) return finish(status('invalid', GrpcCode.INTERNAL, 'the call ended without its request message'));
        if (declared < 0 || received < 5 + declared) {
          return finish(status('invalid', GrpcCode.INTERNAL, `the call ended inside its request message (${received} bytes, header and message)`));
        }
        const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
        finish({ compressed: whole[0] === 1, message: whole.subarray(5) });
      };
      const onClose = () => finish(undefined);
      stream.on('data', onData);
      stream.on('end', onEnd);
      stream.on('close', onClose);
    });
  }

  /**
   * Once the answer is out, a client still sending (a refused call) is told to stop with
   * RST_STREAM(NO_ERROR), as gRPC over HTTP/2 has it; until then its bytes are dropped.
   */
  function endRequestSide(stream: http2.ServerHttp2Stream) {
    if (stream.readableEnded) return;
    stream.resume();
    const reset = () => setImmediate(() => stream.closed || stream.readableEnded || stream.close(NGHTTP2_NO_ERROR));
    if (stream.writableFinished) reset();
    else stream.once('finish', reset);
  }

  /** Headers (with the middlewares' initial metadata), then the message if any, then the status in trailers. */
  function answer(stream: http2.ServerHttp2Stream, code: number, message: string, initial: Record<string, string>, body?: Uint8Array, details?: Uint8Array): boolean {
    if (stream.closed || stream.headersSent) return false;
    const trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (message !== '') trailers['grpc-message'] = encodeGrpcMessage(message);
    if (details) trailers['grpc-status-details-bin'] = Buffer.from(details).toString('base64').replace(/=+$/, '');
    const headers: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': ACCEPT_ENCODING };
    let metadata = false;
    for (const key in initial) {
      const value = initial[key]!;
      if (!METADATA_KEY.test(key) || key.startsWith('grpc-') || key.endsWith('-bin') || !METADATA_VALUE.test(value)) {
        logger.warn('dropping reply metadata with an invalid key or value', { key });
        continue;
      }
      headers[key] = value;
      metadata = true;
    }
    try {
      if (body === undefined && !metadata) {
        // Trailers-Only: one HEADERS frame with the status.
        stream.respond({ ...headers, ...trailers }, { endStream: true });
      } else {
        stream.respond(headers, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers(trailers));
        stream.end(body && frame(body));
      }
      endRequestSide(stream);
      return true;
    } catch (err) {
      // The client reset the stream between our check and the write.
      logger.debug('could not answer a gRPC call', { err });
      return false;
    }
  }

  function refuse(stream: http2.ServerHttp2Stream, s: CallStatus, startedAt: number) {
    const sent = answer(stream, s.code, s.message, {});
    metrics.request('grpc', sent ? s.outcome : 'aborted', startedAt);
  }

  async function exportCall(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, path: string, startedAt: number) {
    const aborted = new AbortController();
    let answered = false;
    stream.once('close', () => {
      if (!answered) aborted.abort(new Error('the client cancelled the call or its deadline passed'));
    });
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    const deadline =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (answered) return;
            answered = true;
            aborted.abort(new Error('the call passed its deadline'));
            refuse(stream, status('aborted', GrpcCode.DEADLINE_EXCEEDED, 'deadline exceeded'), startedAt);
          }, timeoutMs);
    try {
      const md = metadataHeaders(headers);
      const ctx: RequestContext = { transport: 'grpc', receiver: receiverId, peer: peerOf(stream.session), signal: aborted.signal };
      const clusterId = md['cluster_id'] ?? md['cluster-id'];
      if (clusterId !== undefined) ctx.clusterId = clusterId;
      if (config.include_headers.length > 0) ctx.headers = pick(md, config.include_headers);
      const sreq: ServerRequest = { transport: 'grpc', path, headers: md, query: new URLSearchParams(), ctx };

      const refused = await front.admit(sreq);
      if (answered) return;
      if (refused) {
        answered = true;
        return refuseFailure(stream, refused, startedAt, {});
      }
      const read = await readMessage(stream);
      if (answered) return;
      answered = read === undefined || 'outcome' in read;
      if (read === undefined) return metrics.request('grpc', 'aborted', startedAt);
      if ('outcome' in read) return refuse(stream, read, startedAt);
      let message = read.message;
      if (read.compressed) {
        const encoding = headers['grpc-encoding'];
        if (encoding !== 'gzip' && encoding !== 'deflate') {
          answered = true;
          const s =
            encoding === undefined || encoding === 'identity'
              ? status('invalid', GrpcCode.INTERNAL, `a compressed message without grpc-encoding; supported: ${ACCEPT_ENCODING}`)
              : status('unsupported', GrpcCode.UNIMPLEMENTED, `grpc-encoding ${JSON.stringify(encoding)} is not supported; supported: ${ACCEPT_ENCODING}`);
          return refuse(stream, s, startedAt);
        }
        try {
          message = await inflateMessage(message, encoding, limit);
        } catch (err) {
          if (answered) return;
          answered = true;
          return refuse(
            stream,
            err instanceof BodyTooLargeError
              ? status('too_large', GrpcCode.RESOURCE_EXHAUSTED, `received message that decompresses to a size larger than ${limit}`)
              : status('invalid', GrpcCode.INTERNAL, err instanceof Error ? err.message : String(err)),
            startedAt,
          );
        }
        if (answered) return;
      }
      const result = await front.push(message, 'proto', ctx);
      const reply = await front.replyHeaders(sreq, isFailure(result) ? { accepted: false, error: result.error } : { accepted: true });
      if (answered) return;
      answered = true;
      if (isFailure(result)) return refuseFailure(stream, result, startedAt, reply);
      const sent = answer(stream, 0, '', reply, encodeMetricsResponseProto(result));
      // A client gone before the pipeline answered: the batch was taken, but nobody heard so.
      metrics.request('grpc', !sent ? 'aborted' : result.rejectedDataPoints > 0 ? 'partial' : 'accepted', startedAt);
    } finally {
      clearTimeout(deadline);
    }
  }

  /** A refusal from the push front; retryable ones carry a RetryInfo in `grpc-status-details-bin`. */
  function refuseFailure(stream: http2.ServerHttp2Stream, f: Failure, startedAt: number, initial: Record<string, string>) {
    const details = f.retryAfterMs === undefined ? undefined : encodeStatusProto({ code: f.grpcCode, message: f.message, retryDelayMs: f.retryAfterMs });
    const sent = answer(stream, f.grpcCode, f.message, initial, undefined, details);
    metrics.request('grpc', sent ? f.outcome : 'aborted', startedAt);
  }

  function onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
    const startedAt = performance.now();
    stream.on('error', (err) => logger.debug('gRPC stream error', { err }));
    const path = headers[':path'] ?? '';
    const method = headers[':method'];
    const contentType = headers['content-type'] ?? '';
    if (method !== 'POST') {
      stream.respond({ ':status': 405, allow: 'POST' }, { endStream: true });
      endRequestSide(stream);
      return metrics.request('grpc', 'method_not_allowed', startedAt);
    }
    if (!contentType.startsWith('application/grpc')) {
      // gRPC over HTTP/2: a server answers any other content type with HTTP 415.
      stream.respond({ ':status': 415, 'content-type': 'text/plain' });
      stream.end(`unsupported content type ${JSON.stringify(contentType)}; gRPC calls are application/grpc\n`);
      endRequestSide(stream);
      return metrics.request('grpc', 'unsupported', startedAt);
    }
    if (path === METRICS_EXPORT_PATH) {
      exportCall(stream, headers, path, startedAt).catch((err: unknown) => {
        logger.error('failed to answer a gRPC export', { err });
        refuse(stream, status('error', GrpcCode.INTERNAL, 'internal error'), startedAt);
      });
      return;
    }
    const signal = OTHER_SIGNALS.get(path);
    const message = signal
      ? `no ${signal} pipeline is configured: receiver ${receiverId} takes metrics only`
      : `unknown method ${path}; receiver ${receiverId} serves ${METRICS_EXPORT_PATH}`;
    refuse(stream, status(signal ? 'no_pipeline' : 'unsupported', GrpcCode.UNIMPLEMENTED, message), startedAt);
  }

  server.on('session', watchSession);
  // Node makes the session inside its own connection listener, so a listener added after it sees
  // that session as the newest. A client that has not sent its preface in time is cut.
  server.on(o.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    const session = newest;
    newest = undefined;
    if (!session) return;
    sockets.set(session, socket);
    const timer = setTimeout(() => settled.has(session) || cut(session), HANDSHAKE_TIMEOUT_MS).unref();
    session.once('close', () => clearTimeout(timer));
  });
  server.on('stream', onStream);
  server.on('sessionError', (err) => logger.debug('gRPC session error', { err }));
  // A TLS client that fails the handshake (no certificate, an unknown CA, plaintext).
  server.on('tlsClientError', (err) => logger.debug('gRPC TLS handshake failed', { err }));

  const { host, port } = parseHostPort(config.endpoint);
  await listen(server, { host, port, what: 'OTLP/gRPC' });
  server.on('error', (err) => logger.error('OTLP/gRPC server error', { err }));
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound ? bound.port : port;

  let closed: Promise<void> | undefined;
  return {
    address: { host, port: boundPort },
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        // GOAWAY to every connection: calls in flight finish, new ones go elsewhere.
        for (const s of sessions) s.close();
        const timer = setTimeout(() => {
          for (const s of sessions) cut(s);
        }, DRAIN_TIMEOUT_MS);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closed;
    },
  };
}
