import { spawnSync } from 'node:child_process';
import { translate } from '@skein/prometheus-translation';
import { requestBuilder } from '@skein/exporter-prometheusremotewrite';
import snappy from 'snappyjs';
import { TargetScraper } from '@skein/receiver-prometheus';
// Bodies from the generator, made in-process: import its body() by running it? simpler: fetch from a spawned generator
const { execPath } = process;
import { spawn } from 'node:child_process';
const gen = spawn(execPath, ['bench/bridge/generator.ts', '--series', '20000', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((r) => gen.stdout!.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(d.toString()); if (m) r(Number(m[1])); }));
const bodies: string[] = [];
for (let i = 0; i < 12; i++) bodies.push(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
gen.kill();
const s = new TargetScraper({ targetLabels: [['instance', '127.0.0.1:1'], ['job', 'bench']], honorLabels: false, honorTimestamps: true, metricRelabel: [], limits: { sampleLimit: 0, labelLimit: 0, labelNameLengthLimit: 0, labelValueLengthLimit: 0 } });
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let T = 1_700_000_000_000;
const acc = { scrape: 0, translate: 0, encode: 0, snappy: 0, n: 0 };
for (let round = 0; round < 60; round++) {
  const body = bodies[round % bodies.length]!;
  T += 1000;
  const c0 = cpu();
  const r = s.scrape(body, 'text', T);
  const c1 = cpu();
  const series = [];
  for (const batch of r.batches(2000)) series.push(...translate(batch, { addMetricSuffixes: false, targetInfo: false }).series);
  const c2 = cpu();
  const b = requestBuilder('v1');
  const out: Uint8Array[] = [];
  b.reset(); let k = 0;
  for (const x of series) { b.add(x); if (++k % 2000 === 0) { out.push(b.finish().slice()); b.reset(); } }
  out.push(b.finish().slice());
  const c3 = cpu();
  for (const o of out) snappy.compress(o);
  const c4 = cpu();
  if (round >= 10) { acc.scrape += c1 - c0; acc.translate += c2 - c1; acc.encode += c3 - c2; acc.snappy += c4 - c3; acc.n += r.postRelabel; }
}
const us = (ms: number) => (ms * 1000 / acc.n).toFixed(3);
console.log(`per sample µs: scrape ${us(acc.scrape)} translate ${us(acc.translate)} encode ${us(acc.encode)} snappy ${us(acc.snappy)} total ${us(acc.scrape + acc.translate + acc.encode + acc.snappy)}`);
