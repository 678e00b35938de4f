/**
 * A real Prometheus (Debian's `prometheus` package) for the tests: remote-write receiver and
 * native histograms on, listening on loopback, its data in a temporary directory. It can be
 * stopped and started again on the same port and data (the outage test).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '@skein/core/testing';

export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  writeUrl: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
  /** Runs an instant query; returns `data.result` of a vector. */
  query(expr: string, timeSeconds: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Prometheus's own log lines, for failure messages. */
  log(): string;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function startPrometheus(): Promise<PrometheusServer> {
  const bin = requireTool('prometheus', 'prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'skein-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, 'global:\n  scrape_interval: 1h\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let logText = '';

  const ready = async () => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child?.exitCode !== null) throw new Error(`prometheus exited with ${child?.exitCode}:\n${logText.slice(-3000)}`);
      try {
        const res = await fetch(`${url}/-/ready`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`prometheus not ready after 30 s:\n${logText.slice(-3000)}`);
  };

  const server: PrometheusServer = {
    url,
    writeUrl: `${url}/api/v1/write`,
    log: () => logText,
    async start() {
      child = spawn(
        bin,
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--web.enable-remote-write-receiver',
          '--enable-feature=native-histograms',
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      child.stderr!.on('data', (c: Buffer) => {
        logText += c.toString();
      });
      await ready();
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async query(expr, timeSeconds) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${timeSeconds}`);
      const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
      return body.data.result;
    },
  };
  await server.start();
  return server;
}
