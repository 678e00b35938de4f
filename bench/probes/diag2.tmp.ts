import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { defineExporter, Type, type ReceiverFactory, loadConfigText } from '@skein/core';
import { startService } from '@skein/core/testing';
import probesExtension from '@skein/extension-probes';
import type { ProbeReceiver } from '@skein/probe-loop';
import tcpCheckReceiver from '@skein/receiver-tcpcheck';
const MiB = 2 ** 20;
import v8 from 'node:v8';
const spaces = () => v8.getHeapSpaceStatistics().map((s) => `${s.space_name.replace('_space','')}:${(s.space_size/MiB).toFixed(1)}/${(s.space_used_size/MiB).toFixed(1)}`).join(' ');
import { readFileSync } from 'node:fs';
const smaps = () => { const out: Record<string, number> = {}; let name = ''; for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) { const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line); if (m) { name = m[1] || '[anon]'; if (name.includes('/')) name = name.split('/').pop()!; continue; } const r = /^Rss:\s+(\d+) kB/.exec(line); if (r) out[name] = (out[name] ?? 0) + Number(r[1]) / 1024; } return Object.entries(out).filter(([, v]) => v > 1).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v.toFixed(1)}`).join(' '); };
const mem = (l: string) => { console.log('   ', smaps()); const m = process.memoryUsage(); console.log(l.padEnd(24), 'rss', (m.rss/MiB).toFixed(1), 'heapTotal', (m.heapTotal/MiB).toFixed(1), 'heapUsed', (m.heapUsed/MiB).toFixed(1), 'ext', (m.external/MiB).toFixed(1)); };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = Number(process.argv[2] ?? 1000);
const UP = `const net=require('node:net');const n=Number(process.argv[1]);const p=[];let r=0;for(let i=0;i<n;i++){const s=net.createServer(c=>c.destroy());s.listen(0,'127.0.0.1',()=>{p.push(s.address().port);if(++r===n)process.stdout.write(JSON.stringify(p)+'\\n')})}`;
const up = spawn(process.execPath, ['-e', UP, String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
const ports = await new Promise<number[]>((res) => createInterface({ input: up.stdout! }).once('line', (l) => res(JSON.parse(l))));
const noop = defineExporter({ type: 'noop', description: 'x', stability: 'development', configSchema: Type.Object({}), create: () => ({ async consume() {} }) });
let receiver: ProbeReceiver | undefined;
const capturing: ReceiverFactory<typeof tcpCheckReceiver.configSchema> = { ...tcpCheckReceiver, create: async (s, n) => (receiver = (await tcpCheckReceiver.create(s, n)) as ProbeReceiver) };
const yaml = `
extensions: {probes: {endpoint: "127.0.0.1:0"}}
receivers:
  tcpcheck:
    collection_interval: 1h
    probes: probes
    targets:
${ports.map((p, i) => `      - {endpoint: "127.0.0.1:${p}", name: upstream-${i}}`).join('\n')}
exporters: {noop: {}}
service:
  extensions: [probes]
  pipelines: {metrics: {receivers: [tcpcheck], exporters: [noop]}}
`;
globalThis.gc!(); await sleep(300); mem('baseline');
loadConfigText(yaml, 'x.yaml', { env: {} }); mem('after parsing config once');
globalThis.gc!(); await sleep(100); mem('after gc');
const svc = await startService(yaml, [capturing, probesExtension, noop]);
await sleep(1000); mem('started + first cycle');
globalThis.gc!(); await sleep(100); mem('after gc');
const PAUSE = Number(process.argv[3] ?? 0);
for (let k = 1; k <= Number(process.argv[4] ?? 60); k++) { await receiver!.runCycle(); if (PAUSE) await sleep(PAUSE); if (k % Number(process.argv[5] ?? 10) === 0) mem(`${k} cycles`); }
globalThis.gc!(); await sleep(100); mem('after gc');
await svc.shutdown(); up.kill();
