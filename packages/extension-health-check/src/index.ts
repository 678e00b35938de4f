/**
 * The `health_check` extension: an HTTP endpoint for liveness and readiness probes. It answers
 * 200 while the service is running and 503 while it starts, stops or has stopped. List it first
 * in `service::extensions`: it then starts before everything else and stops after everything
 * else, so probes see 503 for the whole of start-up and shutdown.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  defineExtension,
  nodeHttp,
  parseHostPort,
  formatHostPort,
  listen,
  type CreateSettings,
  type Extension,
  type Host,
} from '@skein/core';
import { healthCheckConfigProblems, HealthCheckConfigSchema, type HealthCheckConfig } from './config.ts';

export { HealthCheckConfigSchema, type HealthCheckConfig } from './config.ts';

export interface HealthCheckExtension extends Extension {
  /** Where the endpoint listens once started (the real port when the config says 0). */
  readonly address: { host: string; port: number } | undefined;
}

/** The JSON body of every answer on the health check path. */
export interface HealthBody {
  /** The service status: `running` with 200; `idle`, `starting`, `stopping` or `stopped` with 503. */
  status: string;
  /** Seconds since the health check started listening. */
  uptime_seconds: number;
}

export function createHealthCheck(settings: CreateSettings<HealthCheckConfig>): HealthCheckExtension {
  const { endpoint, path } = settings.config;
  const logger = settings.logger;
  let server: Server | undefined;
  let bound: { host: string; port: number } | undefined;
  let closing: Promise<void> | undefined;

  return {
    get address() {
      return bound;
    },

    async start(host: Host) {
      const { host: listenHost, port } = parseHostPort(endpoint);
      const startedAt = performance.now();
      const s = nodeHttp.createServer((req, res) => answer(req, res, path, host, startedAt));
      await listen(s, { host: listenHost, port, what: 'health checks' });
      s.on('error', (err) => logger.error('health check server error', { err }));
      server = s;
      const info = s.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      logger.info('serving health checks', { url: `http://${formatHostPort(info.address, info.port)}${path}` });
    },

    shutdown() {
      const s = server;
      if (!s) return closing;
      server = undefined;
      bound = undefined;
      closing = new Promise<void>((resolve) => {
        s.close(() => resolve());
        // close() waits for open connections; a prober's keep-alive socket would hold it forever.
        s.closeAllConnections();
      });
      return closing;
    },
  };
}

function answer(req: IncomingMessage, res: ServerResponse, path: string, host: Host, startedAt: number): void {
  const reqPath = (req.url ?? '/').split('?', 1)[0];
  if (reqPath !== path) return reply(req, res, 404, 'text/plain; charset=utf-8', `not found: the health check is served on ${path}\n`);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return reply(req, res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed: use GET or HEAD\n`);
  }
  const status = host.getStatus();
  const body: HealthBody = { status, uptime_seconds: Math.round(performance.now() - startedAt) / 1000 };
  reply(req, res, status === 'running' ? 200 : 503, 'application/json', JSON.stringify(body));
}

function reply(req: IncomingMessage, res: ServerResponse, code: number, type: string, text: string): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export const healthCheckExtension = defineExtension({
  type: 'health_check',
  description: 'Serves an HTTP health check: 200 while the service runs, 503 while it starts or stops.',
  stability: 'alpha',
  configSchema: HealthCheckConfigSchema,
  validate: healthCheckConfigProblems,
  create: (settings) => createHealthCheck(settings),
});

export default healthCheckExtension;
