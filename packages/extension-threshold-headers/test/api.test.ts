/** `GET /api/v1/threshold?cluster_id=`, on the OTLP receiver's HTTP port and on its own endpoint. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { get, pushHttp, startFleet } from './helpers.ts';

test('a cluster with its quorum: the four contract keys first, then the details; the headers of a push too', async () => {
  const f = await startFleet({ statisticalMin: 2 });
  try {
    await pushHttp(f.httpPort, 'a', 0.9, 'eu-1');
    const before = Date.now();
    await pushHttp(f.httpPort, 'b', 0.7, 'eu-1');
    const res = await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = JSON.parse(res.body);
    assert.deepEqual(Object.keys(body), ['cluster_id', 'threshold', 'quorum_met', 'active_nodes', 'statistical_min', 'method', 'computed_at', 'stale']);
    // Two scores: median 0.8, MAD 0.1.
    assert.ok(Math.abs(body.threshold - (0.8 - 3 * 1.4826 * 0.1)) < 1e-12);
    assert.deepEqual({ ...body, threshold: 0, computed_at: 0 }, {
      cluster_id: 'eu-1',
      threshold: 0,
      quorum_met: true,
      active_nodes: 2,
      statistical_min: 2,
      method: 'mad',
      computed_at: 0,
      stale: false,
    });
    const computedAt = Date.parse(body.computed_at);
    assert.ok(computedAt >= before - 1 && computedAt <= Date.now(), body.computed_at);
    assert.equal(res.headers['ingero-threshold'], String(body.threshold));
    assert.equal(res.headers['ingero-quorum-met'], 'true');
  } finally {
    await f.stop();
  }
});

test('an unknown cluster and one below its quorum: threshold 0, quorum false', async () => {
  const f = await startFleet({ statisticalMin: 3 });
  try {
    const unknown = await get(f.httpPort, '/api/v1/threshold?cluster_id=nowhere');
    assert.equal(unknown.status, 200);
    assert.deepEqual(JSON.parse(unknown.body), {
      cluster_id: 'nowhere',
      threshold: 0,
      quorum_met: false,
      active_nodes: 0,
      statistical_min: 3,
      method: 'mad',
      computed_at: null,
      stale: false,
    });
    assert.equal(unknown.headers['ingero-threshold'], '0');
    assert.equal(unknown.headers['ingero-quorum-met'], 'false');

    await pushHttp(f.httpPort, 'a', 0.9, 'eu 1/ä');
    const below = JSON.parse((await get(f.httpPort, `/api/v1/threshold?cluster_id=${encodeURIComponent('eu 1/ä')}`)).body);
    assert.deepEqual([below.cluster_id, below.threshold, below.quorum_met, below.active_nodes], ['eu 1/ä', 0, false, 1]);
  } finally {
    await f.stop();
  }
});

test('without cluster_id, or with an empty one: 400 with a clear message; HEAD has no body; other methods 405', async () => {
  const f = await startFleet();
  try {
    for (const path of ['/api/v1/threshold', '/api/v1/threshold?cluster_id=', '/api/v1/threshold?cluster=eu-1']) {
      const res = await get(f.httpPort, path);
      assert.equal(res.status, 400, path);
      assert.equal(res.body, '{"error":"cluster_id query parameter is required"}');
      assert.equal(res.headers['ingero-threshold'], undefined);
    }
    const head = await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['ingero-quorum-met'], 'false');

    const post = await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET');

    const count = (code: number) => f.registry.value('skein_threshold_api_requests_total', { extension: 'threshold_headers', code: String(code) });
    assert.equal(count(400), 3);
    assert.equal(count(200), 1);
  } finally {
    await f.stop();
  }
});

test('api_path moves the API', async () => {
  const f = await startFleet({ headers: 'api_path: /fleet/threshold' });
  try {
    assert.equal((await get(f.httpPort, '/fleet/threshold?cluster_id=eu-1')).status, 200);
    assert.equal((await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1')).status, 404);
  } finally {
    await f.stop();
  }
});

test('endpoint: the API on a listener of its own, closed at shutdown', async () => {
  const f = await startFleet({ statisticalMin: 1, headers: 'endpoint: "127.0.0.1:0"' });
  const address = f.headers.address;
  try {
    assert.equal(address?.host, '127.0.0.1');
    const port = address!.port;
    assert.ok(port > 0 && port !== f.httpPort);
    await pushHttp(f.httpPort, 'a', 0.25, 'eu-1');

    const res = await get(port, '/api/v1/threshold?cluster_id=eu-1');
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body);
    assert.deepEqual([body.cluster_id, body.threshold, body.quorum_met, body.active_nodes], ['eu-1', 0.25, true, 1]);
    assert.equal(res.headers['ingero-threshold'], '0.25');
    // The same answer as on the receiver's port.
    assert.equal((await get(f.httpPort, '/api/v1/threshold?cluster_id=eu-1')).body, res.body);

    const missing = await get(port, '/api/v1/threshold');
    assert.deepEqual([missing.status, missing.body], [400, '{"error":"cluster_id query parameter is required"}']);
    const other = await get(port, '/v1/metrics');
    assert.deepEqual([other.status, other.body], [404, '{"error":"not found: /v1/metrics; the threshold API is served on /api/v1/threshold"}']);
    const post = await get(port, '/api/v1/threshold?cluster_id=eu-1', 'POST');
    assert.deepEqual([post.status, post.headers.allow, post.body], [405, 'GET, HEAD', '{"error":"method POST is not allowed on /api/v1/threshold; use GET"}']);
  } finally {
    await f.stop();
  }
  assert.equal(f.headers.address, undefined);
  await assert.rejects(
    new Promise<void>((resolve, reject) => connect(address!.port, '127.0.0.1', () => resolve()).on('error', reject)),
    { code: 'ECONNREFUSED' },
  );
});
