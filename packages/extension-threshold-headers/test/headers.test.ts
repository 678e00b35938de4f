/**
 * The reply headers of pushes, through the real OTLP receiver, threshold processor and store,
 * on both transports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryableError } from '@skein/core';
import { madThreshold } from '@skein/extension-threshold-store';
import { formatThreshold } from '../src/index.ts';
import { get, pushGrpc, pushHttp, startFleet } from './helpers.ts';

/** The mad threshold (k 3) of these scores, as the store computes it (sorted ascending). */
function expectedThreshold(scores: number[]): number {
  return madThreshold(Float64Array.from(scores).sort(), 3);
}

test('HTTP: the reply to the push that reaches the quorum says quorum true, with the threshold of all three scores', async () => {
  const f = await startFleet({ statisticalMin: 3 });
  try {
    const a = await pushHttp(f.httpPort, 'a', 0.9, 'eu-1');
    assert.equal(a.status, 200);
    assert.equal(a.headers['ingero-threshold'], '0');
    assert.equal(a.headers['ingero-quorum-met'], 'false');
    const b = await pushHttp(f.httpPort, 'b', 0.8, 'eu-1');
    assert.deepEqual([b.headers['ingero-threshold'], b.headers['ingero-quorum-met']], ['0', 'false']);

    const c = await pushHttp(f.httpPort, 'c', 0.5, 'eu-1');
    assert.equal(c.status, 200);
    assert.equal(c.headers['ingero-quorum-met'], 'true');
    // median 0.8, MAD 0.1: 0.8 − 3 · 1.4826 · 0.1
    const threshold = Number(c.headers['ingero-threshold']);
    assert.ok(Math.abs(threshold - 0.35522) < 1e-9, `threshold ${threshold}`);
    assert.equal(c.headers['ingero-threshold'], formatThreshold(expectedThreshold([0.9, 0.8, 0.5])));

    // Another cluster is not affected, and the API agrees with the headers to the bit.
    const other = await pushHttp(f.httpPort, 'x', 0.1, 'us-1');
    assert.deepEqual([other.headers['ingero-threshold'], other.headers['ingero-quorum-met']], ['0', 'false']);
    const api = JSON.parse((await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1')).body);
    assert.equal(String(api.threshold), c.headers['ingero-threshold']);
    assert.equal(api.active_nodes, 3);
  } finally {
    await f.stop();
  }
});

test('gRPC: the same, in the initial metadata of each Export reply', async () => {
  const f = await startFleet({ statisticalMin: 3 });
  try {
    const a = await pushGrpc(f.grpcPort, 'a', 0.9, 'eu-1');
    assert.equal(a.code, 0);
    assert.equal(a.initial['ingero-threshold'], '0');
    assert.equal(a.initial['ingero-quorum-met'], 'false');
    const b = await pushGrpc(f.grpcPort, 'b', 0.8, 'eu-1');
    assert.deepEqual([b.initial['ingero-threshold'], b.initial['ingero-quorum-met']], ['0', 'false']);
    const c = await pushGrpc(f.grpcPort, 'c', 0.5, 'eu-1');
    assert.equal(c.code, 0);
    assert.equal(c.initial['ingero-quorum-met'], 'true');
    assert.equal(c.initial['ingero-threshold'], formatThreshold(expectedThreshold([0.9, 0.8, 0.5])));
    assert.ok(Math.abs(Number(c.initial['ingero-threshold']) - 0.35522) < 1e-9);
  } finally {
    await f.stop();
  }
});

test('HTTP and gRPC pushes count toward one cluster; the threshold follows score changes once the store refreshes', async () => {
  const f = await startFleet({ statisticalMin: 3 });
  try {
    await pushHttp(f.httpPort, 'a', 0.9, 'eu-1');
    await pushGrpc(f.grpcPort, 'b', 0.8, 'eu-1');
    const c = await pushHttp(f.httpPort, 'c', 0.5, 'eu-1');
    assert.equal(c.headers['ingero-threshold'], formatThreshold(expectedThreshold([0.9, 0.8, 0.5])));

    // Node a drops to 0.2. Thresholds are recomputed off the push path, every refresh_interval.
    const a = await pushGrpc(f.grpcPort, 'a', 0.2, 'eu-1');
    assert.equal(a.initial['ingero-threshold'], c.headers['ingero-threshold']);
    await f.store.refresh();
    const after = await pushHttp(f.httpPort, 'b', 0.8, 'eu-1');
    assert.equal(after.headers['ingero-threshold'], formatThreshold(expectedThreshold([0.2, 0.8, 0.5])));
    assert.notEqual(after.headers['ingero-threshold'], c.headers['ingero-threshold']);
  } finally {
    await f.stop();
  }
});

test('the header names are configurable, and only the configured ones are written', async () => {
  const f = await startFleet({ statisticalMin: 1, headers: 'threshold_header: x-fleet-threshold, quorum_header: x-fleet-quorum' });
  try {
    const h = await pushHttp(f.httpPort, 'a', 0.75, 'eu-1');
    assert.equal(h.headers['x-fleet-threshold'], '0.75');
    assert.equal(h.headers['x-fleet-quorum'], 'true');
    assert.equal(h.headers['ingero-threshold'], undefined);
    assert.equal(h.headers['ingero-quorum-met'], undefined);

    const g = await pushGrpc(f.grpcPort, 'b', 0.75, 'eu-1');
    assert.equal(g.initial['x-fleet-threshold'], '0.75');
    assert.equal(g.initial['x-fleet-quorum'], 'true');
    assert.equal(g.initial['ingero-threshold'], undefined);

    const api = await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1');
    assert.equal(api.headers['x-fleet-threshold'], '0.75');
    assert.equal(api.headers['x-fleet-quorum'], 'true');
  } finally {
    await f.stop();
  }
});

test('a push without cluster_id is answered without threshold headers, and counted', async () => {
  const f = await startFleet({ statisticalMin: 1 });
  try {
    // The resource names the cluster, so the processor records the score, but the middleware
    // sees only the request: no cluster_id there, no headers.
    const h = await pushHttp(f.httpPort, 'a', 0.5, undefined, { cluster_id: 'eu-1' });
    assert.equal(h.status, 200);
    assert.equal(h.headers['ingero-threshold'], undefined);
    assert.equal(h.headers['ingero-quorum-met'], undefined);
    assert.equal(f.store.get('eu-1').activeNodes, 1);

    const empty = await pushHttp(f.httpPort, 'b', 0.5, '', { cluster_id: 'eu-1' });
    assert.equal(empty.headers['ingero-threshold'], undefined);

    const g = await pushGrpc(f.grpcPort, 'c', 0.5, undefined, { cluster_id: 'eu-1' });
    assert.equal(g.code, 0);
    assert.equal(g.initial['ingero-threshold'], undefined);

    const count = (transport: string) => f.registry.value('skein_threshold_headers_pushes_without_cluster_total', { extension: 'threshold_headers', transport });
    assert.equal(count('http'), 2);
    assert.equal(count('grpc'), 1);
  } finally {
    await f.stop();
  }
});

test('a push the pipeline refuses still carries the headers, which count its score', async () => {
  const f = await startFleet({ statisticalMin: 1 });
  f.sink.control.fail = () => retryableError('the exporter is down');
  try {
    const h = await pushHttp(f.httpPort, 'a', 0.5, 'eu-1');
    assert.equal(h.status, 503);
    assert.equal(h.headers['ingero-threshold'], '0.5');
    assert.equal(h.headers['ingero-quorum-met'], 'true');

    const g = await pushGrpc(f.grpcPort, 'b', 0.5, 'eu-1');
    assert.equal(g.code, 14); // UNAVAILABLE
    assert.equal(g.initial['ingero-quorum-met'], 'true');
    assert.equal(g.initial['ingero-threshold'], '0.5');
  } finally {
    await f.stop();
  }
});

test('a request refused before its body is read (no valid content type) gets no score counted but still the headers', async () => {
  const f = await startFleet({ statisticalMin: 2 });
  try {
    await pushHttp(f.httpPort, 'a', 0.5, 'eu-1');
    const res = await fetch(`http://127.0.0.1:${f.httpPort}/v1/metrics?cluster_id=eu-1`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get('ingero-quorum-met'), 'false');
    assert.equal(res.headers.get('ingero-threshold'), '0');
    assert.equal(f.store.get('eu-1').activeNodes, 1);
  } finally {
    await f.stop();
  }
});

test('formatThreshold: the shortest round-trip decimal, plain for ordinary values', () => {
  assert.equal(formatThreshold(0), '0');
  assert.equal(formatThreshold(-0), '0');
  assert.equal(formatThreshold(0.61), '0.61');
  assert.equal(formatThreshold(-0.125), '-0.125');
  assert.equal(formatThreshold(87.5), '87.5');
  assert.equal(formatThreshold(0.1 + 0.2), '0.30000000000000004');
  assert.equal(formatThreshold(1e-7), '1e-7');
  for (const v of [0.35522, 1 / 3, 123456.789, 1e-7]) assert.equal(Number(formatThreshold(v)), v);
});
