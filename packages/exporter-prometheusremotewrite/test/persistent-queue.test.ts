/**
 * The persistent queue: a kill -9 loses nothing a push returned for and keeps the order; when
 * full the oldest entries go and are counted; a restart sends what the last run left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gauge, metricsBatch, MetricsRegistry, millisToNanos, numberPoint, SelfMetricNames, type MetricsBatch } from '@skein/core';
import { sourceReceiver, startService } from '@skein/core/testing';
import remoteWrite, { RemoteWriteMetricNames as M } from '../src/index.ts';
import { PersistentQueue } from '../src/persistent-queue.ts';
import type { EntryInput } from '../src/queue.ts';
import type { RemoteSeries } from '../src/series.ts';
import { accept, captureLogger, eventually, startMockReceiver, type Responder } from './helpers.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skein-rw-queue-'));
  dirs.push(d);
  return d;
}

function entry(shard: number, value: number, samples = 1): EntryInput {
  const series: RemoteSeries = {
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
  return { shard, samples, points: samples, series: [series] };
}

const valuesOf = (q: PersistentQueue, shard: number) => q.take(shard, 1e9).map((e) => e.series[0]!.samples[0]!.value);

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
      const held = q.entries();
      // Every push the test saw acknowledged is there. The child may have got further than the
      // test read (up to a pipe's worth of lines), but it was stopped well short of its 100,000.
      assert.ok(held >= lastPushed + 1, `${held} entries after ${lastPushed + 1} pushes returned`);
      assert.ok(held < 100_000, `the kill landed mid-way: ${held} entries`);
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

  it('drops its oldest untaken entries when full and says how many', () => {
    const q = new PersistentQueue({ directory: tempDir(), capacity: 10, shards: 2 });
    try {
      assert.deepEqual(q.push([entry(0, 1, 3), entry(1, 2, 3)]), { samples: 0, points: 0 });
      assert.deepEqual(q.push([entry(0, 3, 3)]), { samples: 0, points: 0 });
      // Shard 0 is sending value 1: it must not be dropped under it.
      assert.deepEqual(
        q.take(0, 1).map((e) => e.series[0]!.samples[0]!.value),
        [1],
      );
      assert.deepEqual(q.push([entry(1, 4, 3)]), { samples: 3, points: 3 }, 'value 2, the oldest untaken, made room');
      assert.equal(q.size(), 9);
      assert.deepEqual(valuesOf(q, 1), [4]);
      assert.throws(() => q.push([entry(0, 5, 11)]), /does not fit|full/);
    } finally {
      q.close();
    }
  });

  it('deletes what was acknowledged and keeps what was taken but not acknowledged across a reopen', () => {
    const dir = tempDir();
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 1 });
    q.push([entry(0, 1)]);
    q.push([entry(0, 2)]);
    q.push([entry(0, 3)]);
    const taken = q.take(0, 2);
    assert.equal(taken.length, 2);
    q.ack(0, taken[0]!.id);
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

  it('keeps the shard count its entries were split by until it is empty', () => {
    const dir = tempDir();
    const q = new PersistentQueue({ directory: dir, capacity: 100, shards: 3 });
    q.push([entry(2, 1)]);
    q.close();
    const kept = new PersistentQueue({ directory: dir, capacity: 100, shards: 5 });
    assert.equal(kept.shards, 3);
    assert.equal(kept.shardsFromFile, true);
    kept.ack(2, kept.take(2, 10).at(-1)!.id);
    kept.close();
    const fresh = new PersistentQueue({ directory: dir, capacity: 100, shards: 5 });
    assert.equal(fresh.shards, 5);
    fresh.close();
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

  async function run(dir: string, respond: Responder, extra = '') {
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
    target_info: {enabled: false}
    queue: {directory: ${JSON.stringify(dir)}, drain_timeout: 100ms${extra}}
    sending: {shards: 2, min_backoff: 10ms, max_backoff: 20ms, batch_send_deadline: 1ms}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [source], exporters: [${ID}]}
`,
      [source.factory, remoteWrite],
      { registry, logger },
    );
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
      const bySeries = new Map<string, number[]>();
      for (const r of up.receiver.accepted().sort((a, b) => a.at - b.at)) {
        for (const s of r.body.series) {
          const key = JSON.stringify(s.labels);
          bySeries.set(key, [...(bySeries.get(key) ?? []), ...s.samples.map((x) => x.value)]);
        }
      }
      assert.equal(bySeries.size, 4);
      for (const values of bySeries.values()) assert.deepEqual(values, [0, 1, 2, 3, 4]);
      assert.equal(up.value(SelfMetricNames.exporterSent), 20, 'the points stored with the entries are counted when they leave');
      await eventually(() => up.value(M.queueSize) === 0, 'the queue empties');
    } finally {
      await up.stop();
    }
  });

  it('when full, drops the oldest samples and counts them as queue_overflow', async () => {
    const dir = tempDir();
    const p = await run(dir, () => ({ status: 503 }), ', capacity: 10');
    try {
      await p.push(batch(0, 6));
      await p.push(batch(1, 6));
      await p.push(batch(2, 6));
      const dropped = p.value(M.samplesDropped, { reason: 'queue_overflow' })!;
      assert.ok(dropped > 0, 'some samples were dropped');
      assert.equal(p.value(SelfMetricNames.exporterFailed, { reason: 'queue_overflow' }), dropped);
      assert.equal(p.value(M.queueSize)! + dropped, 18, 'every sample is either queued or counted as dropped');
    } finally {
      await p.stop();
    }
  });
});
