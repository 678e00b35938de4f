/**
 * A synthetic Prometheus target for the bridge benchmark: serves `/metrics` (text format
 * 0.0.4) with `--series` series, a third each counters, gauges and histogram series (ten
 * buckets, `_sum`, `_count`), with node_exporter-like labels. Values move on every scrape, so
 * each scrape is new data. Runs as its own process, so its CPU is not the scraper's:
 *
 *   node bench/bridge/generator.ts --series 20000 --port 0
 *
 * Prints `listening <port>` on stdout once it serves.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { series: { type: 'string', default: '20000' }, port: { type: 'string', default: '0' } } });
const SERIES = Number(values.series);
if (!Number.isSafeInteger(SERIES) || SERIES < 13) throw new Error(`--series must be an integer >= 13, got ${values.series}`);

const BOUNDS = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf'];
/** Series of one histogram: buckets, `_sum`, `_count`. */
const PER_HISTOGRAM = BOUNDS.length + 2;
const MODES = ['user', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'nice'];

const labelsOf = (i: number) => `host="bench-${i % 50}",cpu="${i % 64}",mode="${MODES[i % MODES.length]}",shard="s${Math.floor(i / 400)}"`;

const histograms = Math.floor(SERIES / 3 / PER_HISTOGRAM);
const counters = Math.floor((SERIES - histograms * PER_HISTOGRAM) / 2);
const gauges = SERIES - histograms * PER_HISTOGRAM - counters;
/** Series in one family, so names repeat the way real exporters' do. */
const FAMILY = 100;

let scrape = 0;

function body(): string {
  scrape++;
  const parts: string[] = [];
  for (let i = 0; i < counters; i++) {
    if (i % FAMILY === 0) parts.push(`# HELP bench_requests_${i / FAMILY}_total Requests served.\n# TYPE bench_requests_${i / FAMILY}_total counter\n`);
    parts.push(`bench_requests_${Math.floor(i / FAMILY)}_total{${labelsOf(i)}} ${scrape * (i % 17 + 1)}\n`);
  }
  for (let i = 0; i < gauges; i++) {
    if (i % FAMILY === 0) parts.push(`# HELP bench_temperature_${i / FAMILY} A gauge.\n# TYPE bench_temperature_${i / FAMILY} gauge\n`);
    parts.push(`bench_temperature_${Math.floor(i / FAMILY)}{${labelsOf(i)}} ${((scrape * 7 + i) % 1000) / 8}\n`);
  }
  const HFAMILY = 10;
  for (let h = 0; h < histograms; h++) {
    const name = `bench_latency_${Math.floor(h / HFAMILY)}_seconds`;
    if (h % HFAMILY === 0) parts.push(`# HELP ${name} A histogram.\n# TYPE ${name} histogram\n`);
    const labels = labelsOf(h);
    let cumulative = 0;
    for (let b = 0; b < BOUNDS.length; b++) {
      cumulative += scrape * (b + 1);
      parts.push(`${name}_bucket{${labels},le="${BOUNDS[b]}"} ${cumulative}\n`);
    }
    parts.push(`${name}_sum{${labels}} ${scrape * 1.25}\n${name}_count{${labels}} ${cumulative}\n`);
  }
  return parts.join('');
}

const server = createServer((req, res) => {
  if (req.url?.split('?')[0] !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  const text = body();
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
