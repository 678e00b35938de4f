import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStaleNaN, STALE_NAN } from '@skein/prometheus-translation';
import snappy from 'snappyjs';
import { encodeRequest, requestBuilder } from '../src/encode.ts';
import { ProtoWriter } from '../src/proto-writer.ts';
import { decodeRecord, decodeV2Request } from '../src/queue-codec.ts';
import { formRequests } from '../src/requests.ts';
import { backoffMs, isRetryableStatus, parseRetryAfter } from '../src/retry.ts';
import type { NativeHistogram, RemoteSeries } from '../src/series.ts';
import { apportion, conformSeries, seriesHash } from '../src/shard.ts';
import { decodeV1, decodeV2 } from './helpers.ts';
import { encodeRecord } from './testdata/previous-queue-format.ts';

const T = 1_737_000_000_000;

function series(name: string, extra: Record<string, string>, samples: [number, number][], more: Partial<RemoteSeries> = {}): RemoteSeries {
  const labels = Object.entries({ __name__: name, ...extra })
    .map(([n, value]) => ({ name: n, value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    labels,
    samples: samples.map(([timestampMs, value]) => ({ timestampMs, value })),
    histograms: [],
    type: 'gauge',
    help: `help of ${name}`,
    unit: '',
    familyName: name,
    ...more,
  };
}

const nativeHistogram: NativeHistogram = {
  timestampMs: T,
  count: 12,
  sum: 34.5,
  schema: -2,
  zeroThreshold: 1e-128,
  zeroCount: 2,
  negativeSpans: [{ offset: -3, length: 1 }],
  negativeDeltas: [1],
  positiveSpans: [
    { offset: 0, length: 2 },
    { offset: 5, length: 1 },
  ],
  positiveDeltas: [4, -1, 3],
  resetHint: 2,
};

describe('remote write 1.0 encoding', () => {
  it('encodes labels, samples and histograms as prometheus.WriteRequest reads them', () => {
    const body = encodeRequest('v1', [
      series('up', { instance: 'a:9100', job: 'node' }, [
        [T, 1],
        [T + 15_000, 0],
      ]),
      { ...series('latency_seconds', { job: 'api' }, []), type: 'histogram', histograms: [nativeHistogram] },
    ]);
    const req = decodeV1(body);
    assert.deepEqual(req.series[0]!.labels, [
      ['__name__', 'up'],
      ['instance', 'a:9100'],
      ['job', 'node'],
    ]);
    assert.deepEqual(req.series[0]!.samples, [
      { value: 1, timestamp: T },
      { value: 0, timestamp: T + 15_000 },
    ]);
    const h = req.series[1]!.histograms[0]!;
    assert.equal(h.countInt, 12);
    assert.equal(h.sum, 34.5);
    assert.equal(h.schema, -2);
    assert.equal(h.zeroThreshold, 1e-128);
    assert.equal(h.zeroCountInt, 2);
    assert.deepEqual(h.negativeSpans, [{ offset: -3, length: 1 }]);
    assert.deepEqual(h.negativeDeltas, [1]);
    assert.deepEqual(h.positiveSpans, nativeHistogram.positiveSpans);
    assert.deepEqual(h.positiveDeltas, [4, -1, 3]);
    assert.equal(h.resetHint, 2);
    assert.equal(h.timestamp, T);
    assert.deepEqual(req.metadata, []);
  });

  it('writes the stale marker bit for bit (0x7ff0000000000002)', () => {
    const body = encodeRequest('v1', [series('up', {}, [[T, STALE_NAN]])]);
    // The double follows the tag 0x09 (field 1, fixed64) inside the sample.
    const at = body.indexOf(0x09, body.length - 20);
    const bits = new DataView(body.buffer, body.byteOffset + at + 1, 8).getBigUint64(0, true);
    assert.equal(bits, 0x7ff0000000000002n);
  });

  it('writes a stale marker whose quiet bit V8 set as the marker, and other NaNs as they are', () => {
    const quieted = new DataView(new ArrayBuffer(8));
    quieted.setBigUint64(0, 0x7ff8000000000002n, true);
    const other = new DataView(new ArrayBuffer(8));
    other.setBigUint64(0, 0x7ff8000000000000n, true);
    for (const [v, want] of [
      [quieted.getFloat64(0, true), 0x7ff0000000000002n],
      [other.getFloat64(0, true), 0x7ff8000000000000n],
    ] as const) {
      const w = new ProtoWriter();
      w.double(v);
      assert.equal(new DataView(w.buf.buffer).getBigUint64(0, true), want);
    }
  });

  it('handles long and non-ASCII strings, negative timestamps and large messages', () => {
    const long = 'x'.repeat(200);
    const big = series('big', { a: long, b: 'ünïcödé ✓', c: 'y'.repeat(20_000) }, [
      [-5, 1.5],
      [2 ** 41, -0],
    ]);
    const req = decodeV1(encodeRequest('v1', [big]));
    assert.deepEqual(req.series[0]!.labels.slice(1), [
      ['a', long],
      ['b', 'ünïcödé ✓'],
      ['c', 'y'.repeat(20_000)],
    ]);
    assert.deepEqual(req.series[0]!.samples, [
      { value: 1.5, timestamp: -5 },
      { value: -0, timestamp: 2 ** 41 },
    ]);
  });

  it('adds MetricMetadata once per family when asked', () => {
    const body = encodeRequest(
      'v1',
      [
        { ...series('http_requests_total', { code: '200' }, [[T, 3]]), type: 'counter', familyName: 'http_requests_total' },
        { ...series('http_requests_total', { code: '500' }, [[T, 1]]), type: 'counter', familyName: 'http_requests_total' },
      ],
      { sendMetadata: true },
    );
    assert.deepEqual(decodeV1(body).metadata, [{ type: 1, metricFamilyName: 'http_requests_total', help: 'help of http_requests_total', unit: '' }]);
  });

  it('takes back the last series with undo, metadata included', () => {
    const b = requestBuilder('v1', { sendMetadata: true });
    b.add(series('a', {}, [[T, 1]]));
    const size = b.size();
    b.add(series('b', {}, [[T, 2]]));
    assert.ok(b.size() > size);
    b.undo();
    assert.equal(b.size(), size);
    assert.equal(b.series, 1);
    const req = decodeV1(b.finish());
    assert.deepEqual(
      req.series.map((s) => s.labels[0]),
      [['__name__', 'a']],
    );
    assert.deepEqual(
      req.metadata.map((m) => m.metricFamilyName),
      ['a'],
    );
  });
});

describe('remote write 2.0 encoding', () => {
  it('references labels, help and unit through a symbols table that starts with ""', () => {
    const body = encodeRequest('v2', [
      { ...series('rpc_duration_seconds', { job: 'api' }, [[T, 0.25]]), type: 'counter', unit: 'seconds', createdTimestampMs: T - 60_000 },
      { ...series('rpc_duration_seconds', { job: 'web' }, []), type: 'histogram', unit: 'seconds', histograms: [nativeHistogram] },
    ]);
    const req = decodeV2(body);
    assert.equal(req.symbols![0], '');
    assert.equal(new Set(req.symbols).size, req.symbols!.length, 'symbols are unique');
    const [a, b] = req.series;
    assert.deepEqual(a!.labels, [
      ['__name__', 'rpc_duration_seconds'],
      ['job', 'api'],
    ]);
    assert.deepEqual(a!.samples, [{ value: 0.25, timestamp: T }]);
    assert.deepEqual(a!.metadata, { type: 1, help: 'help of rpc_duration_seconds', unit: 'seconds' });
    assert.equal(a!.createdTimestamp, T - 60_000);
    assert.deepEqual(b!.metadata, { type: 3, help: 'help of rpc_duration_seconds', unit: 'seconds' });
    assert.equal(b!.createdTimestamp, 0);
    assert.deepEqual(b!.histograms[0]!.positiveDeltas, [4, -1, 3]);
  });

  it('writes the symbols before the series, and undo removes the symbols only the last series used', () => {
    const b = requestBuilder('v2');
    b.add(series('a', { job: 'x' }, [[T, 1]]));
    b.add(series('b', { job: 'x', only_b: 'yes' }, [[T, 2]]));
    b.undo();
    const body = b.finish();
    assert.equal(body[0], (4 << 3) | 2, 'the first field is symbols (4)');
    const req = decodeV2(body);
    assert.deepEqual(req.symbols, ['', '__name__', 'a', 'job', 'x', 'help of a']);
    assert.equal(req.series.length, 1);
  });
});

describe('reading back what the persistent queue stored', () => {
  it('reads a record of the previous format with every field, stale markers and negative numbers included', () => {
    const input: RemoteSeries[] = [
      { ...series('up', { job: 'node' }, [[T, STALE_NAN]]), type: 'counter', unit: 'seconds', createdTimestampMs: T - 1 },
      { ...series('h', { le: 'x' }, []), type: 'histogram', histograms: [nativeHistogram] },
      series('neg', {}, [[-1000, -Infinity]]),
    ];
    const out = decodeRecord(encodeRecord(input));
    assert.deepEqual(out, input);
    assert.ok(isStaleNaN(out[0]!.samples[0]!.value));
    const again = encodeRequest('v1', [out[0]!]);
    const at = again.indexOf(0x09, again.length - 20);
    assert.equal(new DataView(again.buffer, again.byteOffset + at + 1, 8).getBigUint64(0, true), 0x7ff0000000000002n);
  });

  it('reads a 2.0 request back to the series it was encoded from, so it can be re-encoded as 1.0', () => {
    const input: RemoteSeries[] = [
      { ...series('up', { job: 'node' }, [[T, STALE_NAN]]), type: 'counter', unit: 'seconds', createdTimestampMs: T - 1 },
      { ...series('rpc_seconds', { le: '+Inf' }, [[T, 3]]), type: 'histogram', familyName: 'rpc_seconds', help: 'h' },
      { ...series('rpc_seconds_bucket', { le: '+Inf' }, [[T, 3]]), type: 'histogram', familyName: 'rpc_seconds', help: 'h' },
      { ...series('q_sum', { x: 'é' }, [[-1000, -Infinity]]), type: 'summary', familyName: 'q', help: '' },
      { ...series('native_count', {}, []), type: 'histogram', histograms: [nativeHistogram] },
    ];
    const out = decodeV2Request(encodeRequest('v2', input));
    assert.deepEqual(out, input);
    assert.ok(isStaleNaN(out[0]!.samples[0]!.value));
    assert.deepEqual(encodeRequest('v1', out, { sendMetadata: true }), encodeRequest('v1', input, { sendMetadata: true }));
  });
});

describe('forming requests', () => {
  const many = (n: number, samplesEach = 1) =>
    Array.from({ length: n }, (_, i) =>
      series(
        'm',
        { i: String(i).padStart(3, '0') },
        Array.from({ length: samplesEach }, (_, k): [number, number] => [T + k, i]),
      ),
    );

  it('cuts at max samples, in order, each request a snappy-compressed request of its protocol', () => {
    for (const protocol of ['v1', 'v2'] as const) {
      // A native histogram counts as one sample.
      const input = [...many(5), { ...series('h', {}, []), histograms: [nativeHistogram] }];
      const formed = formRequests(requestBuilder(protocol), input, { maxSamples: 3, maxBytes: 1 << 20 });
      assert.deepEqual(
        formed.map((r) => [r.protocol, r.samples, r.histograms, r.series]),
        [
          [protocol, 3, 0, 3],
          [protocol, 2, 1, 3],
        ],
      );
      const decode = protocol === 'v1' ? decodeV1 : decodeV2;
      const back = formed.flatMap((r) => decode(snappy.uncompress(r.body)).series);
      assert.deepEqual(
        back.map((s) => [s.labels.at(-1)![1], s.samples.length, s.histograms.length]),
        [['000', 1, 0], ['001', 1, 0], ['002', 1, 0], ['003', 1, 0], ['004', 1, 0], ['h', 0, 1]],
      );
      if (protocol === 'v2') {
        const symbols = formed.map((r) => decodeV2(snappy.uncompress(r.body)).symbols!);
        assert.ok(symbols[0]!.includes('002') && !symbols[0]!.includes('003'), 'each request has its own symbols table');
        assert.ok(symbols[1]!.includes('003') && !symbols[1]!.includes('002'));
      }
    }
  });

  it('cuts a series bigger than a request into several, and cuts at max bytes', () => {
    const big = formRequests(requestBuilder('v1'), many(1, 7), { maxSamples: 3, maxBytes: 1 << 20 });
    assert.deepEqual(
      big.map((r) => decodeV1(snappy.uncompress(r.body)).series[0]!.samples.map((x) => x.timestamp - T)),
      [[0, 1, 2], [3, 4, 5], [6]],
    );
    const bySize = formRequests(requestBuilder('v1'), many(10), { maxSamples: 100, maxBytes: 120 });
    assert.ok(bySize.length > 1 && bySize.every((r) => snappy.uncompress(r.body).length <= 120 || r.series === 1));
    assert.equal(bySize.reduce((n, r) => n + r.samples, 0), 10);
  });
});

describe('the writer', () => {
  it('fixes up nested lengths whatever the reserve guessed', () => {
    for (const len of [0, 1, 127, 128, 16383, 16384, 70_000]) {
      for (const reserve of [1, 2, 3]) {
        const w = new ProtoWriter(16);
        const m = w.fork(reserve);
        for (let i = 0; i < len; i++) w.buf[w.pos++] = 7, w.ensure(1);
        w.join(m);
        let n = 0;
        let shift = 1;
        let p = 0;
        for (;;) {
          const b = w.buf[p++]!;
          n += (b & 0x7f) * shift;
          if (b < 0x80) break;
          shift *= 128;
        }
        assert.equal(n, len, `length ${len} with reserve ${reserve}`);
        assert.equal(w.pos, p + len);
      }
    }
  });
});

describe('retries', () => {
  it('doubles the backoff from min_backoff up to max_backoff, never under half of it', () => {
    const lows = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffMs(a, 30, 5000, () => 0));
    const highs = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffMs(a, 30, 5000, () => 0.999999));
    assert.deepEqual(lows, [15, 30, 60, 120, 240, 480, 960, 1920, 2500]);
    for (let i = 0; i < highs.length; i++) assert.ok(highs[i]! <= Math.min(5000, 30 * 2 ** i) && highs[i]! > lows[i]!);
  });

  it('reads Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2025-01-15T12:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter('Wed, 15 Jan 2025 12:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 15 Jan 2025 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('retries 5xx and 429 only', () => {
    assert.deepEqual(
      [200, 400, 401, 404, 413, 415, 429, 500, 503].map(isRetryableStatus),
      [false, false, false, false, false, false, true, true, true],
    );
  });
});

describe('series checks', () => {
  it('sorts labels, drops empty values, orders samples and refuses duplicate names', () => {
    const s: RemoteSeries = {
      ...series('up', {}, []),
      labels: [
        { name: 'job', value: 'x' },
        { name: '__name__', value: 'up' },
        { name: 'empty', value: '' },
      ],
      samples: [
        { timestampMs: 3, value: 3 },
        { timestampMs: 1, value: 1 },
      ],
    };
    const fixed = conformSeries(s);
    assert.ok(!('invalid' in fixed));
    assert.deepEqual(
      fixed.labels.map((l) => l.name),
      ['__name__', 'job'],
    );
    assert.deepEqual(
      fixed.samples.map((x) => x.timestampMs),
      [1, 3],
    );
    const dup = { ...s, labels: [...s.labels, { name: 'job', value: 'y' }] };
    assert.deepEqual(conformSeries(dup), { invalid: 'duplicate_label' });
    const good = series('up', { job: 'x' }, [[1, 1]]);
    assert.equal(conformSeries(good), good, 'a good series is passed through untouched');
  });

  it('hashes a series by its labels only', () => {
    assert.equal(seriesHash(series('up', { job: 'x' }, [[1, 1]])), seriesHash(series('up', { job: 'x' }, [[2, 5]], { help: 'other' })));
    assert.notEqual(seriesHash(series('up', { job: 'x' }, [])), seriesHash(series('up', { job: 'y' }, [])));
    // Name/value boundaries count: ab=c differs from a=bc.
    assert.notEqual(seriesHash({ ...series('n', {}, []), labels: [{ name: 'ab', value: 'c' }] }), seriesHash({ ...series('n', {}, []), labels: [{ name: 'a', value: 'bc' }] }));
  });

  it('apportions points exactly', () => {
    assert.deepEqual(apportion(10, [1, 1, 1]), [4, 3, 3]);
    assert.deepEqual(apportion(3, [100, 1]), [3, 0]);
    assert.deepEqual(apportion(5, [0, 0]), [5, 0]);
    for (let total = 0; total < 50; total++) assert.equal(apportion(total, [3, 7, 11, 2]).reduce((a, b) => a + b, 0), total);
  });
});
