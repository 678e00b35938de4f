import { translate } from '@skein/prometheus-translation';
import { TargetScraper } from '@skein/receiver-prometheus';
import { spawn } from 'node:child_process';
const gen = spawn(process.execPath, ['bench/bridge/generator.ts', '--series', '20000', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((r) => gen.stdout!.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(d.toString()); if (m) r(Number(m[1])); }));
const bodies: string[] = [];
for (let i = 0; i < 3; i++) bodies.push(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
gen.kill();
const s = new TargetScraper({ targetLabels: [['instance', '127.0.0.1:1'], ['job', 'bench']], honorLabels: false, honorTimestamps: true, metricRelabel: [], limits: { sampleLimit: 0, labelLimit: 0, labelNameLengthLimit: 0, labelValueLengthLimit: 0 } });
let prev: Set<unknown> | undefined;
for (let i = 0; i < 3; i++) {
  const r = s.scrape(bodies[i]!, 'text', 1_700_000_000_000 + i * 1000);
  const { series } = translate(r.batch, { addMetricSuffixes: false, targetInfo: false });
  const cur = new Set(series.map((x) => x.labels));
  if (prev) console.log('reused label arrays', [...cur].filter((l) => prev!.has(l)).length, 'of', cur.size);
  prev = cur;
}
