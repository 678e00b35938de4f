import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Exemplar, GaugeMetric } from '@skein/core';
import { decodeMetricsRequestJson, OtlpDecodeError } from '../src/codec/index.ts';
import { prng, richExpected, richRequestJson, sdkJson } from './codec-fixtures.ts';

function decodeError(body: string | Uint8Array): string {
  try {
    decodeMetricsRequestJson(body);
  } catch (err) {
    assert.ok(err instanceof OtlpDecodeError, `expected an OtlpDecodeError, got ${err}`);
    return err.message;
  }
  assert.fail('decoded without an error');
}

/** A request whose third metric is a gauge with the given point (the first two are fine). */
function withPoint(point: Record<string, unknown>): string {
  const ok = { name: 'ok', gauge: { dataPoints: [{ asDouble: 1 }] } };
  return JSON.stringify({
    resourceMetrics: [{ scopeMetrics: [{ metrics: [ok, ok, { name: 'g', gauge: { dataPoints: [{ timeUnixNano: '1', asDouble: 1, ...point }] } }] }] }],
  });
}
const POINT = 'resourceMetrics[0].scopeMetrics[0].metrics[2].gauge.dataPoints[0]';

function decodePoint(point: Record<string, unknown>) {
  const r = decodeMetricsRequestJson(withPoint(point));
  return (r.batch.resourceMetrics[0].scopeMetrics[0].metrics[2] as GaugeMetric).points[0];
}

describe('codec (JSON): malformed bodies', () => {
  it('reports invalid JSON with the parser message', () => {
    for (const body of ['{"resourceMetrics": [}', '{', 'nul', '{"a":1}}']) {
      let parserMessage = '';
      try {
        JSON.parse(body);
      } catch (err) {
        parserMessage = (err as Error).message;
      }
      assert.equal(decodeError(body), `invalid JSON: ${parserMessage}`);
    }
    assert.equal(decodeError(Uint8Array.from([0x7b, 0xff, 0x7d])), 'invalid JSON: the body is not valid UTF-8');
  });

  it('names the path and the wrong value, exactly', () => {
    const cases: [string, string][] = [
      ['[]', 'request body: expected an object, got an array'],
      ['{"resourceMetrics":{}}', 'resourceMetrics: expected an array, got an object'],
      ['{"resourceMetrics":[7]}', 'resourceMetrics[0]: expected an object, got 7'],
      ['{"resourceMetrics":[{"resource":{"attributes":[{"key":1,"value":{"stringValue":"x"}}]}}]}', 'resourceMetrics[0].resource.attributes[0].key: expected a string, got 1'],
      ['{"resourceMetrics":[{"scopeMetrics":[{"scope":{"name":false}}]}]}', 'resourceMetrics[0].scopeMetrics[0].scope.name: expected a string, got false'],
      ['{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"s","sum":{"isMonotonic":"true"}}]}]}]}', 'resourceMetrics[0].scopeMetrics[0].metrics[0].sum.isMonotonic: expected true or false, got "true"'],
      [
        '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"s","sum":{"aggregationTemporality":"DELTA"}}]}]}]}',
        'resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality: expected an integer or one of AGGREGATION_TEMPORALITY_UNSPECIFIED, AGGREGATION_TEMPORALITY_DELTA, AGGREGATION_TEMPORALITY_CUMULATIVE, got "DELTA"',
      ],
      [
        '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"s","gauge":{},"sum":{}}]}]}]}',
        'resourceMetrics[0].scopeMetrics[0].metrics[0]: only one of gauge, sum, histogram, exponentialHistogram, summary may be set, got gauge and sum',
      ],
      ['{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"dataPoints":"x"}}]}]}]}', 'resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints: expected an array, got "x"'],
      [
        '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"dataPoints":[{"bucketCounts":[1,"2",-3]}]}}]}]}]}',
        'resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0].bucketCounts[2]: expected an unsigned 64-bit integer, got -3',
      ],
    ];
    for (const [body, message] of cases) assert.equal(decodeError(body), message, body);
  });

  it('checks every number point field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ timeUnixNano: true }, `${POINT}.timeUnixNano: expected an integer string or number, got true`],
      [{ timeUnixNano: '-1' }, `${POINT}.timeUnixNano: expected an unsigned 64-bit integer, got "-1"`],
      [{ timeUnixNano: '18446744073709551616' }, `${POINT}.timeUnixNano: expected an unsigned 64-bit integer, got "18446744073709551616"`],
      [{ startTimeUnixNano: '1e9' }, `${POINT}.startTimeUnixNano: expected an integer string or number, got "1e9"`],
      [{ asDouble: 'abc' }, `${POINT}.asDouble: expected a number or "NaN", "Infinity", "-Infinity", got "abc"`],
      [{ asDouble: undefined, asInt: 1.5 }, `${POINT}.asInt: expected an integer string or number, got 1.5`],
      [{ asDouble: undefined, asInt: '9223372036854775808' }, `${POINT}.asInt: expected a signed 64-bit integer, got "9223372036854775808"`],
      [{ asInt: 2 }, `${POINT}: only one of asDouble, asInt may be set`],
      [{ flags: -1 }, `${POINT}.flags: expected an unsigned 32-bit integer, got -1`],
      [{ attributes: { a: 1 } }, `${POINT}.attributes: expected an array, got an object`],
      [{ attributes: [{ key: 'a', value: { bytesValue: 'not base64!' } }] }, `${POINT}.attributes[0].value.bytesValue: expected a base64 string, got "not base64!"`],
      [
        { attributes: [{ key: 'a', value: { stringValue: 'x', intValue: 1 } }] },
        `${POINT}.attributes[0].value: only one value field may be set, got stringValue and intValue`,
      ],
      [{ exemplars: [{ asDouble: 1, spanId: 'zz' }] }, `${POINT}.exemplars[0].spanId: expected 16 hex digits, got "zz"`],
      [{ exemplars: [{ asDouble: 1, spanId: 'AQIDBAUGBwg=' }] }, `${POINT}.exemplars[0].spanId: expected 16 hex digits, got "AQIDBAUGBwg="`],
      [{ exemplars: [{ asDouble: 1, traceId: '0102' }] }, `${POINT}.exemplars[0].traceId: expected 32 hex digits, got "0102"`],
      [{ timeUnixNano: 'x'.repeat(100) }, `${POINT}.timeUnixNano: expected an integer string or number, got "${'x'.repeat(40)}…"`],
    ];
    for (const [point, message] of cases) assert.equal(decodeError(withPoint(point)), message, JSON.stringify(point));
  });

  it('limits attribute value nesting to 32 levels', () => {
    // Built as text: JSON.stringify itself would overflow the stack on the deepest one.
    const nested = (levels: number) => {
      let value = '{"stringValue":"leaf"}';
      for (let i = 0; i < levels; i++) value = i % 2 ? `{"arrayValue":{"values":[${value}]}}` : `{"kvlistValue":{"values":[{"key":"k","value":${value}}]}}`;
      return `{"resourceMetrics":[{"resource":{"attributes":[{"key":"deep","value":${value}}]}}]}`;
    };
    assert.equal(decodeMetricsRequestJson(nested(32)).batch.resourceMetrics.length, 1);
    assert.match(decodeError(nested(33)), /^resourceMetrics\[0\]\.resource\.attributes\[0\]\.value(\.\w+(\[0\])?)+: attribute value nested deeper than 32 levels$/);
    assert.match(decodeError(nested(5000)), /attribute value nested deeper than 32 levels$/);
  });
});

describe('codec (JSON): what the encoding allows', () => {
  it('takes doubles as numbers, numeric strings and the special strings', () => {
    assert.equal(decodePoint({ asDouble: 'NaN' }).value, NaN);
    assert.equal(decodePoint({ asDouble: 'Infinity' }).value, Infinity);
    assert.equal(decodePoint({ asDouble: '-Infinity' }).value, -Infinity);
    assert.equal(decodePoint({ asDouble: '2.5e3' }).value, 2500);
    assert.equal(decodePoint({ asDouble: -0.125 }).value, -0.125);
  });

  it('takes 64-bit integers as strings or numbers, exactly', () => {
    const p = decodePoint({ asDouble: null, asInt: '-9223372036854775808', timeUnixNano: '18446744073709551615', startTimeUnixNano: 1736942400 });
    assert.deepStrictEqual([p.value, p.timeUnixNano, p.startTimeUnixNano], [-9223372036854775808n, 18446744073709551615n, 1736942400n]);
    assert.equal(decodePoint({ asDouble: undefined, asInt: 42 }).value, 42n);
  });

  it('treats null as not set', () => {
    const p = decodePoint({ attributes: null, flags: null, exemplars: null, startTimeUnixNano: null });
    assert.deepStrictEqual([p.attributes, p.flags, p.exemplars, p.startTimeUnixNano], [{}, 0, [], 0n]);
  });

  it('reads hex ids in either case and base64 bytes in either alphabet', () => {
    const p = decodePoint({
      exemplars: [{ asDouble: 1, spanId: 'A1B2C3D4E5F60718', traceId: '0102030405060708090a0b0c0d0e0f10' }],
      attributes: [
        { key: 'std', value: { bytesValue: '+/8=' } },
        { key: 'url', value: { bytesValue: '-_8' } },
      ],
    });
    const ex = p.exemplars[0] as Exemplar;
    assert.deepStrictEqual(ex.spanId, new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18]));
    assert.deepStrictEqual(ex.traceId, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]));
    assert.deepStrictEqual(p.attributes, { std: new Uint8Array([0xfb, 0xff]), url: new Uint8Array([0xfb, 0xff]) });
  });

  it('keeps an attribute named __proto__ as a plain key', () => {
    const p = decodePoint({ attributes: [{ key: '__proto__', value: { kvlistValue: { values: [{ key: 'polluted', value: { boolValue: true } }] } } }] });
    assert.equal(Object.getPrototypeOf(p.attributes), Object.prototype);
    assert.deepStrictEqual(Object.keys(p.attributes), ['__proto__']);
    assert.equal((p.attributes as Record<string, unknown>).polluted, undefined);
  });

  it('ignores unknown fields in every object', () => {
    const request = JSON.parse(richRequestJson());
    let objects = 0;
    const addUnknown = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(addUnknown);
      else if (v !== null && typeof v === 'object') {
        Object.values(v).forEach(addUnknown);
        Object.assign(v, { zzFuture: { nested: [1, { x: 'y' }] }, zz_future_snake: 'z' });
        objects++;
      }
    };
    addUnknown(request);
    assert.ok(objects > 30, `${objects} objects extended`);
    assert.deepStrictEqual(decodeMetricsRequestJson(JSON.stringify(request)), { batch: richExpected(), rejectedDataPoints: 0 });
  });
});

describe('codec (JSON): damaged requests never crash', () => {
  it('a value of any type anywhere decodes or is an OtlpDecodeError', () => {
    const random = prng(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const replacements = [null, true, 0, -1, 1.5, '', 'x', '12', [], [1], {}, { values: 3 }, 1e300];
    const originals = [richRequestJson(), new TextDecoder().decode(sdkJson())];
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const request = JSON.parse(pick(originals));
      // Walk to a random object or array inside the request and replace one of its entries.
      let node: Record<string, unknown> = request;
      for (;;) {
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const key = pick(keys);
        const child = node[key];
        if (child !== null && typeof child === 'object' && random() < 0.8) node = child as Record<string, unknown>;
        else {
          node[key] = pick(replacements);
          break;
        }
      }
      try {
        decodeMetricsRequestJson(JSON.stringify(request));
      } catch (err) {
        assert.ok(err instanceof OtlpDecodeError, `case ${i}: ${err}`);
        rejected++;
      }
    }
    assert.ok(rejected > 1000, `${rejected} of 3000 rejected`);
  });
});
