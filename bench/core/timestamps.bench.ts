/**
 * DESIGN.md leaves the nanosecond timestamp representation to a benchmark. Candidates:
 *
 *   bigint   nanoseconds since the epoch (the current choice, packages/core/src/metrics/time.ts)
 *   pair     { ms, ns }: whole milliseconds plus the 0–999,999 ns remainder, both plain numbers
 *
 * on what the hot paths do with a timestamp: make it from a decoded fixed64 (protobuf readers
 * hand over two uint32 halves, lo and hi), turn it into Prometheus milliseconds, compare and
 * sort; and, for the OTLP exporter, turn it back into the two halves. Each case handles 1,000
 * realistic timestamps per call; the tables give the cost per timestamp.
 */
import assert from 'node:assert/strict';
import { nanosToMillis } from '@skein/core';
import { do_not_optimize, time, type Timing } from '../lib/measure.ts';
import { duration, ratio, Report } from '../lib/report.ts';

const report = new Report(import.meta.url);
const N = 1000;

// ---- the pair representation, as it would live in time.ts ----

interface MsNs {
  /** Whole milliseconds since the epoch (exact: < 2^53). */
  ms: number;
  /** Nanoseconds past `ms`, 0 … 999,999. */
  ns: number;
}

/** 2^32 = 4294 × 10^6 + 967,296, so hi·2^32 + lo splits into exact float arithmetic. */
function pairFromFixed64(lo: number, hi: number): MsNs {
  const r = hi * 967_296 + lo; // < 2^52
  const ns = r % 1e6;
  return { ms: hi * 4294 + (r - ns) / 1e6, ns };
}

/** Back to the two uint32 halves of the fixed64, exactly. */
function pairToFixed64(t: MsNs, out: Uint32Array, at: number): void {
  // ms·10^6 + ns overflows 2^53, so carry in 16-bit limbs: ms = mh·2^16 + ml.
  const ml = t.ms % 65536;
  const b = ml * 1e6 + t.ns; // < 2^36
  const bLow = b % 65536;
  const c = ((t.ms - ml) / 65536) * 1e6 + (b - bLow) / 65536; // < 2^49
  const cLow = c % 65536;
  out[at] = cLow * 65536 + bLow;
  out[at + 1] = (c - cLow) / 65536;
}

const comparePairs = (a: MsNs, b: MsNs) => a.ms - b.ms || a.ns - b.ns;

// ---- bigint ----

const bigFromFixed64 = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo);
function bigToFixed64(t: bigint, out: Uint32Array, at: number): void {
  out[at] = Number(t & 0xffff_ffffn);
  out[at + 1] = Number(t >> 32n);
}
const compareBigints = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

// ---- the data: 1,000 timestamps a scrape apart, with sub-millisecond jitter, shuffled ----

let seed = 42;
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const base = BigInt(Date.UTC(2025, 0, 15, 12)) * 1_000_000n;
const exact: bigint[] = Array.from({ length: N }, (_, i) => base + BigInt(i) * 15_000_000_000n + BigInt(Math.floor(random() * 1e9)));
for (let i = N - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [exact[i], exact[j]] = [exact[j]!, exact[i]!];
}
/** As a protobuf reader hands them over: lo at 2i, hi at 2i + 1. */
const halves = new Uint32Array(2 * N);
exact.forEach((t, i) => {
  halves[2 * i] = Number(t & 0xffff_ffffn);
  halves[2 * i + 1] = Number(t >> 32n);
});
/** And the raw little-endian bytes, for a decoder that reads straight from the buffer. */
const bytes = new DataView(halves.buffer);

const bigs: bigint[] = new Array(N);
const pairs: MsNs[] = new Array(N);
for (let i = 0; i < N; i++) {
  bigs[i] = bigFromFixed64(halves[2 * i]!, halves[2 * i + 1]!);
  pairs[i] = pairFromFixed64(halves[2 * i]!, halves[2 * i + 1]!);
}

// Both must say the same thing before their speed means anything, including at the edges.
const edges: [number, number][] = [[0, 0], [0xffff_ffff, 0xffff_ffff], [999_999, 0], [1_000_000, 0], [0, 1], [0xffff_ffff, 0]];
const out = new Uint32Array(2);
for (const [lo, hi] of [...edges, ...Array.from({ length: N }, (_, i) => [halves[2 * i]!, halves[2 * i + 1]!] as [number, number])]) {
  const big = bigFromFixed64(lo, hi);
  const pair = pairFromFixed64(lo, hi);
  assert.equal(BigInt(pair.ms) * 1_000_000n + BigInt(pair.ns), big, `pair of ${lo}/${hi}`);
  assert.equal(pair.ms, nanosToMillis(big), `milliseconds of ${lo}/${hi}`);
  pairToFixed64(pair, out, 0);
  assert.deepEqual([out[0], out[1]], [lo, hi], `pair back to fixed64 of ${lo}/${hi}`);
  bigToFixed64(big, out, 0);
  assert.deepEqual([out[0], out[1]], [lo, hi], `bigint back to fixed64 of ${lo}/${hi}`);
}
assert.deepEqual(
  [...bigs].sort(compareBigints).map((t) => nanosToMillis(t)),
  [...pairs].sort(comparePairs).map((t) => t.ms),
);

// ---- the cases ----

const sink = new Uint32Array(2 * N);
const millis = new Float64Array(N);
const cases: { op: string; big: () => unknown; pair: () => unknown }[] = [
  {
    op: 'from fixed64 halves (lo, hi)',
    big: () => {
      for (let i = 0; i < N; i++) bigs[i] = bigFromFixed64(halves[2 * i]!, halves[2 * i + 1]!);
    },
    pair: () => {
      for (let i = 0; i < N; i++) pairs[i] = pairFromFixed64(halves[2 * i]!, halves[2 * i + 1]!);
    },
  },
  {
    op: 'from the wire bytes (DataView)',
    big: () => {
      for (let i = 0; i < N; i++) bigs[i] = bytes.getBigUint64(8 * i, true);
    },
    pair: () => {
      for (let i = 0; i < N; i++) pairs[i] = pairFromFixed64(bytes.getUint32(8 * i, true), bytes.getUint32(8 * i + 4, true));
    },
  },
  {
    op: 'to milliseconds (Prometheus sample)',
    big: () => {
      for (let i = 0; i < N; i++) millis[i] = nanosToMillis(bigs[i]!);
    },
    pair: () => {
      for (let i = 0; i < N; i++) millis[i] = pairs[i]!.ms;
    },
  },
  {
    op: 'compare with the previous one',
    big: () => {
      let outOfOrder = 0;
      for (let i = 1; i < N; i++) if (bigs[i]! < bigs[i - 1]!) outOfOrder++;
      do_not_optimize(outOfOrder);
    },
    pair: () => {
      let outOfOrder = 0;
      for (let i = 1; i < N; i++) if (comparePairs(pairs[i]!, pairs[i - 1]!) < 0) outOfOrder++;
      do_not_optimize(outOfOrder);
    },
  },
  {
    op: 'sort (copy + sort of 1,000)',
    big: () => do_not_optimize(bigs.slice().sort(compareBigints)),
    pair: () => do_not_optimize(pairs.slice().sort(comparePairs)),
  },
  {
    op: 'back to fixed64 halves (OTLP export)',
    big: () => {
      for (let i = 0; i < N; i++) bigToFixed64(bigs[i]!, sink, 2 * i);
    },
    pair: () => {
      for (let i = 0; i < N; i++) pairToFixed64(pairs[i]!, sink, 2 * i);
    },
  },
];

const rows: (string | number)[][] = [];
for (const c of cases) {
  const big: Timing = report.record(await time(`bigint: ${c.op}`, c.big));
  const pair: Timing = report.record(await time(`pair: ${c.op}`, c.pair));
  rows.push([c.op, duration(big.avgNs / N), duration(pair.avgNs / N), `${ratio(big.avgNs / pair.avgNs)}×`]);
  report.figure(`${c.op}: bigint / pair`, big.avgNs / pair.avgNs, '×');
}
report.table({
  title: `Per timestamp (each call handles ${N.toLocaleString('en-US')})`,
  columns: ['operation', 'bigint', 'pair {ms, ns}', 'bigint ÷ pair'],
  rows,
});
report.finish();
