import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, MetricReader, type ResourceMetrics as SdkResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ExponentialHistogramDataPoint, GaugeMetric, HistogramMetric, MetricsBatch, SumMetric } from '@skein/core';
import { decodeMetricsRequestJson, decodeMetricsRequestProto } from '../src/codec/index.ts';
import {
  encodeRequest,
  expectedBatch,
  hrToNanos,
  loadProtoRoot,
  richExpected,
  richRequestJson,
  richRequestObject,
  sdkJson,
  sdkProto,
  sdkResourceMetrics,
  wire,
} from './codec-fixtures.ts';

const root = loadProtoRoot();

describe('codec: SDK-serialised requests', () => {
  it('protobuf from ProtobufMetricsSerializer decodes to the exact batch (gauge, sum, histogram, exponential histogram)', () => {
    assert.deepStrictEqual(decodeMetricsRequestProto(sdkProto()), { batch: expectedBatch(), rejectedDataPoints: 0 });
  });

  it('OTLP/JSON from JsonMetricsSerializer decodes to the same batch', () => {
    assert.deepStrictEqual(decodeMetricsRequestJson(sdkJson()), { batch: expectedBatch(), rejectedDataPoints: 0 });
  });

  it('JSON given as a string decodes like the bytes', () => {
    const text = new TextDecoder().decode(sdkJson());
    assert.deepStrictEqual(decodeMetricsRequestJson(text).batch, expectedBatch());
  });

  it('decodes a plain Uint8Array and a Buffer view at a non-zero offset alike', () => {
    const bytes = sdkProto();
    const plain = new Uint8Array(bytes);
    const padded = Buffer.alloc(bytes.length + 11);
    padded.set(bytes, 7);
    const view = padded.subarray(7, 7 + bytes.length);
    assert.deepStrictEqual(decodeMetricsRequestProto(plain).batch, expectedBatch());
    assert.deepStrictEqual(decodeMetricsRequestProto(view).batch, expectedBatch());
  });

  it('copies bytes values, so reusing the request buffer cannot change the batch', () => {
    const bytes = Buffer.from(sdkProto());
    const { batch } = decodeMetricsRequestProto(bytes);
    bytes.fill(0);
    assert.deepStrictEqual(batch, expectedBatch());
  });
});

/** A reader that exporters would wrap: collect() hands over ResourceMetrics on demand. */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function recordWithMeterProvider(): Promise<SdkResourceMetrics> {
  const reader = new PullReader();
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'fleet-agent', 'host.name': 'node-7' }),
    readers: [reader],
    views: [{ instrumentName: 'rpc.size', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = provider.getMeter('agent', '2.0.0');
  meter.createGauge('health.score').record(0.87, { cluster_id: 'eu-west-1a' });
  meter.createCounter('pushes', { valueType: ValueType.INT }).add(3, { result: 'ok' });
  meter.createUpDownCounter('inflight').add(-2.5);
  const latency = meter.createHistogram('push.latency', { unit: 'ms' });
  for (const v of [1, 7, 30, 250, 9000]) latency.record(v, { route: '/v1/metrics' });
  const size = meter.createHistogram('rpc.size', { unit: 'By' });
  for (const v of [0, 3, 100, 1e6]) size.record(v);
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepStrictEqual(errors, []);
  await provider.shutdown();
  return resourceMetrics;
}

function metric<T>(batch: MetricsBatch, name: string): T {
  const found = batch.resourceMetrics[0].scopeMetrics[0].metrics.find((m) => m.name === name);
  assert.ok(found, `metric ${name} decoded`);
  return found as T;
}

describe('codec: a MeterProvider run', () => {
  it('decodes the same batch from protobuf and JSON, with the recorded values and timestamps', async () => {
    const rm = await recordWithMeterProvider();
    const fromProto = decodeMetricsRequestProto(sdkProto(rm));
    const fromJson = decodeMetricsRequestJson(sdkJson(rm));
    assert.deepStrictEqual(fromJson, fromProto);
    assert.equal(fromProto.rejectedDataPoints, 0);
    const batch = fromProto.batch;

    assert.deepStrictEqual(batch.resourceMetrics[0].resource.attributes['service.name'], 'fleet-agent');
    assert.deepStrictEqual(batch.resourceMetrics[0].scopeMetrics[0].scope, { name: 'agent', version: '2.0.0' });

    const sdkPoint = (name: string) => rm.scopeMetrics[0].metrics.find((m) => m.descriptor.name === name)!.dataPoints[0];
    const health = metric<GaugeMetric>(batch, 'health.score');
    assert.equal(health.type, 'gauge');
    assert.equal(health.points[0].value, 0.87);
    assert.deepStrictEqual(health.points[0].attributes, { cluster_id: 'eu-west-1a' });
    assert.equal(health.points[0].timeUnixNano, hrToNanos(sdkPoint('health.score').endTime));
    assert.equal(health.points[0].startTimeUnixNano, hrToNanos(sdkPoint('health.score').startTime));

    const pushes = metric<SumMetric>(batch, 'pushes');
    assert.deepStrictEqual([pushes.type, pushes.isMonotonic, pushes.temporality], ['sum', true, 2]);
    assert.equal(pushes.points[0].value, 3n);
    assert.deepStrictEqual(pushes.points[0].attributes, { result: 'ok' });

    const inflight = metric<SumMetric>(batch, 'inflight');
    assert.deepStrictEqual([inflight.isMonotonic, inflight.points[0].value], [false, -2.5]);

    const latency = metric<HistogramMetric>(batch, 'push.latency');
    assert.equal(latency.unit, 'ms');
    assert.deepStrictEqual(
      { count: latency.points[0].count, sum: latency.points[0].sum, min: latency.points[0].min, max: latency.points[0].max },
      { count: 5, sum: 9288, min: 1, max: 9000 },
    );
    assert.equal(latency.points[0].bucketCounts.length, latency.points[0].explicitBounds.length + 1);
    assert.equal(latency.points[0].bucketCounts.reduce((a, b) => a + b, 0), 5);

    const size = metric<{ type: string; points: ExponentialHistogramDataPoint[] }>(batch, 'rpc.size');
    assert.equal(size.type, 'exponential_histogram');
    const p = size.points[0];
    assert.deepStrictEqual([p.count, p.zeroCount, p.sum, p.min, p.max], [4, 1, 1_000_103, 0, 1e6]);
    assert.equal(p.zeroCount + p.positive.bucketCounts.reduce((a, b) => a + b, 0), 4);
    assert.deepStrictEqual(p.negative, { offset: 0, bucketCounts: [] });
  });
});

describe('codec: what the SDK does not send', () => {
  it('protobuf: summary, exemplars with ids, int64 extremes, flags, metadata, scope attributes, dropped counts', () => {
    assert.deepStrictEqual(decodeMetricsRequestProto(encodeRequest(root, richRequestObject())), { batch: richExpected(), rejectedDataPoints: 0 });
  });

  it('OTLP/JSON: the same request with hex ids and int64 strings', () => {
    assert.deepStrictEqual(decodeMetricsRequestJson(richRequestJson()), { batch: richExpected(), rejectedDataPoints: 0 });
  });

  it('OTLP/JSON: snake_case field names, enum names and int64s as numbers decode alike', () => {
    const camel = JSON.parse(richRequestJson());
    const snake = JSON.stringify(camel, function (this: unknown, _key, value) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
    });
    assert.match(snake, /"data_points"/);
    const request = JSON.parse(snake);
    const jobs = request.resource_metrics[0].scope_metrics[0].metrics[1].sum;
    jobs.aggregation_temporality = 'AGGREGATION_TEMPORALITY_CUMULATIVE';
    jobs.data_points[0].exemplars[1].as_int = 7;
    request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0].count = 42;
    assert.deepStrictEqual(decodeMetricsRequestJson(JSON.stringify(request)), { batch: richExpected(), rejectedDataPoints: 0 });
  });

  it('keeps proto3 optional presence: a histogram without sum/min/max is not one with zeros', () => {
    const object = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'h',
                  histogram: {
                    dataPoints: [
                      { count: '1', bucketCounts: ['1'], explicitBounds: [] },
                      { count: '1', sum: 0, min: 0, max: 0, bucketCounts: ['1'], explicitBounds: [] },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    for (const result of [decodeMetricsRequestProto(encodeRequest(root, object)), decodeMetricsRequestJson(JSON.stringify(object))]) {
      const points = (result.batch.resourceMetrics[0].scopeMetrics[0].metrics[0] as HistogramMetric).points;
      assert.deepStrictEqual(points.map((p) => [p.sum, p.min, p.max]), [[undefined, undefined, undefined], [0, 0, 0]]);
    }
  });

  it('an empty body and an empty request are an empty batch', () => {
    const empty = { batch: { resourceMetrics: [] }, rejectedDataPoints: 0 };
    assert.deepStrictEqual(decodeMetricsRequestProto(new Uint8Array(0)), empty);
    assert.deepStrictEqual(decodeMetricsRequestJson(''), empty);
    assert.deepStrictEqual(decodeMetricsRequestJson(' \n'), empty);
    assert.deepStrictEqual(decodeMetricsRequestJson('{}'), empty);
    assert.deepStrictEqual(decodeMetricsRequestJson('{"resourceMetrics":[]}'), empty);
  });
});

describe('codec: strings', () => {
  it('decodes many distinct short strings (more than the string cache holds) and non-ASCII ones exactly', () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `k${i}`);
    names.push('température', '温度', 'ä'.repeat(20), 'x'.repeat(33), '');
    const attrs = names.map((k, i) => wire.message(1, wire.string(1, k), wire.message(2, wire.string(1, `${k}=${i}`))));
    for (let round = 0; round < 2; round++) {
      const { batch } = decodeMetricsRequestProto(wire.message(1, wire.message(1, ...attrs)));
      const got = batch.resourceMetrics[0].resource.attributes;
      assert.deepStrictEqual(got, Object.fromEntries(names.map((k, i) => [k, `${k}=${i}`])));
    }
  });

  it('replaces invalid UTF-8 with U+FFFD, as JSON bodies cannot carry it at all', () => {
    const bad = Uint8Array.from([0x61, 0xff, 0x62]);
    const { batch } = decodeMetricsRequestProto(wire.message(1, wire.message(2, wire.message(1, wire.message(1, bad)))));
    assert.equal(batch.resourceMetrics[0].scopeMetrics[0].scope.name, 'a\ufffdb');
  });
});
