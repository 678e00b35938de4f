/**
 * What a push goes through whatever its transport: authentication, the middlewares, decoding,
 * the pipeline, and the middlewares' reply headers. Each step ends in an answer that the HTTP
 * and gRPC servers only have to put on the wire (see `Failure` for the status mapping).
 */
import {
  ConsumerError,
  countDataPoints,
  MiddlewareRejection,
  type Authenticator,
  type Consumer,
  type Logger,
  type PushOutcome,
  type RequestContext,
  type ServerMiddleware,
  type ServerRequest,
} from '@skein/core';
import { decodeMetricsRequestJson, decodeMetricsRequestProto, OtlpDecodeError, type DecodeResult } from './codec/index.ts';
import type { ReceiverMetrics } from './metrics.ts';

/** gRPC status codes used here (grpc/status.proto). */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** How a request ended: the `outcome` label of `skein_receiver_requests_total`. */
export type Outcome =
  | 'accepted'
  | 'partial'
  | 'refused'
  | 'invalid'
  | 'too_large'
  | 'unauthenticated'
  | 'rejected'
  | 'unsupported'
  | 'no_pipeline'
  | 'method_not_allowed'
  | 'aborted'
  | 'error';

/** A request the receiver did not accept, with the answer for each transport. */
export interface Failure {
  outcome: Outcome;
  httpStatus: number;
  grpcCode: number;
  message: string;
  /** Set for retryable refusals: `Retry-After` (HTTP) and a RetryInfo detail in the Status. */
  retryAfterMs?: number;
  /** Extra HTTP headers (`WWW-Authenticate`). */
  headers?: Record<string, string>;
  /** What `responseHeaders` hooks see as the push's error. */
  error?: unknown;
}

/** A request the pipeline accepted, maybe without some of its points. */
export interface Accepted {
  rejectedDataPoints: number;
  errorMessage?: string;
}

export function isFailure<T extends object>(r: T | Failure): r is Failure {
  return 'outcome' in r;
}

export type Encoding = 'proto' | 'json';

/** Refusal reasons that mean "slow down" rather than "unavailable": 429 / RESOURCE_EXHAUSTED. */
const THROTTLE_REASONS = new Set(['memory_limit', 'queue_full']);
const DEFAULT_RETRY_AFTER_MS = 1000;

/**
 * The answer to a pipeline refusal:
 * - permanent → 400 / INVALID_ARGUMENT;
 * - retryable for overload (memory limit, full queue) → 429 / RESOURCE_EXHAUSTED + RetryInfo;
 * - any other retryable refusal, or an unexpected error → 503 / UNAVAILABLE + RetryInfo.
 */
export function refusalFailure(err: unknown): Failure {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ConsumerError && !err.retryable) {
    return { outcome: 'refused', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT, message, error: err };
  }
  const retryAfterMs = (err instanceof ConsumerError ? err.retryAfterMs : undefined) ?? DEFAULT_RETRY_AFTER_MS;
  const throttle = err instanceof ConsumerError && (THROTTLE_REASONS.has(err.reason) || err.code === 'SKEIN_ERR_MEMORY_LIMIT');
  return throttle
    ? { outcome: 'refused', httpStatus: 429, grpcCode: GrpcCode.RESOURCE_EXHAUSTED, message, retryAfterMs, error: err }
    : { outcome: 'refused', httpStatus: 503, grpcCode: GrpcCode.UNAVAILABLE, message, retryAfterMs, error: err };
}

export interface PushFrontOptions {
  receiverId: string;
  transport: 'http' | 'grpc';
  next: Consumer;
  logger: Logger;
  metrics: ReceiverMetrics;
  authenticator?: { id: string; ext: Authenticator };
  middlewares: { id: string; ext: ServerMiddleware }[];
}

export interface PushFront {
  /** Authentication, then each middleware's `onRequest`; a Failure when one refused. */
  admit(req: ServerRequest): Promise<Failure | undefined>;
  /** Decodes the body and hands the batch to the pipeline. */
  push(body: Uint8Array, encoding: Encoding, ctx: RequestContext): Promise<Accepted | Failure>;
  /** The middlewares' reply headers (lowercase names); a hook that throws is logged and skipped. */
  replyHeaders(req: ServerRequest, outcome: PushOutcome): Promise<Record<string, string>>;
}

export function createPushFront(o: PushFrontOptions): PushFront {
  const { logger, metrics, transport } = o;

  function decode(body: Uint8Array, encoding: Encoding): DecodeResult | Failure {
    try {
      if (encoding === 'proto') return decodeMetricsRequestProto(body);
      // A zero-length body is an empty request in either encoding (it is one in protobuf).
      return decodeMetricsRequestJson(body.length === 0 ? '{}' : body);
    } catch (err) {
      // The codec's messages are written for the sender: what is wrong and where.
      let message = err instanceof Error ? err.message : String(err);
      if (!(err instanceof OtlpDecodeError)) {
        logger.warn('unexpected error while decoding a request', { err });
        message = `cannot decode the request as ${encoding === 'proto' ? 'protobuf' : 'OTLP/JSON'}: ${message}`;
      }
      return { outcome: 'invalid', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT, message, error: err };
    }
  }

  return {
    async admit(req) {
      if (o.authenticator) {
        try {
          req.ctx.principal = await o.authenticator.ext.authenticate(req);
        } catch (err) {
          return rejection(err, 'unauthenticated', `authenticator ${o.authenticator.id}`, logger);
        }
      }
      for (const m of o.middlewares) {
        if (!m.ext.onRequest) continue;
        try {
          await m.ext.onRequest(req);
        } catch (err) {
          return rejection(err, 'rejected', `middleware ${m.id}`, logger);
        }
      }
      return undefined;
    },

    async push(body, encoding, ctx) {
      const decoded = decode(body, encoding);
      if (isFailure(decoded)) return decoded;
      const { batch, rejectedDataPoints, errorMessage } = decoded;
      if (rejectedDataPoints > 0) {
        metrics.invalidPoints(transport, rejectedDataPoints);
        logger.debug('rejected invalid data points', { transport, rejected: rejectedDataPoints, reason: errorMessage });
      }
      // Like the Collector, a request without points never reaches the pipeline.
      if (countDataPoints(batch) > 0) {
        try {
          await o.next.consume(batch, ctx);
        } catch (err) {
          return refusalFailure(err);
        }
      }
      return errorMessage === undefined ? { rejectedDataPoints } : { rejectedDataPoints, errorMessage };
    },

    async replyHeaders(req, outcome) {
      const headers: Record<string, string> = {};
      for (const m of o.middlewares) {
        if (!m.ext.responseHeaders) continue;
        try {
          const h = await m.ext.responseHeaders(req, outcome);
          for (const [k, v] of Object.entries(h ?? {})) headers[k.toLowerCase()] = v;
        } catch (err) {
          logger.warn('a middleware failed to give reply headers; replying without them', { middleware: m.id, err });
        }
      }
      return headers;
    },
  };
}

function rejection(err: unknown, outcome: Outcome, who: string, logger: Logger): Failure {
  if (err instanceof MiddlewareRejection) {
    return { outcome, httpStatus: err.httpStatus, grpcCode: err.grpcCode, message: err.message, headers: err.headers, error: err };
  }
  // Not a refusal but a fault in the extension (OTLP senders do not retry 500 / INTERNAL).
  logger.error(`${who} failed`, { err });
  const reason = err instanceof Error ? err.message : String(err);
  return { outcome: 'error', httpStatus: 500, grpcCode: GrpcCode.INTERNAL, message: `${who} failed: ${reason}`, error: err };
}
