import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DecodeResult } from '../src/codec/index.ts';
import { decodeMetricsRequestJson, decodeMetricsRequestProto } from '../src/codec/index.ts';
import { encodeRequest, loadProtoRoot } from './codec-fixtures.ts';

const root = loadProtoRoot();

/**
 * Decodes one request, written as an object in the form both protobufjs's fromObject and
 * OTLP/JSON accept, through both decoders; they must agree.
 */
function decodeBoth(object: Record<string, unknown>): DecodeResult {
  const fromProto = decodeMetricsRequestProto(encodeRequest(root, object));
  const fromJson = decodeMetricsRequestJson(JSON.stringify(object));
  assert.deepStrictEqual(fromJson, fromProto);
  return fromProto;
}

const request = (...metrics: object[]) => ({ resourceMetrics: [{ scopeMetrics: [{ scope: { name: 's' }, metrics }] }] });
const numberPoint = (value?: number) => (value === undefined ? { timeUnixNano: '1' } : { timeUnixNano: '1', asDouble: value });
const histogramPoint = (bucketCounts: number[], explicitBounds: number[]) => ({
  timeUnixNano: '1',
  count: String(bucketCounts.reduce((a, b) => a + b, 0)),
  bucketCounts: bucketCounts.map(String),
  explicitBounds,
});

function pointCounts(r: DecodeResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of r.batch.resourceMetrics[0].scopeMetrics[0].metrics) out[m.name] = m.points.length;
  return out;
}

describe('codec: partial success', () => {
  it('rejects a number point with neither asDouble nor asInt and keeps the others', () => {
    const r = decodeBoth(request({ name: 'g', gauge: { dataPoints: [numberPoint(1), numberPoint(), numberPoint(3)] } }));
    assert.equal(r.rejectedDataPoints, 1);
    assert.equal(r.errorMessage, '1 data point rejected: metric "g": number data point has no value');
    const points = r.batch.resourceMetrics[0].scopeMetrics[0].metrics[0].points;
    assert.deepStrictEqual(points.map((p) => ('value' in p ? p.value : undefined)), [1, 3]);
  });

  it('drops a metric whose points are all rejected', () => {
    const r = decodeBoth(
      request(
        { name: 'kept', gauge: { dataPoints: [numberPoint(1)] } },
        { name: 'empty.sum', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [numberPoint(), numberPoint()] } },
      ),
    );
    assert.equal(r.rejectedDataPoints, 2);
    assert.equal(r.errorMessage, '2 data points rejected: metric "empty.sum": number data point has no value');
    assert.deepStrictEqual(pointCounts(r), { kept: 1 });
  });

  it('rejects a histogram point whose bucket counts do not match its bounds (both empty is fine)', () => {
    const r = decodeBoth(
      request({
        name: 'h',
        histogram: {
          aggregationTemporality: 1,
          dataPoints: [histogramPoint([1, 2, 3, 4], [1, 2, 3]), histogramPoint([1, 2, 3], [1, 2, 3]), histogramPoint([], []), histogramPoint([5], [])],
        },
      }),
    );
    assert.equal(r.rejectedDataPoints, 1);
    assert.equal(r.errorMessage, '1 data point rejected: metric "h": histogram data point has 3 bucket counts for 3 explicit bounds, expected 4');
    assert.deepStrictEqual(pointCounts(r), { h: 3 });
  });

  it('rejects every point of a metric without a name, naming where it is', () => {
    const r = decodeBoth(
      request({ name: 'a', gauge: { dataPoints: [numberPoint(1)] } }, { unit: 's', gauge: { dataPoints: [numberPoint(1), numberPoint()] } }),
    );
    assert.equal(r.rejectedDataPoints, 2);
    assert.equal(r.errorMessage, '2 data points rejected: resourceMetrics[0].scopeMetrics[0].metrics[1]: metric has no name');
    assert.deepStrictEqual(pointCounts(r), { a: 1 });
  });

  it('drops a metric with no data field without counting a rejection', () => {
    const r = decodeBoth(request({ name: 'nothing', unit: '1' }, { name: 'a', gauge: { dataPoints: [numberPoint(1)] } }));
    assert.deepStrictEqual([r.rejectedDataPoints, r.errorMessage], [0, undefined]);
    assert.deepStrictEqual(pointCounts(r), { a: 1 });
  });

  it('rejects the points of a metric with an unknown aggregation temporality', () => {
    const r = decodeBoth(request({ name: 'odd', sum: { aggregationTemporality: 7, dataPoints: [numberPoint(1), numberPoint(2)] } }));
    assert.equal(r.rejectedDataPoints, 2);
    assert.equal(r.errorMessage, '2 data points rejected: metric "odd": unknown aggregation temporality 7');
    assert.deepStrictEqual(pointCounts(r), {});
  });

  it('sums up several reasons with their counts, and caps the list', () => {
    const r = decodeBoth(
      request(
        { name: 'g', gauge: { dataPoints: [numberPoint(), numberPoint(), numberPoint(), numberPoint(1)] } },
        { gauge: { dataPoints: [numberPoint(1), numberPoint(2)] } },
      ),
    );
    assert.equal(r.rejectedDataPoints, 5);
    assert.equal(
      r.errorMessage,
      '5 data points rejected: metric "g": number data point has no value (3); resourceMetrics[0].scopeMetrics[0].metrics[1]: metric has no name (2)',
    );

    const many = decodeBoth(request(...Array.from({ length: 7 }, (_, i) => ({ name: `m${i}`, gauge: { dataPoints: [numberPoint()] } }))));
    assert.equal(many.rejectedDataPoints, 7);
    assert.equal(
      many.errorMessage,
      '7 data points rejected: ' +
        [0, 1, 2, 3, 4].map((i) => `metric "m${i}": number data point has no value (1)`).join('; ') +
        '; and 2 more reasons',
    );
  });
});
