import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import snappy from 'snappyjs';
import { snappyCompress } from '../src/snappy.ts';

/** Deterministic bytes: a linear congruential generator, so a failure can be replayed. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Text with repeats at every distance: short and long matches, near and far (past 2 KiB) offsets. */
function metricsLike(n: number): Uint8Array {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `bench_latency_${i % 37}_seconds_bucket{host="bench-${i % 50}",le="${(i % 11) / 4}"} ${i * 7}\n`;
  return Buffer.from(s.slice(0, n));
}

describe('snappy compression', () => {
  it('gives back the input through an independent decompressor, for inputs of every kind and size', () => {
    const inputs: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['one byte', Uint8Array.of(7)],
      ['shorter than the margin', Buffer.from('abcabcabcabc')],
      ['random', noise(100_000, 1)],
      ['zeros over several blocks', new Uint8Array(300_000)],
      ['one long run', Buffer.from('x'.repeat(70_000))],
      ['metrics text over several blocks', metricsLike(400_000)],
      ['a view into a larger buffer', metricsLike(100_000).subarray(333, 99_001)],
      ['random with repeats spliced in', Buffer.concat([noise(5000, 2), noise(3000, 3), noise(5000, 2), Buffer.from('y'.repeat(200)), noise(5000, 2)])],
    ];
    for (const [what, input] of inputs) {
      const compressed = snappyCompress(input);
      assert.deepEqual(Buffer.from(snappy.uncompress(compressed)), Buffer.from(input), what);
      // The result is a copy of its own: the next call must not change it.
      const kept = Buffer.from(compressed);
      snappyCompress(noise(50_000, 4));
      assert.deepEqual(Buffer.from(compressed), kept, what);
    }
  });

  it('compresses repetitive data as well as snappyjs', () => {
    for (const input of [metricsLike(200_000), new Uint8Array(100_000)]) {
      assert.ok(snappyCompress(input).length <= snappy.compress(input).length * 1.01);
    }
  });

  it('never grows incompressible data by more than the format allows', () => {
    const input = noise(200_000, 5);
    assert.ok(snappyCompress(input).length <= 32 + input.length + input.length / 6);
  });
});
