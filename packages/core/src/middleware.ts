/**
 * What an extension implements to sit in front of a server receiver (`middlewares: [id]`)
 * or to authenticate its requests (`auth: {authenticator: id}`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from './consumer.ts';

/** A request as middlewares see it, before its body is decoded. */
export interface ServerRequest {
  transport: 'http' | 'grpc';
  /** HTTP path, or the gRPC method path (`/package.Service/Method`). */
  path: string;
  /** Lowercase header names (HTTP headers, or gRPC metadata). */
  headers: Readonly<Record<string, string | undefined>>;
  /** The query string (HTTP only; empty for gRPC). */
  query: URLSearchParams;
  /** The context the batch will carry; middlewares may fill it (principal, annotations). */
  ctx: RequestContext;
}

/** A refusal by a middleware or an authenticator. */
export class MiddlewareRejection extends Error {
  readonly httpStatus: number;
  /** A gRPC status code (16 = UNAUTHENTICATED, 7 = PERMISSION_DENIED, 3 = INVALID_ARGUMENT…). */
  readonly grpcCode: number;
  readonly headers: Record<string, string>;
  constructor(message: string, opts: { httpStatus: number; grpcCode: number; headers?: Record<string, string> }) {
    super(message);
    this.name = 'MiddlewareRejection';
    this.httpStatus = opts.httpStatus;
    this.grpcCode = opts.grpcCode;
    this.headers = opts.headers ?? {};
  }
}

/** How a push ended, for `responseHeaders`. */
export interface PushOutcome {
  /** The pipeline accepted the batch (possibly with some points rejected). */
  accepted: boolean;
  error?: unknown;
}

/** An extra HTTP route served on the receiver's HTTP port. */
export interface HttpRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void | Promise<void>;
}

export interface ServerMiddleware {
  /**
   * Runs before the body is read or decoded. Throw a MiddlewareRejection to refuse the
   * request; fill `req.ctx` to annotate it.
   */
  onRequest?(req: ServerRequest): void | Promise<void>;
  /**
   * Runs after the pipeline has consumed (or refused) the batch; the headers returned are
   * added to the reply (gRPC: initial metadata).
   */
  responseHeaders?(req: ServerRequest, outcome: PushOutcome): Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  /** Routes served on the same HTTP port as the receiver. */
  routes?(): HttpRoute[];
}

export function isServerMiddleware(ext: unknown): ext is ServerMiddleware {
  if (typeof ext !== 'object' || ext === null) return false;
  const m = ext as Record<string, unknown>;
  const hooks = ['onRequest', 'responseHeaders', 'routes'];
  return hooks.some((h) => typeof m[h] === 'function') && hooks.every((h) => m[h] === undefined || typeof m[h] === 'function');
}

export interface Authenticator {
  /**
   * Checks a request's credentials; resolves with the principal, or throws a
   * MiddlewareRejection (401 / UNAUTHENTICATED).
   */
  authenticate(req: ServerRequest): string | Promise<string>;
}

export function isAuthenticator(ext: unknown): ext is Authenticator {
  return typeof ext === 'object' && ext !== null && typeof (ext as Authenticator).authenticate === 'function';
}
