/**
 * The exporter against a mock remote-write receiver on loopback (the one fake these tests
 * allow): headers, label order, per-series order under parallel shards, retries and backoff,
 * Retry-After, 4xx drops, the 2.0 fallback, timeouts, the memory queue bound, shutdown.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ConfigError,
  ConsumerError,
  gauge,
  metricsBatch,
  MetricsRegistry,
  millisToNanos,
  numberPoint,
  SelfMetricNames,
  type MetricsBatch,
  type Service,
} from '@skein/core';
import { requireTool, sourceReceiver, startService } from '@skein/core/testing';
import remoteWrite, { RemoteWriteMetricNames as M, USER_AGENT } from '../src/index.ts';
import { accept, captureLogger, eventually, startMockReceiver, type MockReceiver, type ReceivedRequest, type Responder } from './helpers.ts';

const ID = 'prometheusremotewrite';
const open: { service: Service; receiver: MockReceiver }[] = [];
after(async () => {
  for (const o of open) {
    await o.service.shutdown();
    await o.receiver.close();
  }
});

/** `series` gauge series `temp{i="0".."n-1"}` with one sample each at `tMs`. */
function gauges(n: number, tMs: number, attrs: Record<string, string> = {}): MetricsBatch {
  return metricsBatch([
    {
      resource: { 'service.name': 'svc', 'service.instance.id': 'host-1' },
      metrics: [gauge('temp', Array.from({ length: n }, (_, i) => numberPoint(i + tMs / 1000, { timeUnixNano: millisToNanos(tMs), attributes: { i: String(i), ...attrs } })))],
    },
  ]);
}

async function setup(exporterConfig: string, respond: Responder = accept, tls?: { key: Buffer; cert: Buffer }) {
  const receiver = await startMockReceiver(respond, { tls });
  const source = sourceReceiver();
  const { logger, lines } = captureLogger();
  const registry = new MetricsRegistry();
  const yaml = `
receivers: {source: {}}
exporters:
  ${ID}:
    endpoint: ${receiver.url}
    target_info: {enabled: false}
${exporterConfig
  .trim()
  .split('\n')
  .map((l) => '    ' + l)
  .join('\n')}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [source], exporters: [${ID}]}
`;
  const service = await startService(yaml, [source.factory, remoteWrite], { logger, registry });
  open.push({ service, receiver });
  const entry = source.consumers.get('source')!;
  const value = (name: string, labels: Record<string, string> = {}) => registry.value(name, { exporter: ID, ...labels });
  return { receiver, service, registry, lines, value, push: (b: MetricsBatch) => entry.consume(b, { transport: 'internal' }) };
}

const samplesIn = (reqs: ReceivedRequest[]) => reqs.reduce((n, r) => n + r.body.series.reduce((m, s) => m + s.samples.length + s.histograms.length, 0), 0);
const retries = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'remote write failed; retrying');

describe('prometheusremotewrite against a mock receiver', () => {
  it('sends remote write 1.0 with exactly the required headers, which configured headers cannot override', async () => {
    const { receiver, push, value } = await setup(`
headers: {X-Scope-OrgID: tenant-1}
auth: {bearer_token: s3cret}
sending: {batch_send_deadline: 10ms}`);
    await push(gauges(3, Date.now(), { zeta: 'z', alpha: 'a', empty: '' }));
    await eventually(() => value(M.samplesSent) === 3, 'samples_sent_total = 3');
    for (const { headers: h } of receiver.requests) {
      assert.equal(h['content-encoding'], 'snappy');
      assert.equal(h['content-type'], 'application/x-protobuf');
      assert.equal(h['x-prometheus-remote-write-version'], '0.1.0');
      assert.equal(h['user-agent'], USER_AGENT);
      assert.equal(h['x-scope-orgid'], 'tenant-1');
      assert.equal(h.authorization, 'Bearer s3cret');
    }
    assert.match(USER_AGENT, /^skein\/\d+\.\d+\.\d+/);
    const series = receiver.requests.flatMap((r) => r.body.series);
    assert.equal(series.length, 3);
    for (const s of series) {
      const names = s.labels.map(([n]) => n);
      assert.deepEqual(names, ['__name__', 'alpha', 'i', 'instance', 'job', 'zeta'], 'sorted, unique, the empty one left out');
      assert.ok(s.labels.every(([, v]) => v !== ''), 'no empty label values');
    }
    const requests = receiver.requests.length;
    assert.equal(value(M.requests, { status_code: '204' }), requests);
    assert.equal(value(SelfMetricNames.exporterSent), 3);
    assert.ok(value(M.seriesLastPush)! >= 1);
    assert.ok(value(M.lastSuccess)! > Date.now() / 1000 - 60);
    assert.equal(value(M.requestDuration), requests, 'every request observed in the duration histogram');
    assert.equal(value(M.shards), 4);
    assert.equal(value(M.queueCapacity), 100000);
    await eventually(() => value(M.queueSize) === 0, 'the queue empties');
  });

  it('reads bearer_token_file again for every request, so a rotated token is used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skein-rw-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'first\n');
    try {
      const { receiver, push } = await setup(`
auth: {bearer_token_file: ${JSON.stringify(file)}}
sending: {shards: 1, batch_send_deadline: 1ms}`);
      await push(gauges(1, Date.now()));
      await receiver.waitForAccepted(1);
      writeFileSync(file, 'second\n');
      await push(gauges(1, Date.now() + 1000));
      await receiver.waitForAccepted(2);
      assert.deepEqual(
        receiver.requests.map((r) => r.headers.authorization),
        ['Bearer first', 'Bearer second'],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends over TLS, verifying the store against ca_file', async () => {
    const openssl = requireTool('openssl', 'openssl');
    const dir = mkdtempSync(join(tmpdir(), 'skein-rw-tls-'));
    try {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      const { receiver, push } = await setup(
        `
tls: {ca_file: ${JSON.stringify(cert)}}
sending: {shards: 1, batch_send_deadline: 1ms}`,
        accept,
        { key: readFileSync(key), cert: readFileSync(cert) },
      );
      assert.match(receiver.url, /^https:/);
      await push(gauges(2, Date.now()));
      await receiver.waitForAccepted(1);
      assert.equal(samplesIn(receiver.accepted()), 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends basic auth', async () => {
    const { receiver, push } = await setup(`
auth: {basic: {username: bridge, password: "p@ss:word"}}
sending: {shards: 1, batch_send_deadline: 1ms}`);
    await push(gauges(1, Date.now()));
    await receiver.waitForAccepted(1);
    assert.equal(receiver.requests[0]!.headers.authorization, `Basic ${Buffer.from('bridge:p@ss:word').toString('base64')}`);
  });

  it('refuses reserved headers, two auth methods and a bad endpoint before starting', async () => {
    const source = sourceReceiver();
    const yaml = `
receivers: {source: {}}
exporters:
  ${ID}:
    endpoint: ftp://example
    headers: {Content-Type: text/plain, user-agent: me}
    auth: {bearer_token: a, basic: {username: u, password: p}}
service:
  pipelines:
    metrics: {receivers: [source], exporters: [${ID}]}
`;
    await assert.rejects(startService(yaml, [source.factory, remoteWrite]), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const messages = err.issues.map((i) => i.message.replace(/^test\.yaml:\d+:\d+: /, ''));
      assert.deepEqual(messages.sort(), [
        `exporters::${ID}::auth: must set exactly one of bearer_token, bearer_token_file, basic, got bearer_token, basic`,
        `exporters::${ID}::endpoint: must be an http:// or https:// URL, got "ftp://example"`,
        `exporters::${ID}::headers::Content-Type: is set by the exporter and cannot be configured (reserved: content-encoding, content-type, user-agent, x-prometheus-remote-write-version, content-length, transfer-encoding, connection, host)`,
        `exporters::${ID}::headers::user-agent: is set by the exporter and cannot be configured (reserved: content-encoding, content-type, user-agent, x-prometheus-remote-write-version, content-length, transfer-encoding, connection, host)`,
      ]);
      return true;
    });
  });

  it('keeps every series in order while shards send in parallel', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { receiver, push, value } = await setup(
      `
sending: {shards: 4, max_samples_per_send: 7, batch_send_deadline: 5ms}`,
      (req, n) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Uneven delays, so the shards overtake one another.
        return { ...accept(req), delayMs: (n * 7) % 23 };
      },
    );
    const origRespond = receiver.respond;
    receiver.respond = (req, n) => {
      const r = origRespond(req, n);
      setTimeout(() => inFlight--, r.delayMs ?? 0);
      return r;
    };
    const SERIES = 16;
    const ROUNDS = 25;
    const t0 = Date.now() - 60_000;
    for (let round = 0; round < ROUNDS; round++) await push(gauges(SERIES, t0 + round * 1000));
    await eventually(() => value(M.samplesSent) === SERIES * ROUNDS, `${SERIES * ROUNDS} samples sent`);
    const seen = new Map<string, number[]>();
    for (const r of receiver.accepted().sort((a, b) => a.at - b.at)) {
      for (const s of r.body.series) {
        const key = s.labels.map(([n, v]) => `${n}=${v}`).join(',');
        const list = seen.get(key) ?? [];
        list.push(...s.samples.map((x) => x.timestamp));
        seen.set(key, list);
      }
    }
    assert.equal(seen.size, SERIES);
    for (const [key, ts] of seen) {
      assert.deepEqual(
        ts,
        Array.from({ length: ROUNDS }, (_, i) => t0 + i * 1000),
        `series ${key} arrives complete and in order`,
      );
    }
    assert.ok(maxInFlight > 1, `requests overlapped (at most ${maxInFlight} at once)`);
    assert.ok(receiver.accepted().every((r) => samplesIn([r]) <= 7), 'no request is over max_samples_per_send');
  });

  it('retries 5xx with a backoff that doubles from min_backoff, then delivers', async () => {
    const { receiver, push, value, lines } = await setup(
      `
sending: {shards: 1, min_backoff: 10ms, max_backoff: 1s, batch_send_deadline: 1ms}`,
      (req, n) => (n < 5 ? { status: 503, body: 'store is down' } : accept(req)),
    );
    await push(gauges(4, Date.now()));
    await receiver.waitForAccepted(1);
    assert.equal(receiver.requests.length, 6);
    const delays = retries(lines).map((l) => l.delay_ms as number);
    assert.equal(delays.length, 5);
    delays.forEach((d, i) => {
      const full = 10 * 2 ** i;
      assert.ok(d >= Math.floor(full / 2) && d <= full, `retry ${i + 1} waits ${d} ms, within [${full / 2}, ${full}]`);
    });
    assert.deepEqual(
      retries(lines).map((l) => [l.reason, l.body]),
      Array(5).fill(['http_503', 'store is down']),
    );
    await eventually(() => value(M.samplesSent) === 4, 'samples sent');
    assert.equal(value(M.requests, { status_code: '503' }), 5);
    assert.equal(value(M.samplesRetried, { reason: 'http_503' }), 20);
    assert.equal(value(SelfMetricNames.exporterSent), 4);
    assert.equal(value(SelfMetricNames.exporterFailed), undefined);
    // Every attempt carried the same series.
    const bodies = new Set(receiver.requests.map((r) => JSON.stringify(r.body)));
    assert.equal(bodies.size, 1);
  });

  it('retries a network error (connection refused) and counts it as status_code="error"', async () => {
    const { receiver, push, value } = await setup(`
sending: {shards: 1, min_backoff: 10ms, max_backoff: 50ms, batch_send_deadline: 1ms}`);
    const url = receiver.url;
    await receiver.close();
    await push(gauges(2, Date.now()));
    await eventually(() => (value(M.requests, { status_code: 'error' }) ?? 0) >= 2, 'two failed connections');
    assert.ok(value(M.samplesRetried, { reason: 'network' })! >= 4);
    assert.equal(value(M.samplesSent), 0);
    assert.ok(url);
  });

  it('honours Retry-After in seconds on a 429', async () => {
    const { receiver, push, lines, value } = await setup(
      `
sending: {shards: 1, min_backoff: 10ms, batch_send_deadline: 1ms}`,
      (req, n) => (n === 0 ? { status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' } : accept(req)),
    );
    await push(gauges(1, Date.now()));
    await receiver.waitForAccepted(1);
    const [retry] = retries(lines);
    assert.equal(retry!.retry_after_ms, 1000);
    assert.equal(retry!.delay_ms, 1000);
    assert.equal(retry!.reason, 'http_429');
    assert.equal(value(M.requests, { status_code: '429' }), 1);
  });

  it('honours Retry-After as an HTTP date on a 503', async () => {
    const { receiver, push, lines } = await setup(
      `
sending: {shards: 1, min_backoff: 10ms, batch_send_deadline: 1ms}`,
      (req, n) => (n === 0 ? { status: 503, headers: { 'Retry-After': new Date(Date.now() + 2000).toUTCString() } } : accept(req)),
    );
    await push(gauges(1, Date.now()));
    await receiver.waitForAccepted(1);
    const [retry] = retries(lines);
    // An HTTP date has whole seconds, so the wait is between one and two seconds.
    assert.ok((retry!.delay_ms as number) > 0 && (retry!.delay_ms as number) <= 2000, `waited ${retry!.delay_ms} ms`);
    assert.equal(retry!.delay_ms, retry!.retry_after_ms);
  });

  it('never retries a 400: drops the request, counts it and logs the body, cut short', async () => {
    const longBody = 'out of order sample: ' + 'x'.repeat(2000);
    const { receiver, push, lines, value } = await setup(
      `
sending: {shards: 1, batch_send_deadline: 1ms}`,
      (req, n) => (n === 0 ? { status: 400, body: longBody } : accept(req)),
    );
    await push(gauges(5, Date.now()));
    await receiver.waitForRequests(1);
    await push(gauges(2, Date.now() + 1000));
    await receiver.waitForAccepted(1);
    assert.equal(receiver.requests.length, 2, 'the 400 was not retried');
    assert.equal(samplesIn(receiver.accepted()), 2);
    await eventually(() => value(M.samplesDropped, { reason: 'http_400' }) === 5, 'dropped samples counted');
    assert.equal(value(SelfMetricNames.exporterFailed, { reason: 'http_400' }), 5);
    await eventually(() => value(SelfMetricNames.exporterSent) === 2, 'the later batch counted as sent');
    const logged = lines.find((l) => l.level === 'error' && l.status_code === 400)!;
    assert.ok(logged, 'the refusal is logged');
    const body = logged.body as string;
    assert.ok(body.startsWith('out of order sample: xxx'));
    assert.ok(body.endsWith('…'));
    assert.equal(body.length, 512 + 1);
    assert.equal(retries(lines).length, 0);
  });

  it('sends remote write 2.0: symbols, metadata, the 2.0 headers, and reads the *-Written headers', async () => {
    const { receiver, push, value } = await setup(
      `
protocol: v2
sending: {batch_send_deadline: 1ms, shards: 1}`,
      (req) => ({ ...accept(req), headers: { ...accept(req).headers, 'X-Prometheus-Remote-Write-Samples-Written': String(samplesIn([req]) - 1) } }),
    );
    await push(gauges(3, Date.now()));
    await receiver.waitForAccepted(1);
    const r = receiver.requests[0]!;
    assert.equal(r.headers['content-type'], 'application/x-protobuf;proto=io.prometheus.write.v2.Request');
    assert.equal(r.headers['x-prometheus-remote-write-version'], '2.0.0');
    assert.equal(r.headers['content-encoding'], 'snappy');
    assert.equal(r.body.symbols![0], '');
    assert.deepEqual(r.body.series[0]!.metadata, { type: 2, help: '', unit: '' });
    // The receiver said it wrote one sample fewer than it got.
    await eventually(() => value(M.samplesDropped, { reason: 'not_written' }) === 1, 'the unwritten sample is counted');
    assert.equal(value(M.samplesSent), 2);
  });

  it('falls back from 2.0 to 1.0 on a 415 and remembers it', async () => {
    const { receiver, push, lines, value } = await setup(
      `
protocol: v2
sending: {shards: 1, batch_send_deadline: 1ms}`,
      (req) => (req.body.protocol === 'v2' ? { status: 415, body: 'unsupported' } : accept(req)),
    );
    await push(gauges(2, Date.now()));
    await receiver.waitForAccepted(1);
    await push(gauges(2, Date.now() + 1000));
    await receiver.waitForAccepted(2);
    assert.deepEqual(
      receiver.requests.map((r) => r.body.protocol),
      ['v2', 'v1', 'v1'],
    );
    assert.equal(receiver.requests[1]!.headers['x-prometheus-remote-write-version'], '0.1.0');
    const content = (r: ReceivedRequest) => r.body.series.map((s) => [s.labels, s.samples]);
    assert.deepEqual(content(receiver.requests[1]!), content(receiver.requests[0]!), 'the same series, re-encoded as 1.0');
    assert.equal(lines.filter((l) => String(l.msg).includes('falling back to 1.0')).length, 1);
    assert.equal(value(M.requests, { status_code: '415' }), 1);
    assert.equal(value(M.samplesDropped), undefined, 'nothing dropped');
    assert.equal(retries(lines).length, 0, 'the fallback is not a retry');
  });

  it('falls back from 2.0 to 1.0 when a 2xx lacks the *-Written headers (a 1.0 receiver)', async () => {
    const { receiver, push } = await setup(
      `
protocol: v2
sending: {shards: 1, batch_send_deadline: 1ms}`,
      () => ({ status: 204 }),
    );
    await push(gauges(2, Date.now()));
    await receiver.waitForAccepted(2);
    assert.deepEqual(
      receiver.requests.map((r) => r.body.protocol),
      ['v2', 'v1'],
    );
  });

  it('times out a slow reply and retries it', async () => {
    const { receiver, push, value } = await setup(
      `
timeout: 200ms
sending: {shards: 1, min_backoff: 10ms, batch_send_deadline: 1ms}`,
      (req, n) => (n === 0 ? { ...accept(req), delayMs: 1500 } : accept(req)),
    );
    await push(gauges(3, Date.now()));
    await receiver.waitForAccepted(1);
    await eventually(() => value(M.samplesSent) === 3, 'sent after the retry');
    assert.equal(value(M.requests, { status_code: 'timeout' }), 1);
    assert.equal(value(M.samplesRetried, { reason: 'timeout' }), 3);
    assert.equal(receiver.requests.length, 2);
  });

  it('cuts requests at max_samples_per_send and at max_bytes_per_send', async () => {
    const { receiver, push, value } = await setup(`
sending: {shards: 1, max_samples_per_send: 10, max_bytes_per_send: 600B, batch_send_deadline: 1ms}`);
    await push(gauges(25, Date.now(), { padding: 'p'.repeat(60) }));
    await eventually(() => value(M.samplesSent) === 25, 'all sent');
    const sizes = receiver.accepted().map((r) => samplesIn([r]));
    assert.equal(sizes.reduce((a, b) => a + b, 0), 25);
    // A series is ~150 bytes, so 600 bytes hold 3 of them: the byte limit cuts before the sample limit.
    assert.ok(Math.max(...sizes) < 10, `requests of ${sizes.join(', ')} samples`);
  });

  it('refuses with a retryable error when the memory queue is full', async () => {
    const { push, value } = await setup(
      `
queue: {capacity: 10, drain_timeout: 100ms}
sending: {shards: 1, min_backoff: 1s, batch_send_deadline: 1ms}`,
      () => ({ status: 503 }),
    );
    await push(gauges(8, Date.now()));
    await assert.rejects(push(gauges(8, Date.now() + 1000)), (err: unknown) => {
      assert.ok(err instanceof ConsumerError);
      assert.equal(err.retryable, true);
      assert.equal(err.reason, 'queue_full');
      return true;
    });
    assert.equal(value(M.queueSize), 8);
    assert.equal(value(SelfMetricNames.exporterFailed, { reason: 'queue_full' }), 8);
  });

  it('drains what is queued on shutdown, ignoring batch_send_deadline', async () => {
    const { receiver, push, service, value } = await setup(`
sending: {batch_send_deadline: 1h}`);
    await push(gauges(6, Date.now()));
    assert.equal(receiver.requests.length, 0);
    await service.shutdown();
    assert.equal(samplesIn(receiver.accepted()), 6);
    assert.equal(value(M.samplesSent), 6);
    assert.equal(value(M.queueSize), 0);
  });

  it('gives up at drain_timeout on shutdown and counts what the memory queue loses', async () => {
    const { push, service, value } = await setup(
      `
queue: {drain_timeout: 200ms}
sending: {shards: 2, min_backoff: 10ms, max_backoff: 20ms, batch_send_deadline: 1ms}`,
      () => ({ status: 500 }),
    );
    await push(gauges(6, Date.now()));
    await service.shutdown();
    assert.equal(value(M.samplesDropped, { reason: 'shutdown' }), 6);
    assert.equal(value(SelfMetricNames.exporterFailed, { reason: 'shutdown' }), 6);
    assert.equal(value(M.samplesSent), 0);
  });
});
