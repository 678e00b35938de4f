/**
 * The floor for `probes/process`: the least a Node program needs to do the same job, written
 * by hand with the libraries Skein uses. It reads the same config file with `yaml`, checks the
 * targets against a TypeBox schema with ajv, serves the results over node:http and connects to
 * each target in turn every 30 s. No metric model, self-metrics, exporter or lifecycle, so
 * what `skein run` costs above it is the framework's share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

// Plain JavaScript run with `-e`: a .ts entry would load Node's type stripper and bill it here.
const SCRIPT = `
import { Ajv } from 'ajv';
import { Type } from '@sinclair/typebox';
import { parse } from 'yaml';
const { readFileSync } = process.getBuiltinModule('node:fs');
const { createServer } = process.getBuiltinModule('node:http');
const { connect } = process.getBuiltinModule('node:net');
const targets = parse(readFileSync(process.argv[1], 'utf8')).receivers.tcpcheck.targets;
const schema = Type.Array(Type.Object({ endpoint: Type.String({ pattern: '^[^:]+:\\\\d+$' }), name: Type.String() }, { additionalProperties: false }));
const check = new Ajv({ allErrors: true, useDefaults: true }).compile(schema);
if (!check(targets)) throw new Error(JSON.stringify(check.errors));
const results = new Map();
createServer((req, res) => res.end(JSON.stringify({ count: results.size }))).listen(0, '127.0.0.1');
const probe = (host, port) => new Promise((resolve) => {
  const start = performance.now();
  const s = connect({ host, port, timeout: 3000 });
  const done = (ok) => { s.destroy(); resolve({ ok, ms: performance.now() - start }); };
  s.once('connect', () => done(true)).once('error', () => done(false)).once('timeout', () => done(false));
});
async function cycle() {
  for (const t of targets) {
    const i = t.endpoint.lastIndexOf(':');
    results.set(t.name, await probe(t.endpoint.slice(0, i), Number(t.endpoint.slice(i + 1))));
  }
  process.stdout.write([...results.values()].filter((r) => r.ok).length + '\\n');
}
await cycle();
setInterval(cycle, 30_000);
`;

/**
 * Starts the floor prober on `config` (the bench's tcpcheck config) with V8 `flags`, from
 * `cwd` (where its imports resolve); resolves once its first cycle is done with how many
 * targets answered.
 */
export async function startFloor(config: string, flags: readonly string[], cwd: string): Promise<{ process: ChildProcess; reachable: number }> {
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', SCRIPT, config], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const reachable = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the floor prober exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(Number(line)));
  });
  return { process: child, reachable };
}
