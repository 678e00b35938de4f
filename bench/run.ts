/**
 * Runs every bench/**\/*.bench.ts, or those whose name contains one of the arguments:
 *
 *   npm run bench                    # all
 *   npm run bench -- core/pipeline   # one
 *   npm run bench -- --json          # also write .bench-out/<bench>.json
 *
 * Each bench gets a fresh process (so one's JIT and heap state cannot colour the next) with
 * --expose-gc, so mitata can collect between measurements, and a time limit.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** No single bench file may run longer than this. */
const PER_BENCH_LIMIT_MS = 5 * 60_000;

const root = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const names = args.filter((a) => !a.startsWith('--'));

const all = (readdirSync(root, { recursive: true }) as string[])
  .map((f) => f.split('\\').join('/'))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const unknown = names.filter((n) => !all.some((b) => b.includes(n)));
if (unknown.length > 0) {
  console.error(`no bench matches ${unknown.map((n) => `"${n}"`).join(', ')}; benches: ${all.join(', ')}`);
  process.exit(2);
}
const chosen = names.length === 0 ? all : all.filter((b) => names.some((n) => b.includes(n)));

function runOne(bench: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', join(root, `${bench}.bench.ts`), ...flags], {
      stdio: 'inherit',
      timeout: PER_BENCH_LIMIT_MS,
    });
    child.on('error', (err) => {
      console.error(`${bench}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      if (signal) console.error(`${bench}: stopped by ${signal}${signal === 'SIGTERM' ? ` (limit ${PER_BENCH_LIMIT_MS / 1000} s)` : ''}`);
      resolve(code ?? 1);
    });
  });
}

const started = Date.now();
const failed: string[] = [];
for (const bench of chosen) {
  if ((await runOne(bench)) !== 0) failed.push(bench);
}
console.log(`${chosen.length - failed.length}/${chosen.length} benches in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
