import { test } from 'node:test';
import assert from 'node:assert/strict';
import { madThreshold, medianOf, percentileOf, stddevThreshold, thresholdOf, thresholdOfScores, type ThresholdParams } from '../src/index.ts';
import { exactSum, medianDeviation, selectInPlace } from '../src/math.ts';

const sorted = (...xs: number[]) => Float64Array.from(xs).sort();

test('percentile interpolates linearly between the closest ranks', () => {
  const xs = sorted(1, 2, 3, 4);
  assert.equal(percentileOf(xs, 0), 1);
  assert.equal(percentileOf(xs, 100), 4);
  assert.equal(percentileOf(xs, 50), 2.5);
  // h = 3 · 0.25 = 0.75 → 1 + 0.75 · (2 − 1)
  assert.equal(percentileOf(xs, 25), 1.75);
  // odd count: h = 2 · 0.05 = 0.1 → 10 + 0.1 · 10
  assert.equal(percentileOf(sorted(10, 20, 30), 5), 11);
  assert.equal(percentileOf(sorted(7), 37), 7);
  // ties
  assert.equal(percentileOf(sorted(5, 5, 5, 9), 50), 5);
});

test('median of odd and even counts', () => {
  assert.equal(medianOf(sorted(3, 1, 2)), 2);
  assert.equal(medianOf(sorted(4, 1, 3, 2)), 2.5);
  assert.equal(medianOf(sorted(8)), 8);
});

test('stddev: mean − k·σ with the population σ', () => {
  // mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32, σ = √(32/8) = 2
  const xs = sorted(2, 4, 4, 4, 5, 5, 7, 9);
  assert.equal(stddevThreshold(xs, 3), -1);
  assert.equal(stddevThreshold(xs, 1), 3);
  assert.equal(stddevThreshold(xs, 0), 5);
  // all equal: σ = 0
  assert.equal(stddevThreshold(sorted(0.9, 0.9, 0.9), 3), 0.9);
  // odd count: mean 2, σ = √(2/3)
  assert.equal(stddevThreshold(sorted(1, 2, 3), 3), 2 - 3 * Math.sqrt(2 / 3));
});

test('mad: median − k·1.4826·MAD, odd and even counts, ties, MAD = 0', () => {
  // median 2; |x − 2| = 1,1,0,0,2,4,7 → sorted 0,0,1,1,2,4,7 → MAD 1
  assert.equal(madThreshold(sorted(1, 1, 2, 2, 4, 6, 9), 3), 2 - 3 * 1.4826 * 1);
  // median 3.5; |x − 3.5| = 2.5,1.5,0.5,0.5,96.5,196.5 → MAD (1.5 + 2.5) / 2 = 2
  assert.equal(madThreshold(sorted(1, 2, 3, 4, 100, 200), 3), 3.5 - 3 * 1.4826 * 2);
  // most scores tie: MAD 0, the threshold is the median whatever k
  assert.equal(madThreshold(sorted(5, 5, 5, 5, 9), 3), 5);
  assert.equal(madThreshold(sorted(0.8, 0.8), 3), 0.8);
  // one score
  assert.equal(madThreshold(sorted(0.7), 3), 0.7);
  // an outlier moves the MAD threshold far less than the stddev one
  const fleet = sorted(0.9, 0.91, 0.92, 0.9, 0.89, 0.91, 0.9, 0.05);
  assert.ok(madThreshold(fleet, 3) > stddevThreshold(fleet, 3));
});

test('the MAD merge agrees with sorting the deviations, on many random fleets', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 500; trial++) {
    const n = 1 + Math.floor(rand() * 40);
    // Coarse values so that ties are common.
    const xs = sorted(...Array.from({ length: n }, () => Math.round(rand() * 20) / 4));
    const median = medianOf(xs);
    const deviations = Float64Array.from(xs, (x) => Math.abs(x - median)).sort();
    assert.equal(medianDeviation(xs, median), medianOf(deviations), `fleet ${xs.join(',')}`);
  }
});

test('thresholdOf picks the method', () => {
  const xs = sorted(1, 2, 3, 4);
  assert.equal(thresholdOf(xs, { method: 'percentile', p: 50, k: 3, statisticalMin: 1 }), 2.5);
  assert.equal(thresholdOf(xs, { method: 'stddev', p: 50, k: 0, statisticalMin: 1 }), 2.5);
  assert.equal(thresholdOf(xs, { method: 'mad', p: 50, k: 0, statisticalMin: 1 }), 2.5);
});

/** A shuffle of `xs` driven by `rand`. */
function shuffled(xs: Float64Array, rand: () => number): Float64Array {
  const a = Float64Array.from(xs);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

test('selection on scores in any order gives the bits sorting gives, for every method', () => {
  let seed = 777;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const methods: ThresholdParams[] = [
    { method: 'mad', k: 3, p: 5, statisticalMin: 1 },
    { method: 'stddev', k: 2, p: 5, statisticalMin: 1 },
    { method: 'percentile', k: 3, p: 5, statisticalMin: 1 },
    { method: 'percentile', k: 3, p: 50, statisticalMin: 1 },
    { method: 'percentile', k: 3, p: 100, statisticalMin: 1 },
    { method: 'percentile', k: 3, p: 0, statisticalMin: 1 },
  ];
  for (let trial = 0; trial < 400; trial++) {
    const n = 1 + Math.floor(rand() * (trial < 300 ? 60 : 3000));
    // Half the fleets with coarse values, so that ties are common.
    const coarse = trial % 2 === 0;
    const xs = sorted(...Array.from({ length: n }, () => (coarse ? Math.round(rand() * 12) / 4 : 0.5 + rand() / 2)));
    for (const params of methods) {
      const want = thresholdOf(xs, params);
      const a = thresholdOfScores(shuffled(xs, rand), params);
      const b = thresholdOfScores(shuffled(xs, rand), params);
      assert.ok(Object.is(a, want) && Object.is(b, want), `${params.method} p${params.p}, n ${n}: ${a}, ${b}, sorted ${want}`);
    }
  }
});

test('selection handles sorted, reversed, equal and organ-pipe arrays', () => {
  const n = 2001;
  const shapes: Record<string, (i: number) => number> = {
    ascending: (i) => i,
    descending: (i) => n - i,
    equal: () => 0.75,
    'two values': (i) => i % 2,
    'organ pipe': (i) => Math.min(i, n - i),
  };
  for (const [shape, f] of Object.entries(shapes)) {
    const xs = Float64Array.from({ length: n }, (_, i) => f(i));
    const want = Float64Array.from(xs).sort();
    for (const k of [0, 1, 1000, 1999, 2000]) {
      const a = Float64Array.from(xs);
      assert.equal(selectInPlace(a, k), want[k], `${shape}, rank ${k}`);
      for (let i = 0; i < k; i++) assert.ok(a[i]! <= a[k]!, `${shape}: before rank ${k}`);
      for (let i = k + 1; i < n; i++) assert.ok(a[i]! >= a[k]!, `${shape}: after rank ${k}`);
    }
  }
});

test('exactSum rounds the exact sum once, whatever the order', () => {
  assert.equal(exactSum(Float64Array.of(0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)), 1);
  assert.equal(exactSum(Float64Array.of(1e16, 1, -1e16)), 1);
  assert.equal(exactSum(Float64Array.of(-1e16, 1e16, 1)), 1);
  // Half-way between 1 and the next double: the last partial decides which way it rounds.
  assert.equal(exactSum(Float64Array.of(1, 2 ** -53, -(2 ** -106))), 1);
  assert.equal(exactSum(Float64Array.of(1, 2 ** -53, 2 ** -106)), 1 + 2 ** -52);
  assert.equal(exactSum(new Float64Array(0)), 0);
  let seed = 99;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const xs = Float64Array.from({ length: 5000 }, () => (rand() - 0.3) * 10 ** Math.floor(rand() * 12));
  const want = exactSum(xs);
  for (let r = 0; r < 5; r++) assert.ok(Object.is(exactSum(shuffled(xs, rand)), want));
});
