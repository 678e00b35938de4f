/**
 * Loopback fixtures for probe tests: a closed port, a silent server and a black hole.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Attributes, MetricsBatch } from '@skein/core';

/** Listens on 127.0.0.1 at a free port; resolves with the port. */
export function listen(server: Pick<Server, 'listen' | 'once' | 'address'>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

/** A port on 127.0.0.1 that nothing listens on: bound, then closed. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `cond` until it holds, failing after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Fixture {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP server that accepts connections and never says a word: a TCP probe connects, an HTTP
 * probe waits for a response that never comes. `connections` counts what it accepted.
 */
export async function silentServer(): Promise<Fixture & { readonly connections: number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

// Listens with a backlog of 1, then blocks its own event loop so it never accepts.
const BLACK_HOLE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  setImmediate(() => Atomics.wait(workerData, 0, 0));
});
`;

/**
 * A port where a TCP connect hangs, as it does behind a firewall that drops packets. A worker
 * thread listens with a backlog of 1 and never accepts; this fixture then connects until the
 * kernel's accept queue is full, after which Linux drops every further SYN, so a connect gets
 * no answer at all (neither SYN-ACK nor reset) and can only time out.
 */
export async function blackHole(): Promise<Fixture> {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(BLACK_HOLE_WORKER, { eval: true, workerData: wake });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: Socket[] = [];
  const close = async () => {
    for (const s of fillers) s.destroy();
    Atomics.store(wake, 0, 1);
    Atomics.notify(wake, 0);
    await worker.terminate();
  };
  // Fill the accept queue: connect until one connect goes unanswered for a second.
  for (let i = 0; i < 64; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    const answered = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!answered) return { port, close };
  }
  await close();
  throw new Error('blackHole: the accept queue never filled; this kernel answers connects to a full queue');
}

/** The points of metric `name` in a batch, as attributes, value and flags. */
export function pointsOf(batch: MetricsBatch, name: string): { attributes: Attributes; value: number; flags: number }[] {
  const out: { attributes: Attributes; value: number; flags: number }[] = [];
  for (const rm of batch.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.name !== name || (m.type !== 'gauge' && m.type !== 'sum')) continue;
        for (const p of m.points) out.push({ attributes: p.attributes, value: Number(p.value), flags: p.flags });
      }
    }
  }
  return out;
}
