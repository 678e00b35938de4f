import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import v8 from 'node:v8';
import { startService } from '@skein/core/testing';
import remoteWrite from '@skein/exporter-prometheusremotewrite';
import prometheus from '@skein/receiver-prometheus';
const gen = spawn(process.execPath, ['bench/bridge/generator.ts', '--series', '20000', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((r) => gen.stdout!.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(d.toString()); if (m) r(Number(m[1])); }));
const sink = createServer((req, res) => { req.on('data', () => {}); req.on('end', () => res.writeHead(204).end()); });
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sp = (sink.address() as { port: number }).port;
const svc = await startService(`
receivers: {prometheus: {scrape_configs: [{job_name: m, scrape_interval: 1s, static_configs: [{targets: ["127.0.0.1:${port}"]}]}]}}
exporters: {prometheusremotewrite: {endpoint: "http://127.0.0.1:${sp}/api/v1/write", add_metric_suffixes: false, target_info: {enabled: false}, queue: {capacity: 2000000}}}
service: {pipelines: {metrics: {receivers: [prometheus], exporters: [prometheusremotewrite]}}}
`, [prometheus, remoteWrite]);
const mb = (n: number) => (n / 2 ** 20).toFixed(0);
for (let i = 0; i < 20; i++) {
  await new Promise((r) => setTimeout(r, 1000));
  const m = process.memoryUsage();
  if (i % 4 === 3) console.log(`rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}`);
}
globalThis.gc?.();
let m = process.memoryUsage();
console.log(`after gc: rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)}`);
for (const s of v8.getHeapSpaceStatistics()) console.log(s.space_name, mb(s.space_size), mb(s.space_used_size));
if (process.argv.includes('--snapshot')) console.log(v8.writeHeapSnapshot('/tmp/prof2/heap.heapsnapshot'));
await svc.shutdown(); gen.kill(); sink.close();
