/**
 * Agents built on the OpenTelemetry JS SDK with its stock OTLP exporters (HTTP/protobuf and
 * gRPC), pushing through the middleware. The stock exporters do not expose reply headers, so
 * what they prove is that the middleware leaves pushes intact (the SDK sees success) and that
 * their `cluster_id` (query string, gRPC metadata) reaches the store; the API shows it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { get, startFleet } from './helpers.ts';

/** An SDK app that reports one `health.score` gauge for `node`; exports only on forceFlush. */
function sdkAgent(node: string, score: number, exporter: PushMetricExporter) {
  const results: number[] = [];
  const recording: PushMetricExporter = {
    export: (metrics, done) => exporter.export(metrics, (r) => (results.push(r.code), done(r))),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
  };
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'agent', 'host.name': node }),
    readers: [new PeriodicExportingMetricReader({ exporter: recording, exportIntervalMillis: 3_600_000 })],
  });
  provider
    .getMeter('agent')
    .createObservableGauge('health.score', { unit: '1' })
    .addCallback((r) => r.observe(score));
  return { provider, results };
}

test('SDK agents over HTTP/protobuf and gRPC, one cluster: their pushes succeed and reach the quorum', async () => {
  const f = await startFleet({ statisticalMin: 2 });
  const metadata = new grpc.Metadata();
  metadata.set('cluster_id', 'eu-1');
  const overHttp = sdkAgent('a', 0.9, new ProtoMetricExporter({ url: `http://127.0.0.1:${f.httpPort}/v1/metrics?cluster_id=eu-1` }));
  const overGrpc = sdkAgent('b', 0.7, new GrpcMetricExporter({ url: `http://127.0.0.1:${f.grpcPort}`, metadata }));
  try {
    await overHttp.provider.forceFlush();
    let view = JSON.parse((await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1')).body);
    assert.deepEqual([view.active_nodes, view.quorum_met, view.threshold], [1, false, 0]);

    await overGrpc.provider.forceFlush();
    view = JSON.parse((await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1')).body);
    assert.deepEqual([view.active_nodes, view.quorum_met], [2, true]);
    assert.ok(Math.abs(view.threshold - (0.8 - 3 * 1.4826 * 0.1)) < 1e-12);
    assert.deepEqual([overHttp.results, overGrpc.results], [[0], [0]]); // ExportResultCode.SUCCESS
  } finally {
    await Promise.all([overHttp.provider.shutdown(), overGrpc.provider.shutdown()]);
    await f.stop();
  }
});
