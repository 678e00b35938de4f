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
import { compare, COMPARE_LIMITS, do_not_optimize } from '../lib/measure.ts';
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
  // r / 1e6 < 2^32 keeps a rounding error far below the 1e-6 that could lift it to the next integer.
  const q = Math.floor(r / 1e6);
  return { ms: hi * 4294 + q, ns: r - q * 1e6 };
}

/** The same with `%`, which V8 compiles to a slower floating-point remainder. */
function pairFromFixed64Remainder(lo: number, hi: number): MsNs {
  const r = hi * 967_296 + lo;
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

const bigFromFixed64 = (lo: number, hi: number) => BigInt(hi) * 4_294_967_296n + BigInt(lo);
/** Two other ways to the same bigint, for the variants table. */
const bigFromFixed64ShiftOr = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo);
const scratch = new DataView(new ArrayBuffer(8));
function bigFromFixed64Scratch(lo: number, hi: number): bigint {
  scratch.setUint32(0, lo, true);
  scratch.setUint32(4, hi, true);
  return scratch.getBigUint64(0, true);
}
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

// Every form must agree on the data it is timed on before its speed means anything.
const out = new Uint32Array(2);
function agree(lo: number, hi: number): void {
  const big = bigFromFixed64(lo, hi);
  const pair = pairFromFixed64(lo, hi);
  assert.equal(bigFromFixed64ShiftOr(lo, hi), big);
  assert.equal(bigFromFixed64Scratch(lo, hi), big);
  assert.deepEqual(pairFromFixed64Remainder(lo, hi), pair);
  assert.equal(BigInt(pair.ms) * 1_000_000n + BigInt(pair.ns), big, `pair of ${lo}/${hi}`);
  assert.equal(pair.ms, nanosToMillis(big), `milliseconds of ${lo}/${hi}`);
  pairToFixed64(pair, out, 0);
  assert.deepEqual([out[0], out[1]], [lo, hi], `pair back to fixed64 of ${lo}/${hi}`);
  bigToFixed64(big, out, 0);
  assert.deepEqual([out[0], out[1]], [lo, hi], `bigint back to fixed64 of ${lo}/${hi}`);
}
for (let i = 0; i < N; i++) agree(halves[2 * i]!, halves[2 * i + 1]!);
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

const variants: { what: string; fn: () => unknown }[] = [
  { what: 'bigint: BigInt(hi) * 2^32n + BigInt(lo) (used above)', fn: cases[0]!.big },
  {
    what: 'bigint: (BigInt(hi) << 32n) | BigInt(lo)',
    fn: () => {
      for (let i = 0; i < N; i++) bigs[i] = bigFromFixed64ShiftOr(halves[2 * i]!, halves[2 * i + 1]!);
    },
  },
  {
    what: 'bigint: through an 8-byte DataView',
    fn: () => {
      for (let i = 0; i < N; i++) bigs[i] = bigFromFixed64Scratch(halves[2 * i]!, halves[2 * i + 1]!);
    },
  },
  { what: 'pair: Math.floor(r / 1e6) (used above)', fn: cases[0]!.pair },
  {
    what: 'pair: r % 1e6',
    fn: () => {
      for (let i = 0; i < N; i++) pairs[i] = pairFromFixed64Remainder(halves[2 * i]!, halves[2 * i + 1]!);
    },
  },
];

const rows: (string | number)[][] = [];
for (const c of cases) {
  const { timings, ratios } = await compare([
    { name: `pair: ${c.op}`, fn: c.pair },
    { name: `bigint: ${c.op}`, fn: c.big },
  ]);
  const [pair, big] = timings.map((t) => report.record(t));
  rows.push([c.op, duration(big!.p50Ns / N), duration(pair!.p50Ns / N), `${ratio(ratios[1]!)}×`]);
  report.figure(`${c.op}: bigint / pair`, ratios[1]!, '×');
}
report.table({
  title: `Per timestamp (median; each call handles ${N.toLocaleString('en-US')}; ${COMPARE_LIMITS.rounds} interleaved rounds)`,
  columns: ['operation', 'bigint', 'pair {ms, ns}', 'bigint ÷ pair'],
  rows,
});

const forms = await compare(variants.map((v) => ({ name: `from fixed64 halves, ${v.what}`, fn: v.fn })));
report.table({
  title: 'From fixed64 halves: how it is written matters as much as what it makes',
  columns: ['form', 'per timestamp (median)', '÷ first'],
  rows: variants.map((v, i) => [v.what, duration(report.record(forms.timings[i]!).p50Ns / N), `${ratio(forms.ratios[i]!)}×`]),
});

// Retained heap: what a batch's timestamps keep alive, measured after a full collection.
if (typeof globalThis.gc === 'function') {
  const M = 100_000;
  const retained = (make: (i: number) => unknown) => {
    globalThis.gc!();
    const before = process.memoryUsage().heapUsed;
    const keep = Array.from({ length: M }, (_, i) => make(i));
    globalThis.gc!();
    const bytes = (process.memoryUsage().heapUsed - before) / M;
    do_not_optimize(keep);
    return bytes;
  };
  const bigBytes = retained((i) => bigFromFixed64(halves[2 * (i % N)]!, halves[2 * (i % N) + 1]!));
  const pairBytes = retained((i) => pairFromFixed64(halves[2 * (i % N)]!, halves[2 * (i % N) + 1]!));
  report.table({
    title: `Retained heap per timestamp (${M.toLocaleString('en-US')} kept in an array, array slot included)`,
    columns: ['representation', 'bytes'],
    rows: [
      ['bigint', bigBytes.toFixed(1)],
      ['pair {ms, ns}', pairBytes.toFixed(1)],
    ],
  });
  report.figure('retained heap: pair / bigint', pairBytes / bigBytes, '×');
}
// The whole fixed64 range is checked only now: values past 2^63 (the year 2262) send V8's
// bigint code down a slow path for good, and the timed code should see what production sees.
const u32 = () => Math.floor(random() * 2 ** 32);
const lastNsBeforeAMillisecondAtTheTop = 2_000_000 - ((0xffff_ffff * 967_296) % 1_000_000) - 1;
for (const [lo, hi] of [[0, 0], [0xffff_ffff, 0xffff_ffff], [999_999, 0], [1_000_000, 0], [0, 1], [0xffff_ffff, 0], [lastNsBeforeAMillisecondAtTheTop, 0xffff_ffff]]) {
  agree(lo!, hi!);
}
for (let i = 0; i < 20_000; i++) agree(u32(), u32());

report.finish();
