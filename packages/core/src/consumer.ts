import type { MetricsBatch } from './metrics/model.ts';

/** Where a batch came from. Receivers fill it; processors and exporters read it. */
export interface RequestContext {
  /** `grpc`, `http`, `scrape`, `internal`, … */
  transport: string;
  /** The ID of the receiver that took the data in. */
  receiver?: string;
  /** The peer's address, `host:port`. */
  peer?: string;
  /** The `cluster_id` from the push's query string or gRPC metadata. */
  clusterId?: string;
  /** The authenticated principal, when an authenticator ran. */
  principal?: string;
  /** Request headers a receiver chose to keep (lowercase names). */
  headers?: Record<string, string>;
  /** Aborted when the sender's deadline passes or it goes away. */
  signal?: AbortSignal;
  /** Values middlewares attach for later stages, keyed by the middleware's ID. */
  annotations?: Map<string, unknown>;
}

/**
 * The one contract between pipeline stages.
 *
 * - `consume` resolves once the data has been accepted downstream. It rejects with a
 *   ConsumerError: retryable (optionally with a retry-after) or permanent. Any other
 *   rejection counts as retryable.
 * - After `consume` is called the caller no longer owns the batch and must not touch it.
 * - A consumer that changes the batch in place sets `mutatesData`; the fan-out then hands it
 *   a private copy when the batch is shared with other consumers.
 */
export interface Consumer {
  readonly mutatesData?: boolean;
  consume(batch: MetricsBatch, ctx: RequestContext): Promise<void>;
}

/** A context for data that a component produced itself (a scrape, a probe). */
export function internalContext(receiver?: string, transport = 'internal'): RequestContext {
  return { transport, receiver };
}
