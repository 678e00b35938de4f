/**
 * A bench's results: tables printed as Markdown (so they paste into docs/benchmarks.md as
 * they are), the headline ratios, and with `--json` the raw numbers in
 * `.bench-out/<bench>.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Timing } from './measure.ts';

const BENCH_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export interface Machine {
  cores: number;
  cpu: string;
  node: string;
  v8: string;
  platform: string;
  memoryGiB: number;
  /** The 1-minute load average when the report was written: above the core count, others competed. */
  load1m: number;
}

/** Read when the bench runs, so the numbers always travel with the machine that made them. */
export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.arch()}`,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    load1m: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface Figure {
  name: string;
  value: number;
  /** What the value means, e.g. `× build cost`. */
  unit: string;
}

export class Report {
  /** `core/pipeline` for bench/core/pipeline.bench.ts. */
  readonly bench: string;
  readonly #tables: Table[] = [];
  readonly #figures: Figure[] = [];
  readonly #timings: Timing[] = [];
  readonly #started = Date.now();

  /** Pass the bench file's `import.meta.url`. */
  constructor(benchUrl: string) {
    this.bench = relative(BENCH_ROOT, fileURLToPath(benchUrl)).replace(/\.bench\.ts$/, '').split('\\').join('/');
  }

  /** Keeps a raw timing for the JSON output and returns it. */
  record(t: Timing): Timing {
    this.#timings.push(t);
    return t;
  }

  table(t: Table): void {
    this.#tables.push(t);
  }

  figure(name: string, value: number, unit: string): void {
    this.#figures.push({ name, value, unit });
  }

  /** Prints everything; with `--json` on the command line also writes `.bench-out/<bench>.json`. */
  finish(): void {
    const m = machine();
    const flags = process.execArgv.filter((f) => f !== '--expose-gc' && !f.startsWith('--conditions'));
    const out: string[] = [
      `## ${this.bench}`,
      '',
      `\`npm run bench -- ${this.bench}\` · ${m.cores} cores (${m.cpu}) · node ${m.node}${flags.length > 0 ? ` ${flags.join(' ')}` : ''} · ${m.platform} · load ${m.load1m} at the end · ${((Date.now() - this.#started) / 1000).toFixed(1)} s`,
      '',
    ];
    for (const t of this.#tables) out.push(`### ${t.title}`, '', ...markdownTable(t), '');
    if (this.#figures.length > 0) {
      out.push('### Ratios', '', ...markdownTable({ title: '', columns: ['figure', 'value'], rows: this.#figures.map((f) => [f.name, `${ratio(f.value)} ${f.unit}`]) }), '');
    }
    process.stdout.write(out.join('\n') + '\n');

    if (process.argv.includes('--json')) {
      const file = join(dirname(BENCH_ROOT), '.bench-out', `${this.bench}.json`);
      mkdirSync(dirname(file), { recursive: true });
      const body = { bench: this.bench, date: new Date().toISOString(), machine: m, timings: this.#timings, figures: this.#figures, tables: this.#tables };
      writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
      process.stdout.write(`wrote ${relative(process.cwd(), file)}\n`);
    }
  }
}

function markdownTable(t: Table): string[] {
  const cell = (v: string | number) => String(v).replaceAll('|', '\\|');
  const cells = [t.columns.map(cell), ...t.rows.map((r) => r.map(cell))];
  const widths = t.columns.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  // Text left, numbers right, as a reader scans them.
  const numeric = t.columns.map((_, c) => t.rows.every((r) => /^[\d.,\s×%~-]/.test(String(r[c]))));
  const line = (r: string[]) => `| ${r.map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (numeric[c] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)];
}

/** `812 ns`, `3.41 µs`, `1.20 ms`. */
export function duration(ns: number): string {
  if (ns < 1_000) return `${ns.toFixed(ns < 10 ? 2 : ns < 100 ? 1 : 0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(2)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** `1,234,567` */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Three significant digits: `0.0412`, `1.23`, `45.6`. */
export function ratio(r: number): string {
  return r >= 100 ? r.toFixed(0) : r.toPrecision(3);
}
