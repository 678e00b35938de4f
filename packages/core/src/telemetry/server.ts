/**
 * The HTTP endpoint that serves Skein's own metrics (`service.telemetry.metrics.address`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHostPort, listen, nodeHttp } from '../net.ts';
import type { Logger } from '../log.ts';
import type { MetricsRegistry } from './registry.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const METRICS_PATH = '/metrics';

export interface TelemetryServerOptions {
  registry: MetricsRegistry;
  host: string;
  /** 0 picks a free port; the bound one is returned. */
  port: number;
  logger: Logger;
}

export interface TelemetryServer {
  /** The address the server is bound to, e.g. `127.0.0.1` or `::1`. */
  readonly address: string;
  /** The port the server is bound to (never 0). */
  readonly port: number;
  /** Stops listening and drops open connections, keep-alive ones included. Safe twice. */
  close(): Promise<void>;
}

/** Serves `GET /metrics` (and HEAD). Rejects with SKEIN_ERR_TELEMETRY_LISTEN if it cannot listen. */
export async function startTelemetryServer(opts: TelemetryServerOptions): Promise<TelemetryServer> {
  const { registry, logger } = opts;
  const server = nodeHttp.createServer((req, res) => handle(registry, logger, req, res));

  await listen(server, { host: opts.host, port: opts.port, what: 'self-metrics', code: 'SKEIN_ERR_TELEMETRY_LISTEN' });
  server.on('error', (err) => logger.error('self-metrics server error', { err }));

  const bound = server.address() as AddressInfo;
  logger.info('serving self-metrics', { url: `http://${formatHostPort(bound.address, bound.port)}${METRICS_PATH}` });

  let closing: Promise<void> | undefined;
  return {
    address: bound.address,
    port: bound.port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // close() only waits; a scraper's keep-alive connection would hold it open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function handle(registry: MetricsRegistry, logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path !== METRICS_PATH) {
    reply(res, 404, 'not found: self-metrics are served on /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, `method ${req.method} not allowed: use GET or HEAD\n`);
    return;
  }
  let body: string;
  try {
    body = registry.expose();
  } catch (err) {
    logger.error('cannot collect self-metrics', { err });
    reply(res, 500, 'cannot collect self-metrics; see the log\n');
    return;
  }
  res.writeHead(200, {
    'Content-Type': METRICS_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
