/**
 * The upstreams the probe benches probe: a child process with `n` loopback listeners that
 * accept and close, so their side of each connection is not billed to the process measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const SCRIPT = `
const net = require('node:net');
const n = Number(process.argv[1]);
const ports = [];
let ready = 0;
for (let i = 0; i < n; i++) {
  const s = net.createServer((c) => c.destroy());
  s.listen(0, '127.0.0.1', () => {
    ports.push(s.address().port);
    if (++ready === n) process.stdout.write(JSON.stringify(ports) + '\\n');
  });
}
`;

export async function startUpstreams(n: number): Promise<{ ports: number[]; process: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', SCRIPT, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the upstreams process exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as number[]));
  });
  return { ports, process: child };
}
