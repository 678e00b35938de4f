/** What the receiver's tests share: series as Prometheus writes them, and small servers. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsBatch } from '@skein/core';
import { isStaleNaN, translate, type TimeSeries } from '@skein/prometheus-translation';

/** What the remote-write exporter of the bridge is configured with. */
export const BRIDGE_TRANSLATION = { addMetricSuffixes: false, targetInfo: false } as const;

/** `name{a="1",b="2"}` with labels sorted, as a key. */
export function seriesText(labels: readonly { name: string; value: string }[] | Record<string, string>): string {
  const list = Array.isArray(labels) ? labels : Object.entries(labels).map(([name, value]) => ({ name, value }));
  const name = list.find((l) => l.name === '__name__')?.value ?? '';
  const rest = list
    .filter((l) => l.name !== '__name__')
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((l) => `${l.name}=${JSON.stringify(l.value)}`);
  return `${name}{${rest.join(',')}}`;
}

/** A sample value as text: stale markers as `stale`, so they compare apart from NaN. */
export function valueText(v: number): string {
  return isStaleNaN(v) ? 'stale' : Object.is(v, -0) ? '-0' : String(v);
}

/**
 * What the bridge's remote-write exporter makes of a batch: `series text → "value@ms"` (one
 * sample each), and each series' type. Throws if the translation dropped anything.
 */
export function remoteWritten(batch: MetricsBatch): { samples: Map<string, string>; types: Map<string, string>; series: TimeSeries[] } {
  const { series, dropped } = translate(batch, BRIDGE_TRANSLATION);
  if (Object.keys(dropped).length > 0) throw new Error(`the translation dropped points: ${JSON.stringify(dropped)}`);
  const samples = new Map<string, string>();
  const types = new Map<string, string>();
  for (const s of series) {
    const key = seriesText(s.labels);
    if (samples.has(key)) throw new Error(`series ${key} twice`);
    samples.set(key, s.samples.map((x) => `${valueText(x.value)}@${x.timestampMs}`).join(' '));
    types.set(key, s.type);
  }
  return { samples, types, series };
}

export interface TestServer {
  url: string;
  port: number;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

/** A loopback HTTP server answering with `handler`; it remembers every request. */
export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `cond` every 10 ms until it holds, failing after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
