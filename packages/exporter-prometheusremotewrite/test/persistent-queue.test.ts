/**
 * The persistent queue: it stores ready requests, which are sent byte for byte as stored; a
 * kill -9 loses nothing a push returned for and keeps the order; when full the oldest requests
 * go and are counted; a restart sends what the last run left first, a file of the previous
 * format included.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gauge, metricsBatch, MetricsRegistry, millisToNanos, numberPoint, SelfMetricNames, type MetricsBatch } from '@skein/core';
import { sourceReceiver, startService } from '@skein/core/testing';
import { translate } from '@skein/prometheus-translation';
import snappy from 'snappyjs';
import { requestBuilder, type Protocol } from '../src/encode.ts';
import remoteWrite, { RemoteWriteMetricNames as M } from '../src/index.ts';
import { PersistentQueue, type RequestInput, type StoredRequest } from '../src/persistent-queue.ts';
import { formRequests } from '../src/requests.ts';
import type { RemoteSeries } from '../src/series.ts';
import { seriesHash } from '../src/shard.ts';
import { accept, captureLogger, decodeV1, decodeV2, eventually, startMockReceiver, type DecodedRequest, type ReceivedRequest, type Responder } from './helpers.ts';
import { writePreviousFormatQueue } from './testdata/previous-queue-format.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skein-rw-queue-'));
  dirs.push(d);
  return d;
}

const LIMITS = { maxSamples: 2000, maxBytes: 3 << 20 };

function qSeries(value: number, samples = 1): RemoteSeries {
  return {
    labels: [
      { name: '__name__', value: 'q' },
      { name: 'v', value: String(value) },
    ],
    samples: Array.from({ length: samples }, (_, i) => ({ timestampMs: value * 100 + i, value })),
    histograms: [],
    type: 'gauge',
    help: '',
    unit: '',
    familyName: 'q',
  };
}

/** One request of one series `q{v="<value>"}` with `samples` samples of that value, as the exporter forms it. */
function request(shard: number, value: number, samples = 1, protocol: Protocol = 'v1'): RequestInput {
  const [formed] = formRequests(requestBuilder(protocol), [qSeries(value, samples)], LIMITS);
  return { ...formed!, shard, points: samples };
}

/** A stored body: snappy-compressed, then decoded by protobufjs from the .proto files. */
const decodeStored = (r: { protocol: Protocol; body: Uint8Array }): DecodedRequest => (r.protocol === 'v1' ? decodeV1 : decodeV2)(snappy.uncompress(r.body));

/** Takes every untaken request of `shard`, oldest first. */
function takeAll(q: PersistentQueue, shard: number): StoredRequest[] {
  const out: StoredRequest[] = [];
  for (let r = q.take(shard); r !== undefined; r = q.take(shard)) out.push(r);
  return out;
}

/** The first sample value of each untaken request of `shard` (taking them). */
const valuesOf = (q: PersistentQueue, shard: number) => takeAll(q, shard).map((r) => decodeStored(r).series[0]!.samples[0]!.value);

/** The sample values each series arrived with, in arrival order. */
function valuesBySeries(requests: readonly ReceivedRequest[]): Map<string, number[]> {
  const bySeries = new Map<string, number[]>();
  for (const r of [...requests].sort((a, b) => a.at - b.at)) {
    for (const s of r.body.series) {
      const key = JSON.stringify(s.labels);
      bySeries.set(key, [...(bySeries.get(key) ?? []), ...s.samples.map((x) => x.value)]);
    }
  }
  return bySeries;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

describe('the persistent queue', () => {
  it('loses nothing a push returned for when the process is killed (SIGKILL), and keeps the order', async () => {
    const dir = tempDir();
    const script = fileURLToPath(new URL('./testdata/enqueue-until-killed.ts', import.meta.url));
    const child = spawn(process.execPath, [script, dir, '1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastPushed = -1;
    let buffered = '';
    const KILL_AFTER = 400;
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) lastPushed = Number(line.slice('pushed '.length));
      if (lastPushed >= KILL_AFTER) child.kill('SIGKILL');
    });
    const signal = await exited;
    assert.equal(signal, 'SIGKILL', 'the child was killed mid-way, not finished');
    assert.ok(lastPushed >= KILL_AFTER);

    const q = new PersistentQueue({ directory: dir, capacity: 1_000_000, shards: 2 });
    try {
      const held = q.requests();
      // Every push the test saw acknowledged is there. The child may have got further than the
      // test read (up to a pipe's worth of lines), but it was stopped well short of its 100,000.
      assert.ok(held >= lastPushed + 1, `${held} requests after ${lastPushed + 1} pushes returned`);
      assert.ok(held < 100_000, `the kill landed mid-way: ${held} requests`);
      assert.equal(q.size(), held);
      const even = valuesOf(q, 0);
      const odd = valuesOf(q, 1);
      assert.deepEqual(even, Array.from({ length: even.length }, (_, i) => i * 2), 'shard 0 in push order, nothing missing');
      assert.deepEqual(odd, Array.from({ length: odd.length }, (_, i) => i * 2 + 1), 'shard 1 in push order, nothing missing');
      assert.equal(even.length + odd.length, held);
    } finally {
      q.close();
    }
  });

  it('stores each request as pushed: the same bytes, a snappy-compressed request of its protocol, read back after a reopen', () => {
    const dir = tempDir();
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 2 });
    const pushed = [request(0, 1, 2), request(1, 2, 1, 'v2'), request(0, 3, 4, 'v2')];
    q.push(pushed.slice(0, 2));
    q.push(pushed.slice(2));
    assert.equal(q.size(), 7);
    q.close();
    const again = new PersistentQueue({ directory: dir, capacity: 100, shards: 2 });
    try {
      assert.equal(again.size(), 7);
      assert.equal(again.pending(0), 6);
      const stored = [...takeAll(again, 0), ...takeAll(again, 1)];
      const expected = [pushed[0]!, pushed[2]!, pushed[1]!];
      assert.deepEqual(
        stored.map(({ id: _, ...rest }) => rest),
        expected,
        'shard, protocol, counts, points and body as pushed, per shard in push order',
      );
      assert.deepEqual(
        stored.map((r) => {
          const { protocol, series } = decodeStored(r);
          return [protocol, series.map((s) => [s.labels, s.samples.map((x) => [x.timestamp, x.value])])];
        }),
        [
          ['v1', [[[['__name__', 'q'], ['v', '1']], [[100, 1], [101, 1]]]]],
          ['v2', [[[['__name__', 'q'], ['v', '3']], [[300, 3], [301, 3], [302, 3], [303, 3]]]]],
          ['v2', [[[['__name__', 'q'], ['v', '2']], [[200, 2]]]]],
        ],
      );
    } finally {
      again.close();
    }
  });

  it('drops its oldest untaken requests when full and says how many; refuses a push bigger than the queue', () => {
    const q = new PersistentQueue({ directory: tempDir(), capacity: 10, shards: 2 });
    try {
      assert.deepEqual(q.push([request(0, 1, 3), request(1, 2, 3)]), { samples: 0, points: 0 });
      assert.deepEqual(q.push([request(0, 3, 3)]), { samples: 0, points: 0 });
      // Shard 0 is sending value 1: it must not be dropped under it.
      assert.equal(decodeStored(q.take(0)!).series[0]!.samples[0]!.value, 1);
      assert.deepEqual(q.push([request(1, 4, 3)]), { samples: 3, points: 3 }, 'value 2, the oldest untaken, made room');
      assert.equal(q.size(), 9);
      assert.deepEqual(valuesOf(q, 1), [4]);
      assert.throws(() => q.push([request(0, 5, 11)]), { name: 'QueueFullError', message: 'the queue is full: 11 samples do not fit in the 10 free' });
      assert.equal(q.size(), 9, 'the refused push changed nothing');
    } finally {
      q.close();
    }
  });

  it('hands out what it kept in memory and what it reads back in one order, whatever the memory bound, drops and reopens', () => {
    for (const freshBytes of [0, 200, 1 << 20]) {
      const dir = tempDir();
      // Rows from a previous run come first.
      const before = new PersistentQueue({ directory: dir, capacity: 12, shards: 2, freshBytes });
      before.push([request(0, 1), request(1, 2)]);
      before.close();
      const q = new PersistentQueue({ directory: dir, capacity: 12, shards: 2, freshBytes });
      try {
        const order: number[][] = [[], []];
        let value = 3;
        let dropped = 0;
        for (let round = 0; round < 12; round++) {
          const pushed = Array.from({ length: 1 + (round % 3) }, (_, i) => request((round + i) % 2, value++, 2));
          dropped += q.push(pushed).samples;
          // Take some, so kept and read-back requests interleave; the full queue drops the oldest.
          for (let shard = 0; shard < 2; shard++) {
            if ((round + shard) % 3 === 0) continue;
            const r = q.take(shard);
            if (r !== undefined) {
              order[shard]!.push(decodeStored(r).series[0]!.samples[0]!.value);
              q.ack(shard, r.id);
            }
          }
        }
        for (let shard = 0; shard < 2; shard++) {
          for (const r of takeAll(q, shard)) {
            order[shard]!.push(decodeStored(r).series[0]!.samples[0]!.value);
            q.ack(shard, r.id);
          }
        }
        for (const values of order) assert.deepEqual(values, [...values].sort((a, b) => a - b), `freshBytes ${freshBytes}: in push order`);
        assert.ok(dropped > 0, 'the oldest were dropped on the way');
        assert.equal(q.size(), 0);
        assert.deepEqual(q.push([request(0, 99)]), { samples: 0, points: 0 });
      } finally {
        q.close();
      }
      const reopened = new PersistentQueue({ directory: dir, capacity: 12, shards: 2, freshBytes });
      try {
        assert.deepEqual(valuesOf(reopened, 0), [99], 'an untaken kept request is on disk too');
      } finally {
        reopened.close();
      }
    }
  });

  it('deletes what was acknowledged and keeps what was taken but not acknowledged across a reopen', () => {
    const dir = tempDir();
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 1 });
    q.push([request(0, 1)]);
    q.push([request(0, 2)]);
    q.push([request(0, 3)]);
    const taken = [q.take(0)!, q.take(0)!];
    q.ack(0, taken[0]!.id);
    assert.throws(() => q.ack(0, taken[0]!.id), /was not taken/);
    assert.equal(q.size(), 2);
    assert.equal(q.pending(0), 1, 'value 3 is not taken yet');
    q.close();
    const again = new PersistentQueue({ directory: dir, capacity: 100, shards: 1 });
    try {
      assert.deepEqual(valuesOf(again, 0), [2, 3]);
    } finally {
      again.close();
    }
  });

  it('refuses a second user of the same directory', () => {
    const dir = tempDir();
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 1 });
    try {
      assert.throws(() => new PersistentQueue({ directory: dir, capacity: 100, shards: 1 }), /is in use by another process/);
    } finally {
      q.close();
    }
  });

  it('keeps the shard count its requests were split by until it is empty', () => {
    const dir = tempDir();
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 3 });
    q.push([request(2, 1)]);
    q.close();
    const kept = new PersistentQueue({ directory: dir, capacity: 100, shards: 5 });
    assert.equal(kept.shards, 3);
    assert.equal(kept.shardsFromFile, true);
    kept.ack(2, kept.take(2)!.id);
    kept.close();
    const fresh = new PersistentQueue({ directory: dir, capacity: 100, shards: 5 });
    assert.equal(fresh.shards, 5);
    fresh.close();
  });

  it('forms the rows of a previous-format file into requests on open, in order, points kept, with its shard count', () => {
    const dir = tempDir();
    writePreviousFormatQueue(dir, 3, [
      { shard: 2, points: 5, series: [qSeries(1, 2), qSeries(2, 3)] },
      { shard: 0, points: 1, series: [qSeries(3)] },
      { shard: 2, points: 7, series: [qSeries(4, 1)] },
    ]);
    const form = (series: RemoteSeries[]) => formRequests(requestBuilder('v1'), series, { maxSamples: 2, maxBytes: 1 << 20 });
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 4, form });
    try {
      assert.deepEqual(q.migrated, { rows: 3, requests: 5, samples: 7 });
      assert.equal(q.shards, 3, 'split for 3 shards: kept');
      assert.equal(q.size(), 7);
      const shard2 = takeAll(q, 2);
      assert.deepEqual(
        shard2.map((r) => decodeStored(r).series.map((s) => s.samples.map((x) => x.value))),
        [[[1, 1]], [[2, 2]], [[2]], [[4]]],
        'the first row cut at 2 samples a request, then the third row',
      );
      assert.deepEqual(
        shard2.map((r) => r.points),
        [2, 2, 1, 7],
        "each row's points apportioned over its requests",
      );
      assert.deepEqual(valuesOf(q, 0), [3]);
    } finally {
      q.close();
    }
    const reopened = new PersistentQueue({ directory: dir, capacity: 100, shards: 3 });
    try {
      assert.equal(reopened.migrated, undefined, 'converted once');
      assert.equal(reopened.requests(), 5);
    } finally {
      reopened.close();
    }
  });

  it('refuses, naming the file, a previous-format file it cannot convert and one of a newer format, leaving them as they are', () => {
    const old = tempDir();
    writePreviousFormatQueue(old, 1, [{ shard: 0, points: 1, series: [qSeries(1)] }]);
    const before = readFileSync(join(old, 'queue.db'));
    assert.throws(() => new PersistentQueue({ directory: old, capacity: 100, shards: 1 }), {
      message: `cannot open queue ${join(old, 'queue.db')}: it holds requests in the previous format, and nothing was given to convert them`,
    });
    assert.deepEqual(readFileSync(join(old, 'queue.db')), before);

    const newer = tempDir();
    new PersistentQueue({ directory: newer, capacity: 100, shards: 1 }).close();
    const db = new DatabaseSync(join(newer, 'queue.db'));
    db.exec('PRAGMA user_version = 3');
    db.close();
    assert.throws(() => new PersistentQueue({ directory: newer, capacity: 100, shards: 1 }), {
      message: `cannot open queue ${join(newer, 'queue.db')}: it was written by a newer version of the exporter (format 3, this one reads up to 2); move it away or upgrade`,
    });
  });
});

describe('prometheusremotewrite with queue.directory', () => {
  const ID = 'prometheusremotewrite';
  const batch = (round: number, n = 4): MetricsBatch =>
    metricsBatch([
      {
        resource: { 'service.name': 'svc' },
        metrics: [gauge('kept', Array.from({ length: n }, (_, i) => numberPoint(round, { timeUnixNano: millisToNanos(1_737_000_000_000 + round * 1000), attributes: { i: String(i) } })))],
      },
    ]);

  /** YAML flow-map entries of `defaults` with `overrides` on top. */
  const flow = (defaults: Record<string, string>, overrides: Record<string, string> = {}) =>
    Object.entries({ ...defaults, ...overrides })
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');

  /** A service whose exporter keeps its queue in `dir`; `opts` sets more exporter, `queue` and `sending` keys. */
  async function run(dir: string, respond: Responder, opts: { protocol?: string; queue?: Record<string, string>; sending?: Record<string, string> } = {}) {
    const receiver = await startMockReceiver(respond);
    const source = sourceReceiver();
    const registry = new MetricsRegistry();
    const { logger, lines } = captureLogger();
    const service = await startService(
      `
receivers: {source: {}}
exporters:
  ${ID}:
    endpoint: ${receiver.url}
    protocol: ${opts.protocol ?? 'v1'}
    target_info: {enabled: false}
    queue: {${flow({ directory: JSON.stringify(dir), drain_timeout: '100ms' }, opts.queue)}}
    sending: {${flow({ shards: '2', min_backoff: '10ms', max_backoff: '20ms', batch_send_deadline: '1ms' }, opts.sending)}}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [source], exporters: [${ID}]}
`,
      [source.factory, remoteWrite],
      { registry, logger },
    ).catch(async (err: unknown) => {
      await receiver.close();
      throw err;
    });
    const entry = source.consumers.get('source')!;
    return {
      receiver,
      service,
      lines,
      value: (name: string, labels: Record<string, string> = {}) => registry.value(name, { exporter: ID, ...labels }),
      push: (b: MetricsBatch) => entry.consume(b, { transport: 'internal' }),
      stop: async () => {
        await service.shutdown();
        await receiver.close();
      },
    };
  }

  it('keeps what the store did not take over a restart, and sends it in order on the next start', async () => {
    const dir = tempDir();
    const down = await run(dir, () => ({ status: 503 }));
    for (let round = 0; round < 5; round++) await down.push(batch(round));
    await down.receiver.waitForRequests(2);
    await down.stop();
    assert.equal(down.value(M.samplesSent), 0);
    assert.equal(down.value(M.samplesDropped), undefined, 'nothing dropped: it stays on disk');
    assert.ok(down.lines.some((l) => l.msg === 'shutdown: samples stay in the persistent queue for the next start' && l.samples === 20));

    const up = await run(dir, accept);
    try {
      await eventually(() => up.value(M.samplesSent) === 20, 'the 20 kept samples sent after the restart');
      const bySeries = valuesBySeries(up.receiver.accepted());
      assert.equal(bySeries.size, 4);
      for (const values of bySeries.values()) assert.deepEqual(values, [0, 1, 2, 3, 4]);
      assert.equal(up.value(SelfMetricNames.exporterSent), 20, 'the points stored with the requests are counted when they leave');
      await eventually(() => up.value(M.queueSize) === 0, 'the queue empties');
    } finally {
      await up.stop();
    }
  });

  it('when full, drops the oldest samples and counts them as queue_overflow', async () => {
    const dir = tempDir();
    const p = await run(dir, () => ({ status: 503 }), { queue: { capacity: '10' } });
    try {
      await p.push(batch(0, 6));
      await p.push(batch(1, 6));
      await p.push(batch(2, 6));
      const dropped = p.value(M.samplesDropped, { reason: 'queue_overflow' })!;
      assert.ok(dropped > 0, 'some samples were dropped');
      assert.equal(p.value(SelfMetricNames.exporterFailed, { reason: 'queue_overflow' }), dropped);
      assert.equal(p.value(M.queueSize)! + dropped, 18, 'every sample is either queued or counted as dropped');
      await assert.rejects(p.push(batch(3, 11)), { message: 'a batch of 11 samples is larger than the queue (capacity 10)' });
      assert.equal(p.value(SelfMetricNames.exporterFailed, { reason: 'too_large' }), 11);
    } finally {
      await p.stop();
    }
  });

  it('stores each batch as ready requests and sends those bytes as they are, retries included', async () => {
    const dir = tempDir();
    const down = await run(dir, () => ({ status: 503 }));
    await down.push(batch(0));
    await down.push(batch(1));
    await down.receiver.waitForRequests(4);
    await down.stop();

    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 2 });
    const stored = [...takeAll(q, 0), ...takeAll(q, 1)];
    q.close();
    // One request per batch and shard (4 series hash to both shards), each a snappy-compressed
    // 1.0 WriteRequest holding what was pushed.
    assert.equal(stored.length, 4);
    const values = stored.flatMap((r) => decodeStored(r).series.map((s) => `${s.labels.find(([n]) => n === 'i')![1]}@${s.samples.map((x) => x.value).join()}`));
    assert.deepEqual(values.sort(), ['0@0', '0@1', '1@0', '1@1', '2@0', '2@1', '3@0', '3@1']);
    for (const r of stored) assert.equal(r.samples, decodeStored(r).series.length);
    const storedBodies = new Set(stored.map((r) => base64(r.body)));
    for (const r of down.receiver.requests) assert.ok(storedBodies.has(base64(r.raw)), 'every failed attempt carried a stored body, unchanged');

    // Each request fails once, then is accepted.
    const attempts = new Map<string, number>();
    const up = await run(dir, (req) => {
      const key = base64(req.raw);
      attempts.set(key, (attempts.get(key) ?? 0) + 1);
      return attempts.get(key) === 1 ? { status: 503 } : accept(req);
    });
    try {
      await eventually(() => up.value(M.samplesSent) === 8, 'the 8 stored samples sent');
      assert.deepEqual([...attempts.keys()].sort(), [...storedBodies].sort(), 'exactly the stored bodies were sent');
      assert.deepEqual([...attempts.values()], [2, 2, 2, 2], 'each retried with the same bytes');
      assert.equal(up.value(M.samplesRetried, { reason: 'http_503' }), 8);
      assert.equal(up.value(SelfMetricNames.exporterSent), 8);
      for (const values of valuesBySeries(up.receiver.accepted()).values()) assert.deepEqual(values, [0, 1]);
    } finally {
      await up.stop();
    }
  });

  it('forms requests when a batch is queued: they follow the batches, cut at max_samples_per_send, without waiting for batch_send_deadline', async () => {
    const p = await run(tempDir(), accept, { sending: { shards: '1', batch_send_deadline: '1h', max_samples_per_send: '3' } });
    try {
      await p.push(batch(0));
      await p.receiver.waitForAccepted(2);
      assert.deepEqual(
        p.receiver.accepted().map((r) => r.body.series.length),
        [3, 1],
      );
      // While the store is slow, batches queue as their own requests: they are not merged.
      p.receiver.respond = (req) => ({ ...accept(req), delayMs: 50 });
      await p.push(batch(1, 2));
      await p.push(batch(2, 2));
      await p.push(batch(3, 2));
      await p.receiver.waitForAccepted(5);
      assert.deepEqual(
        p.receiver.accepted().map((r) => r.body.series.length),
        [3, 1, 2, 2, 2],
      );
    } finally {
      await p.stop();
    }
  });

  it('sends what a queue file of the previous format holds first, then what comes after', async () => {
    const dir = tempDir();
    const translateOpts = { targetInfo: false };
    const entries: { shard: number; points: number; series: RemoteSeries[] }[] = [];
    for (let round = 0; round < 3; round++) {
      const byShard: RemoteSeries[][] = [[], []];
      for (const s of translate(batch(round), translateOpts).series) byShard[seriesHash(s) % 2]!.push(s);
      byShard.forEach((series, shard) => series.length > 0 && entries.push({ shard, points: series.length, series }));
    }
    writePreviousFormatQueue(dir, 2, entries);

    const p = await run(dir, accept);
    try {
      assert.ok(p.lines.some((l) => l.msg === 'converted the persistent queue from the previous format (series) to requests' && l.rows === entries.length && l.samples === 12));
      await p.push(batch(3));
      await p.push(batch(4));
      await eventually(() => p.value(M.samplesSent) === 20, 'the 12 samples kept in the old format, then the 8 new ones');
      const bySeries = valuesBySeries(p.receiver.accepted());
      assert.equal(bySeries.size, 4);
      for (const values of bySeries.values()) assert.deepEqual(values, [0, 1, 2, 3, 4]);
      assert.equal(p.value(SelfMetricNames.exporterSent), 20);
    } finally {
      await p.stop();
    }
  });

  it('re-encodes stored 2.0 requests as 1.0 once the store turns out not to take 2.0', async () => {
    const dir = tempDir();
    const p = await run(dir, (req) => (req.body.protocol === 'v2' ? { status: 415, delayMs: 100 } : accept(req)), {
      protocol: 'v2',
      sending: { shards: '1' },
    });
    try {
      // All three are queued as 2.0 before the first answer comes back.
      for (let round = 0; round < 3; round++) await p.push(batch(round));
      await eventually(() => p.value(M.samplesSent) === 12, 'every sample sent');
      assert.deepEqual(
        p.receiver.requests.map((r) => [r.body.protocol, r.body.series.length]),
        [
          ['v2', 4],
          ['v1', 4],
          ['v1', 4],
          ['v1', 4],
        ],
      );
      for (const values of valuesBySeries(p.receiver.accepted()).values()) assert.deepEqual(values, [0, 1, 2]);
      const v2 = p.receiver.requests[0]!.body.series.map((s) => [s.labels, s.samples]);
      const v1 = p.receiver.requests[1]!.body.series.map((s) => [s.labels, s.samples]);
      assert.deepEqual(v1, v2, 'the same series, re-encoded');
      assert.equal(p.value(M.requests, { status_code: '415' }), 1);
      assert.equal(p.lines.filter((l) => String(l.msg).includes('falling back to 1.0')).length, 1);
    } finally {
      await p.stop();
    }
  });
});
