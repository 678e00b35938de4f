import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  ConsumerError,
  gauge,
  MetricsRegistry,
  metricsBatch,
  numberPoint,
  silentLogger,
  validateAgainst,
  type Consumer,
  type Host,
  type MetricsBatch,
  type RequestContext,
} from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import memoryLimiter, { createMemoryLimiter, MemoryLimiterConfigSchema, type MemoryProbe } from '../src/index.ts';

const MIB = 2 ** 20;
const ctx: RequestContext = { transport: 'http' };
/** The limiter asks nothing of its host. */
const host: Host = {
  getStatus: () => 'running',
  getExtension: () => {
    throw new Error('no extensions here');
  },
  extensions: () => new Map(),
};

function settings(raw: Record<string, unknown>, registry = new MetricsRegistry()) {
  const { value, issues } = validateAgainst(MemoryLimiterConfigSchema, raw, ['processors', 'memory_limiter'], undefined);
  assert.deepEqual(issues, []);
  return {
    id: 'memory_limiter',
    config: value,
    logger: silentLogger,
    telemetry: registry.scoped({ processor: 'memory_limiter', pipeline: 'metrics' }),
    pipelines: ['metrics'],
  };
}

/** A heap the test sets by hand; `afterGc` is what a forced collection leaves (undefined: no --expose-gc). */
function fakeProbe(opts: { usedMiB: number; totalMiB?: number; afterGcMiB?: number }) {
  const state = { usedMiB: opts.usedMiB, afterGcMiB: opts.afterGcMiB, gcs: 0, reads: 0 };
  const probe: MemoryProbe = {
    readHeapUsed: () => {
      state.reads++;
      return state.usedMiB * MIB;
    },
    heapSizeLimit: () => (opts.totalMiB ?? 4096) * MIB,
    collectGarbage: () => {
      if (state.afterGcMiB === undefined) return false;
      state.gcs++;
      state.usedMiB = state.afterGcMiB;
      return true;
    },
  };
  return { probe, state };
}

function recorder() {
  const got: MetricsBatch[] = [];
  const next: Consumer = {
    async consume(batch) {
      got.push(batch);
    },
  };
  return { next, got };
}

const batch = () => metricsBatch([{ metrics: [gauge('g', [numberPoint(1), numberPoint(2)])] }]);

test('below the soft limit data passes through untouched', async () => {
  const { probe } = fakeProbe({ usedMiB: 50 });
  const r = recorder();
  const limiter = createMemoryLimiter(settings({ limit_mib: 100 }), r.next, probe);
  assert.equal(limiter.mutatesData, false);
  await limiter.start!(host);
  try {
    const b = batch();
    await limiter.consume(b, ctx);
    assert.equal(r.got.length, 1);
    assert.equal(r.got[0], b);
    assert.equal(limiter.refusing, false);
  } finally {
    await limiter.shutdown!();
  }
});

test('at or over the soft limit data is refused as retryable until the heap falls again', async () => {
  const registry = new MetricsRegistry();
  const { probe, state } = fakeProbe({ usedMiB: 50 });
  const r = recorder();
  // soft limit = 100 - 20% = 80 MiB
  const limiter = createMemoryLimiter(settings({ limit_mib: 100, check_interval: '5s' }, registry), r.next, probe);
  const refusing = () => registry.value('skein_memory_limiter_refusing', { processor: 'memory_limiter', pipeline: 'metrics' });
  await limiter.start!(host);
  try {
    assert.equal(refusing(), 0);
    state.usedMiB = 80;
    limiter.check();
    assert.equal(limiter.refusing, true);
    assert.equal(refusing(), 1);
    await assert.rejects(limiter.consume(batch(), ctx), (err: unknown) => {
      assert.ok(err instanceof ConsumerError);
      assert.equal(err.retryable, true);
      assert.equal(err.code, 'SKEIN_ERR_MEMORY_LIMIT');
      assert.equal(err.reason, 'memory_limit');
      assert.equal(err.retryAfterMs, 5000);
      assert.equal(err.message, "heap used (80 MiB) is over the memory limiter's soft limit (80 MiB); retry later");
      return true;
    });
    assert.equal(r.got.length, 0);

    state.usedMiB = 79.9;
    limiter.check();
    assert.equal(limiter.refusing, false);
    assert.equal(refusing(), 0);
    await limiter.consume(batch(), ctx);
    assert.equal(r.got.length, 1);
  } finally {
    await limiter.shutdown!();
  }
});

test('spike_limit_mib sets the soft limit; the limits are exported as gauges', () => {
  const registry = new MetricsRegistry();
  const { probe } = fakeProbe({ usedMiB: 0 });
  const limiter = createMemoryLimiter(settings({ limit_mib: 100, spike_limit_mib: 30 }, registry), recorder().next, probe);
  assert.deepEqual(limiter.limits, { hardLimitBytes: 100 * MIB, softLimitBytes: 70 * MIB, checkIntervalMs: 1000 });
  assert.equal(registry.value('skein_memory_limiter_limit_bytes', { limit: 'soft' }), 70 * MIB);
  assert.equal(registry.value('skein_memory_limiter_limit_bytes', { limit: 'hard' }), 100 * MIB);
});

test('at the hard limit a garbage collection is forced when available, and the heap measured again', async () => {
  const { probe, state } = fakeProbe({ usedMiB: 10, afterGcMiB: 40 });
  const limiter = createMemoryLimiter(settings({ limit_mib: 100 }), recorder().next, probe);
  limiter.check();
  state.usedMiB = 90; // over soft, under hard: no collection
  limiter.check();
  assert.equal(state.gcs, 0);
  assert.equal(limiter.refusing, true);
  state.usedMiB = 100;
  limiter.check();
  assert.equal(state.gcs, 1);
  assert.equal(limiter.refusing, false, 'the collection brought the heap under the soft limit');
});

test('at the hard limit without --expose-gc data is refused', () => {
  const { probe, state } = fakeProbe({ usedMiB: 150 });
  const limiter = createMemoryLimiter(settings({ limit_mib: 100 }), recorder().next, probe);
  limiter.check();
  assert.equal(state.gcs, 0);
  assert.equal(limiter.refusing, true);
});

test('percentages are of the V8 heap size limit', () => {
  const { probe } = fakeProbe({ usedMiB: 0, totalMiB: 1000 });
  const explicit = createMemoryLimiter(settings({ limit_percentage: 50, spike_limit_percentage: 5 }), recorder().next, probe);
  assert.equal(explicit.limits.hardLimitBytes, 500 * MIB);
  assert.equal(explicit.limits.softLimitBytes, 450 * MIB);
  const byDefault = createMemoryLimiter(settings({ limit_percentage: 50 }), recorder().next, probe);
  assert.equal(byDefault.limits.softLimitBytes, 400 * MIB, 'the spike defaults to 20% of the limit');
});

test('checks every check_interval once started, and stops on shutdown', { timeout: 10_000 }, async () => {
  const { probe, state } = fakeProbe({ usedMiB: 10 });
  const limiter = createMemoryLimiter(settings({ limit_mib: 100, check_interval: '5ms' }), recorder().next, probe);
  assert.equal(state.reads, 0, 'nothing is measured before start');
  await limiter.start!(host);
  assert.equal(state.reads, 1, 'start measures at once');
  state.usedMiB = 95;
  while (!limiter.refusing) await new Promise((r) => setTimeout(r, 5));
  await limiter.shutdown!();
  const reads = state.reads;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(state.reads, reads, 'no measurement after shutdown');
});

test('shutdown is safe without start and twice', async () => {
  const { probe } = fakeProbe({ usedMiB: 10 });
  const limiter = createMemoryLimiter(settings({ limit_mib: 100 }), recorder().next, probe);
  await limiter.shutdown!();
  await limiter.shutdown!();
  await limiter.start!(host);
  await limiter.shutdown!();
  await limiter.shutdown!();
});

test('the check timer does not keep the process alive', { timeout: 30_000 }, () => {
  const src = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const script = `
    import { createMemoryLimiter } from ${JSON.stringify(src)};
    import { MetricsRegistry, silentLogger } from '@skein/core';
    const limiter = createMemoryLimiter(
      { id: 'memory_limiter', config: { check_interval: '1s', limit_mib: 100000 }, logger: silentLogger,
        telemetry: new MetricsRegistry().scoped({}), pipelines: [] },
      { async consume() {} },
    );
    await limiter.start({});
    console.log('started');
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(res.error, undefined, `the process did not exit by itself: ${res.error?.message}`);
  assert.equal(res.stderr, '');
  assert.equal(res.stdout, 'started\n');
  assert.equal(res.status, 0);
});

test('validate reports the rules between keys', () => {
  const problems = (raw: Record<string, unknown>) => memoryLimiter.validate!(settings(raw).config);
  assert.deepEqual(problems({ limit_mib: 100 }), []);
  assert.deepEqual(problems({ limit_percentage: 80, spike_limit_percentage: 20 }), []);
  assert.deepEqual(problems({}), [{ message: 'set limit_mib or limit_percentage' }]);
  assert.deepEqual(problems({ limit_mib: 100, limit_percentage: 50 }), [{ message: 'set limit_mib or limit_percentage, not both' }]);
  assert.deepEqual(problems({ limit_mib: 100, spike_limit_mib: 100 }), [
    { path: ['spike_limit_mib'], message: 'must be less than limit_mib (100), got 100' },
  ]);
  assert.deepEqual(problems({ limit_percentage: 50, spike_limit_percentage: 60 }), [
    { path: ['spike_limit_percentage'], message: 'must be less than limit_percentage (50), got 60' },
  ]);
  assert.deepEqual(problems({ limit_mib: 100, spike_limit_percentage: 10 }), [
    { path: ['spike_limit_percentage'], message: 'applies only with limit_percentage; with limit_mib use spike_limit_mib' },
  ]);
  assert.deepEqual(problems({ limit_percentage: 50, spike_limit_mib: 10 }), [
    { path: ['spike_limit_mib'], message: 'applies only with limit_mib; with limit_percentage use spike_limit_percentage' },
  ]);
  assert.deepEqual(problems({ limit_mib: 100, check_interval: '0s' }), [
    { path: ['check_interval'], message: 'must be longer than 0, got "0s"' },
  ]);
});

test('a config breaking those rules stops the service before anything starts, with positions', async () => {
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = `
receivers: {source: {}}
processors:
  memory_limiter: {check_interval: 0s, limit_mib: 100, spike_limit_mib: 200}
exporters: {sink: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [memory_limiter], exporters: [sink]}
`;
  await assert.rejects(startService(yaml, [source.factory, sink.factory, memoryLimiter]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    assert.deepEqual(
      err.issues.map((i) => i.message),
      [
        'test.yaml:4:20: processors::memory_limiter::check_interval: must be longer than 0, got "0s"',
        'test.yaml:4:56: processors::memory_limiter::spike_limit_mib: must be less than limit_mib (100), got 200',
      ],
    );
    return true;
  });
});

test('create() refuses a broken config when called without validate', () => {
  assert.throws(() => createMemoryLimiter(settings({}), recorder().next, fakeProbe({ usedMiB: 0 }).probe), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, 'processors::memory_limiter: set limit_mib or limit_percentage');
    return true;
  });
});

test('in a service with a limit below the real heap, pushes are refused as retryable', async () => {
  const registry = new MetricsRegistry();
  const source = sourceReceiver();
  const sink = sinkExporter();
  const yaml = `
receivers: {source: {}}
processors:
  memory_limiter: {limit_mib: 1, check_interval: 1h}
exporters: {sink: {}}
service:
  pipelines:
    metrics: {receivers: [source], processors: [memory_limiter], exporters: [sink]}
`;
  const service = await startService(yaml, [source.factory, sink.factory, memoryLimiter], { registry });
  try {
    await assert.rejects(source.consumers.get('source')!.consume(batch(), { transport: 'internal' }), (err: unknown) => {
      assert.ok(err instanceof ConsumerError);
      assert.equal(err.retryable, true);
      assert.equal(err.code, 'SKEIN_ERR_MEMORY_LIMIT');
      assert.equal(err.retryAfterMs, 3_600_000);
      assert.match(err.message, /^heap used \(\d+(\.\d)? MiB\) is over the memory limiter's soft limit \(0\.8 MiB\); retry later$/);
      return true;
    });
    assert.equal(sink.received.length, 0);
    assert.equal(registry.value('skein_memory_limiter_refusing', { processor: 'memory_limiter' }), 1);
    assert.equal(registry.value('skein_receiver_refused_points_total', { receiver: 'source', reason: 'memory_limit' }), 2);
  } finally {
    await service.shutdown();
  }
});
