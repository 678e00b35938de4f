/**
 * The `threshold_headers` extension: a server middleware for the OTLP receiver that answers
 * every push with its cluster's threshold in two reply headers (gRPC: initial metadata), and
 * the threshold API, `GET /api/v1/threshold?cluster_id=<id>`, for agents on a cold start. It
 * only reads a `threshold_store`; the `threshold` processor writes it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  defineExtension,
  formatHostPort,
  listen,
  nodeHttp,
  parseHostPort,
  requireExtension,
  type CounterChild,
  type CreateSettings,
  type Extension,
  type HttpRoute,
  type ServerMiddleware,
} from '@skein/core';
import { isThresholdStore, type ThresholdStore, type ThresholdView } from '@skein/extension-threshold-store';
import { thresholdHeadersConfigProblems, ThresholdHeadersConfigSchema, type ThresholdHeadersConfig } from './config.ts';

export { ThresholdHeadersConfigSchema, thresholdHeadersConfigProblems, type ThresholdHeadersConfig } from './config.ts';

export interface ThresholdHeadersExtension extends Extension, ServerMiddleware {
  /** Where the API's own listener is once started (the real port when `endpoint` says 0); undefined without `endpoint`. */
  readonly address: { host: string; port: number } | undefined;
}

/** What `GET <api_path>?cluster_id=` answers. The first four keys are the wire contract (DESIGN.md). */
export interface ThresholdBody {
  cluster_id: string;
  /** 0 while the quorum is not met. */
  threshold: number;
  quorum_met: boolean;
  active_nodes: number;
  statistical_min: number;
  /** `mad`, `stddev` or `percentile`. */
  method: string;
  /** When the threshold was computed (RFC 3339, UTC), or null when it never was. */
  computed_at: string | null;
  /** True while a Redis-backed store cannot reach Redis and answers from this replica's last known state. */
  stale: boolean;
}

export const MISSING_CLUSTER_ERROR = 'cluster_id query parameter is required';

/**
 * The threshold as agents read it, in the header and in the API alike: the shortest decimal
 * that reads back as the same double (ECMAScript Number::toString), e.g. `0.61`, `-0.125`, `0`.
 * Plain notation for 1e-6 ≤ |x| < 1e21; outside that, exponent notation (`1e-7`), which every
 * float parser reads.
 */
export function formatThreshold(threshold: number): string {
  return String(threshold);
}

export function thresholdBody(view: ThresholdView): ThresholdBody {
  return {
    cluster_id: view.clusterId,
    threshold: view.threshold,
    quorum_met: view.quorumMet,
    active_nodes: view.activeNodes,
    statistical_min: view.statisticalMin,
    method: view.method,
    computed_at: view.computedAtMs > 0 ? new Date(view.computedAtMs).toISOString() : null,
    stale: view.stale,
  };
}

export function createThresholdHeaders(settings: CreateSettings<ThresholdHeadersConfig>): ThresholdHeadersExtension {
  const { id, config, logger, telemetry } = settings;
  const { threshold_header: thresholdHeader, quorum_header: quorumHeader, api_path: apiPath } = config;

  const apiRequests = telemetry.counter({
    name: 'skein_threshold_api_requests_total',
    help: 'Requests to the threshold API, by HTTP status code (200, 400 without cluster_id; 404 and 405 on its own listener).',
    labelNames: ['code'],
  });
  const apiAnswered = new Map<number, CounterChild>([200, 400, 404, 405].map((code) => [code, apiRequests.labels({ code: String(code) })]));
  const withoutClusterFamily = telemetry.counter({
    name: 'skein_threshold_headers_pushes_without_cluster_total',
    help: 'Pushes answered without threshold headers because they carried no cluster_id (query string or gRPC metadata).',
    labelNames: ['transport'],
  });
  const withoutCluster = { http: withoutClusterFamily.labels({ transport: 'http' }), grpc: withoutClusterFamily.labels({ transport: 'grpc' }) };
  for (const c of [...apiAnswered.values(), ...Object.values(withoutCluster)]) c.inc(0);

  let store: ThresholdStore | undefined;
  let server: Server | undefined;
  let bound: { host: string; port: number } | undefined;
  let closing: Promise<void> | undefined;
  /** `get` returns the same frozen view while a cluster is unchanged, so its headers are built once. */
  const headersByView = new WeakMap<ThresholdView, Readonly<Record<string, string>>>();

  function storeOrThrow(): ThresholdStore {
    if (store === undefined) throw new Error(`extension ${id} is not started`);
    return store;
  }

  function headersOf(view: ThresholdView): Readonly<Record<string, string>> {
    let h = headersByView.get(view);
    if (h === undefined) {
      h = Object.freeze({ [thresholdHeader]: formatThreshold(view.threshold), [quorumHeader]: view.quorumMet ? 'true' : 'false' });
      headersByView.set(view, h);
    }
    return h;
  }

  function send(req: IncomingMessage, res: ServerResponse, code: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
    apiAnswered.get(code)?.inc();
  }

  /** `GET <api_path>?cluster_id=`: the cluster's view as JSON, with the same headers a push gets. */
  function answer(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const clusterId = query.get('cluster_id');
    if (!clusterId) return send(req, res, 400, { error: MISSING_CLUSTER_ERROR });
    const view = storeOrThrow().get(clusterId);
    send(req, res, 200, thresholdBody(view), headersOf(view));
  }

  /** The API's own listener: only `api_path`, only GET and HEAD. */
  function serveOwn(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (path !== apiPath) return send(req, res, 404, { error: `not found: ${path}; the threshold API is served on ${apiPath}` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(req, res, 405, { error: `method ${req.method} is not allowed on ${apiPath}; use GET` });
    }
    answer(req, res, new URLSearchParams(q < 0 ? '' : target.slice(q + 1)));
  }

  return {
    get address() {
      return bound;
    },

    async start(host) {
      store = requireExtension(host, config.store, isThresholdStore, 'threshold store', `extensions::${id}::store`);
      if (config.endpoint === undefined) return;
      const { host: listenHost, port } = parseHostPort(config.endpoint);
      const s = nodeHttp.createServer((req, res) => {
        try {
          serveOwn(req, res);
        } catch (err) {
          logger.error('failed to answer a threshold API request', { path: req.url, err });
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal error"}');
          else res.destroy();
        }
      });
      await listen(s, { host: listenHost, port, what: 'the threshold API' });
      s.on('error', (err) => logger.error('threshold API server error', { err }));
      server = s;
      const info = s.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      logger.info('serving the threshold API', { url: `http://${formatHostPort(info.address, info.port)}${apiPath}` });
    },

    shutdown() {
      const s = server;
      if (!s) return closing;
      server = undefined;
      bound = undefined;
      closing = new Promise<void>((resolve) => {
        s.close(() => resolve());
        // close() waits for open connections; an agent's keep-alive socket would hold it forever.
        s.closeAllConnections();
      });
      return closing;
    },

    /**
     * Runs after the pipeline consumed (or refused) the push, so the view already counts this
     * push's score: the push that brings a cluster to its quorum is answered with quorum true.
     */
    responseHeaders(req) {
      const clusterId = req.ctx.clusterId;
      if (!clusterId) {
        withoutCluster[req.transport].inc();
        return undefined;
      }
      return headersOf(storeOrThrow().get(clusterId));
    },

    routes(): HttpRoute[] {
      return [{ method: 'GET', path: apiPath, handle: (req, res, url) => answer(req, res, url.searchParams) }];
    },
  };
}

export const thresholdHeadersExtension = defineExtension({
  type: 'threshold_headers',
  description: "Answers every OTLP push with its cluster's threshold in reply headers, and serves GET /api/v1/threshold.",
  stability: 'alpha',
  configSchema: ThresholdHeadersConfigSchema,
  validate: thresholdHeadersConfigProblems,
  create: (settings) => createThresholdHeaders(settings),
});

export default thresholdHeadersExtension;
