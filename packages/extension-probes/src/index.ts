/**
 * The `probes` extension keeps the latest result per target of every tcpcheck and httpcheck
 * receiver that names it in `probes:`, and serves them for triage:
 * `GET /api/v1/probes?unreachable_only=true` answers "what is down right now, and why",
 * optionally gated by an authenticator extension.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  defineExtension,
  isAuthenticator,
  MiddlewareRejection,
  parseHostPort,
  requireExtension,
  formatHostPort,
  listen,
  nodeHttp,
  type Authenticator,
  type Counter,
  type CreateSettings,
  type Extension,
  type Host,
  type ServerRequest,
} from '@skein/core';
import type { ProbeResult, ProbeResultFilter, ProbeStore, StoredProbeResult } from '@skein/probe-loop';
import { ProbesConfigSchema, type ProbesConfig } from './config.ts';

export { ProbesConfigSchema, type ProbesConfig } from './config.ts';

export const PROBES_PATH = '/api/v1/probes';

export interface ProbesExtension extends Extension, ProbeStore {
  /** Where the API listens once started (the real port when the config says 0). */
  readonly address: { host: string; port: number } | undefined;
}

/** The JSON body of `GET /api/v1/probes`. */
export interface ProbesBody {
  count: number;
  probes: StoredProbeResult[];
}

/** The latest result per receiver and target, with consecutive failures and the last success. */
export function createProbeStore(): ProbeStore {
  const byReceiver = new Map<string, Map<string, StoredProbeResult>>();
  return {
    record(result: ProbeResult) {
      let targets = byReceiver.get(result.receiver);
      if (!targets) byReceiver.set(result.receiver, (targets = new Map()));
      const prev = targets.get(result.target);
      targets.set(result.target, {
        ...result,
        consecutive_failures: result.reachable ? 0 : (prev?.consecutive_failures ?? 0) + 1,
        last_success: result.reachable ? result.time : (prev?.last_success ?? null),
      });
    },
    retainTargets(receiver, keep) {
      const targets = byReceiver.get(receiver);
      if (!targets) return;
      for (const key of targets.keys()) if (!keep.has(key)) targets.delete(key);
    },
    forgetReceiver(receiver) {
      byReceiver.delete(receiver);
    },
    results(filter: ProbeResultFilter = {}) {
      const out: StoredProbeResult[] = [];
      const receivers = [...byReceiver.keys()].sort();
      for (const receiver of receivers) {
        if (filter.receiver !== undefined && receiver !== filter.receiver) continue;
        const targets = byReceiver.get(receiver)!;
        for (const key of [...targets.keys()].sort()) {
          const r = targets.get(key)!;
          if (filter.unreachableOnly && r.reachable) continue;
          if (filter.route !== undefined && r.route !== filter.route) continue;
          out.push(r);
        }
      }
      return out;
    },
  };
}

export function createProbesExtension(settings: CreateSettings<ProbesConfig>): ProbesExtension {
  const { id, config, logger, telemetry } = settings;
  const store = createProbeStore();
  const requests = telemetry.counter({
    name: 'skein_probes_api_requests_total',
    help: 'Requests to the probes API, by HTTP status code.',
    labelNames: ['code'],
  });
  let server: Server | undefined;
  let bound: { host: string; port: number } | undefined;
  let closing: Promise<void> | undefined;

  return {
    ...store,

    get address() {
      return bound;
    },

    async start(host: Host) {
      const authenticator =
        config.auth === undefined ? undefined : requireExtension(host, config.auth.authenticator, isAuthenticator, 'server authenticator', 'auth::authenticator');
      const { host: listenHost, port } = parseHostPort(config.endpoint);
      const s = nodeHttp.createServer((req, res) => {
        answer(req, res, store, authenticator).then(
          (code) => requests.inc(1, { code: String(code) }),
          (err: unknown) => {
            logger.error('probes API request failed', { err });
            if (!res.headersSent) reply(req, res, 500, { error: 'internal error' });
            else res.destroy();
            requests.inc(1, { code: '500' });
          },
        );
      });
      await listen(s, { host: listenHost, port, what: 'probe results' });
      s.on('error', (err) => logger.error('probes API server error', { err }));
      server = s;
      const info = s.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      logger.info('serving probe results', { url: `http://${formatHostPort(info.address, info.port)}${PROBES_PATH}`, extension: id });
    },

    shutdown() {
      const s = server;
      if (!s) return closing;
      server = undefined;
      bound = undefined;
      closing = new Promise<void>((resolve) => {
        s.close(() => resolve());
        // close() waits for open connections; a client's keep-alive socket would hold it forever.
        s.closeAllConnections();
      });
      return closing;
    },
  };
}

const TRUE_FALSE: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

/** Answers one request; resolves with the status code sent. */
async function answer(req: IncomingMessage, res: ServerResponse, store: ProbeStore, authenticator: Authenticator | undefined): Promise<number> {
  const url = new URL(req.url ?? '/', 'http://probes');
  if (url.pathname !== PROBES_PATH) return reply(req, res, 404, { error: `not found: probe results are served on ${PROBES_PATH}` });
  if (authenticator) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const peer = req.socket.remoteAddress === undefined ? undefined : formatHostPort(req.socket.remoteAddress, req.socket.remotePort ?? 0);
    const sreq: ServerRequest = {
      transport: 'http',
      path: url.pathname,
      headers,
      query: url.searchParams,
      ctx: { transport: 'http', ...(peer !== undefined && { peer }) },
    };
    try {
      await authenticator.authenticate(sreq);
    } catch (err) {
      if (!(err instanceof MiddlewareRejection)) throw err;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      return reply(req, res, err.httpStatus, { error: err.message });
    }
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return reply(req, res, 405, { error: `method ${req.method} not allowed: use GET` });
  }
  const filter: ProbeResultFilter = {};
  const unreachable = url.searchParams.get('unreachable_only');
  if (unreachable !== null) {
    const flag = TRUE_FALSE[unreachable];
    if (flag === undefined) return reply(req, res, 400, { error: `unreachable_only must be true or false, got ${JSON.stringify(unreachable)}` });
    filter.unreachableOnly = flag;
  }
  const receiver = url.searchParams.get('receiver');
  if (receiver !== null) filter.receiver = receiver;
  const route = url.searchParams.get('route');
  if (route !== null) filter.route = route;
  const probes = store.results(filter);
  const body: ProbesBody = { count: probes.length, probes };
  return reply(req, res, 200, body);
}

function reply(req: IncomingMessage, res: ServerResponse, code: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
  return code;
}

export const probesExtension = defineExtension({
  type: 'probes',
  description: 'Keeps the latest health probe result per target and serves it at GET /api/v1/probes for triage.',
  stability: 'alpha',
  configSchema: ProbesConfigSchema,
  create: (settings) => createProbesExtension(settings),
});

export default probesExtension;
