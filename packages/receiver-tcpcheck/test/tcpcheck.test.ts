import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, DataPointFlags, MetricsRegistry, retryableError, silentLogger, SkeinError, type Host } from '@skein/core';
import { sinkExporter, startService } from '@skein/core/testing';
import probes, { type ProbesExtension } from '@skein/extension-probes';
import { blackHole, closedPort, listen, pointsOf, until } from '@skein/probe-loop/testing';
import tcpcheck from '../src/index.ts';

/** A listener that accepts and closes every connection, counting them. */
async function upServer(): Promise<{ port: number; server: Server; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    s.destroy();
  });
  const port = await listen(server);
  return { port, server, accepted: () => accepted };
}

function yaml(receiver: string, extra = ''): string {
  return `
extensions: {probes: {endpoint: "127.0.0.1:0"}}
receivers:
  tcpcheck:
${receiver
  .trim()
  .split('\n')
  .map((l) => '    ' + l)
  .join('\n')}
exporters: {sink: {}}
service:
  extensions: [probes]
  pipelines: {metrics: {receivers: [tcpcheck], exporters: [sink]}}
${extra}`;
}

test('classifies a listener, a closed port, an unresolvable name and a black hole in one cycle', { timeout: 30_000 }, async () => {
  const up = await upServer();
  const closed = await closedPort();
  const hole = await blackHole();
  const sink = sinkExporter();
  const registry = new MetricsRegistry();
  const service = await startService(
    yaml(`
collection_interval: 1h
timeout: 500ms
probes: probes
targets:
  - {endpoint: "127.0.0.1:${hole.port}", name: blackhole}
  - {endpoint: "127.0.0.1:${up.port}", name: up, route: direct}
  - {endpoint: "127.0.0.1:${closed}", name: closed}
  - {endpoint: "nothing.invalid:80"}
`),
    [tcpcheck, probes, sink.factory],
    { registry },
  );
  try {
    await until(() => sink.received.length === 1, 'the first cycle');
    const { batch, ctx } = sink.received[0]!;
    assert.deepEqual(ctx, { transport: 'probe', receiver: 'tcpcheck' });
    assert.equal(batch.resourceMetrics[0]!.scopeMetrics[0]!.scope.name, '@skein/receiver-tcpcheck');

    const reachable = Object.fromEntries(pointsOf(batch, 'tcpcheck.reachable').map((p) => [p.attributes.target, p.value]));
    // The black hole came first and one probe at a time: it did not hold up the others.
    assert.deepEqual(reachable, { blackhole: 0, up: 1, closed: 0, 'nothing.invalid:80': 0 });
    const errors = Object.fromEntries(pointsOf(batch, 'tcpcheck.error').map((p) => [p.attributes.target, p.attributes['error.class']]));
    // .invalid is reserved (RFC 6761): the resolver answers NXDOMAIN at once, and a resolver
    // that hangs instead is cut by the timeout while resolving, which is classed dns too.
    assert.deepEqual(errors, { blackhole: 'timeout', closed: 'refused', 'nothing.invalid:80': 'dns' });
    const durations = pointsOf(batch, 'tcpcheck.duration');
    assert.equal(durations.length, 4);
    assert.ok(durations.every((p) => p.value >= 0));
    const upPoint = pointsOf(batch, 'tcpcheck.reachable').find((p) => p.attributes.target === 'up')!;
    assert.deepEqual(upPoint.attributes, { target: 'up', route: 'direct', 'server.address': '127.0.0.1', 'server.port': up.port });
    assert.equal(up.accepted(), 1);

    const store = service.getExtension<ProbesExtension>('probes');
    const byTarget = Object.fromEntries(store.results().map((r) => [r.target, r]));
    assert.equal(byTarget.blackhole!.error_class, 'timeout');
    assert.equal(byTarget.blackhole!.phase, 'connect');
    assert.equal(byTarget.blackhole!.error, 'no answer within 500ms while connecting');
    assert.equal(byTarget.closed!.error_class, 'refused');
    assert.equal(byTarget['nothing.invalid:80']!.error_class, 'dns');
    assert.equal(byTarget.up!.reachable, true);
    assert.equal(byTarget.up!.route, 'direct');
    assert.equal(registry.value('skein_probe_checks_total', { receiver: 'tcpcheck', result: 'timeout' }), 1);
    assert.equal(registry.value('skein_probe_checks_total', { receiver: 'tcpcheck', result: 'success' }), 1);
    assert.equal(registry.value('skein_probe_cycles_total', { receiver: 'tcpcheck' }), 1);
    assert.equal(registry.value('skein_probe_targets', { receiver: 'tcpcheck' }), 4);
    assert.equal(registry.value('skein_receiver_accepted_points_total', { receiver: 'tcpcheck', transport: 'probe' }), 11);
  } finally {
    await service.shutdown();
    await hole.close();
    up.server.close();
  }
});

test('a recovered target ends its error series with a stale marker', async () => {
  const port = await closedPort();
  const sink = sinkExporter();
  const service = await startService(
    yaml(`
collection_interval: 20ms
targets: [{endpoint: "127.0.0.1:${port}", name: db}]
`),
    [tcpcheck, probes, sink.factory],
  );
  const server = createServer((s) => s.destroy());
  try {
    await until(() => sink.received.length >= 1, 'the first cycle');
    assert.equal(pointsOf(sink.received[0]!.batch, 'tcpcheck.error')[0]!.attributes['error.class'], 'refused');
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const isUp = (i: number) => pointsOf(sink.received[i]!.batch, 'tcpcheck.reachable')[0]!.value === 1;
    await until(() => sink.received.some((_, i) => isUp(i)), 'a cycle that sees the target up');
    const first = sink.received.findIndex((_, i) => isUp(i));
    const ended = pointsOf(sink.received[first]!.batch, 'tcpcheck.error');
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.attributes['error.class'], 'refused');
    assert.equal(ended[0]!.flags, DataPointFlags.NoRecordedValue);
    // Once ended, the series is not repeated.
    await until(() => sink.received.length > first + 1, 'one more cycle');
    assert.deepEqual(pointsOf(sink.received[first + 1]!.batch, 'tcpcheck.error'), []);
  } finally {
    await service.shutdown();
    server.close();
  }
});

async function configErrors(receiver: string): Promise<string[]> {
  try {
    const service = await startService(yaml(receiver), [tcpcheck, probes, sinkExporter().factory]);
    await service.shutdown();
  } catch (err) {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_CONFIG_INVALID');
    return err.message.split('\n').map((l) => l.replace(/^test\.yaml:\d+:\d+: /, ''));
  }
  assert.fail('the config was accepted');
}

test('config errors name the key and what is allowed', async () => {
  assert.deepEqual(await configErrors('targets: [{endpoint: "db:5432"}, {endpoint: "5432"}]'), [
    'receivers::tcpcheck::targets::1::endpoint: must be host:port, got "5432"',
  ]);
  // The rules beyond the schema are checked once the schema passes.
  assert.deepEqual(await configErrors('targets: [{endpoint: "db:0"}, {endpoint: ":5432"}]'), [
    'receivers::tcpcheck::targets::0::endpoint: must name a host and a port from 1 to 65535, got "db:0"',
    'receivers::tcpcheck::targets::1::endpoint: must name a host and a port from 1 to 65535, got ":5432"',
  ]);
  assert.deepEqual(await configErrors('targets: [{endpoint: "db:5432"}, {endpoint: "db:5432"}, {endpoint: "a:1", name: x}, {endpoint: "b:1", name: x}]'), [
    'receivers::tcpcheck::targets::1: duplicate target name "db:5432" (also targets[0]); give each target its own name',
    'receivers::tcpcheck::targets::3::name: duplicate target name "x" (also targets[2]); give each target its own name',
  ]);
  assert.deepEqual(await configErrors('timeout: 5s\ntargets: [{endpoint: "db:5432", timeout: 10s}]'), [
    'receivers::tcpcheck::timeout: must be at most max_timeout (3s), got "5s"',
    'receivers::tcpcheck::targets::0::timeout: must be at most max_timeout (3s), got "10s"',
  ]);
  assert.deepEqual(await configErrors('max_concurrency: 0\ntargets: [{endpoint: "db:5432"}]'), ['receivers::tcpcheck::max_concurrency: must be >= 1, got 0']);
  assert.deepEqual(await configErrors('collection_interval: 0s\ntargets: [{endpoint: "db:5432", timeout: 0s}]'), [
    'receivers::tcpcheck::collection_interval: must be more than 0s, got "0s"',
    'receivers::tcpcheck::targets::0::timeout: must be more than 0s, got "0s"',
  ]);
  assert.deepEqual(await configErrors('collection_interval: 10s'), ['receivers::tcpcheck::targets: must not be empty when targets_file is not set']);
});

test('the targets file is watched: a rewrite is probed, a broken file keeps the last good targets', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpcheck-'));
  const file = join(dir, 'targets.yaml');
  const a = await upServer();
  const b = await upServer();
  writeFileSync(file, `- {endpoint: "127.0.0.1:${a.port}", name: a}\n`);
  const sink = sinkExporter();
  const registry = new MetricsRegistry();
  const service = await startService(yaml(`collection_interval: 20ms\ntargets_file: ${JSON.stringify(file)}\nprobes: probes`), [tcpcheck, probes, sink.factory], {
    registry,
  });
  const store = service.getExtension<ProbesExtension>('probes');
  const targetsIn = (i: number) => pointsOf(sink.received[i]!.batch, 'tcpcheck.reachable').map((p) => p.attributes.target);
  const lastTargets = () => (sink.received.length === 0 ? [] : targetsIn(sink.received.length - 1));
  try {
    await until(() => lastTargets().join() === 'a', 'target a probed');

    // Replaced by a rename, as editors and ConfigMap updates do.
    writeFileSync(join(dir, 'next.yaml'), `[{endpoint: "127.0.0.1:${b.port}", name: b}, {endpoint: "not an address", name: bad}]`);
    renameSync(join(dir, 'next.yaml'), file);
    await until(() => lastTargets().join() === 'b,bad', 'targets b and bad probed');
    assert.ok(b.accepted() >= 1);
    const last = sink.received.at(-1)!.batch;
    assert.deepEqual(
      pointsOf(last, 'tcpcheck.error').filter((p) => p.flags === 0).map((p) => [p.attributes.target, p.attributes['error.class']]),
      [['bad', 'invalid']],
    );
    // Target a left: its series were ended, and the triage API forgot it.
    assert.deepEqual(store.results().map((r) => r.target), ['b', 'bad']);
    const bad = store.results().find((r) => r.target === 'bad')!;
    assert.equal(bad.error_class, 'invalid');
    assert.equal(bad.error, 'endpoint: must be host:port, got "not an address"');
    assert.equal(registry.value('skein_probe_targets_file_reloads_total', { receiver: 'tcpcheck' }), 1);

    writeFileSync(file, 'endpoint: [not a list');
    await until(() => registry.value('skein_probe_targets_file_errors_total', { receiver: 'tcpcheck' }) === 1, 'the broken file rejected');
    const seen = sink.received.length;
    await until(() => sink.received.length >= seen + 2, 'two more cycles');
    assert.equal(lastTargets().join(), 'b,bad');
  } finally {
    await service.shutdown();
    rmSync(dir, { recursive: true, force: true });
    a.server.close();
    b.server.close();
  }
});

test('a targets file that cannot be loaded at start fails the start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpcheck-'));
  const missing = join(dir, 'missing.yaml');
  try {
    await assert.rejects(startService(yaml(`targets_file: ${JSON.stringify(missing)}`), [tcpcheck, probes, sinkExporter().factory]), (err: unknown) => {
      assert.ok(err instanceof SkeinError);
      assert.equal(err.code, 'SKEIN_ERR_COMPONENT_START');
      assert.match(err.message, /^receivers::tcpcheck: failed to start: cannot read targets_file .*missing\.yaml: ENOENT/);
      return true;
    });
    writeFileSync(join(dir, 'dup.yaml'), '[{endpoint: "a:1", name: x}, {endpoint: "b:1", name: x}]');
    await assert.rejects(
      startService(yaml(`targets_file: ${JSON.stringify(join(dir, 'dup.yaml'))}`), [tcpcheck, probes, sinkExporter().factory]),
      /receivers::tcpcheck: failed to start: targets_file .*dup\.yaml: entry 1: duplicate target name "x"; give each target its own name$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a refusal by the pipeline is logged and counted, and the loop goes on', async () => {
  const up = await upServer();
  const sink = sinkExporter();
  let refusals = 0;
  sink.control.fail = () => (refusals++ < 2 ? retryableError('queue full', { reason: 'queue_full' }) : undefined);
  const registry = new MetricsRegistry();
  const service = await startService(yaml(`collection_interval: 20ms\ntargets: [{endpoint: "127.0.0.1:${up.port}"}]`), [tcpcheck, probes, sink.factory], {
    registry,
  });
  try {
    await until(() => sink.received.length >= 1, 'a cycle accepted after two refusals');
    assert.equal(registry.value('skein_receiver_refused_points_total', { receiver: 'tcpcheck', reason: 'queue_full' }), 4);
    assert.ok(registry.value('skein_probe_cycles_total', { receiver: 'tcpcheck' })! >= 3);
  } finally {
    await service.shutdown();
    up.server.close();
  }
});

test('shutdown is safe without start and twice; a probes reference that is no probe store fails the start', async () => {
  const settings = {
    id: 'tcpcheck',
    config: {
      collection_interval: '30s',
      timeout: '3s',
      max_timeout: '3s',
      max_concurrency: 1,
      targets: [{ endpoint: '127.0.0.1:1' }],
    },
    logger: silentLogger,
    telemetry: new MetricsRegistry().scoped({ receiver: 'tcpcheck' }),
    pipelines: ['metrics'],
  };
  const next = { consume: async () => {} };
  const unstarted = await tcpcheck.create(settings, next);
  await unstarted.shutdown!();
  await unstarted.shutdown!();

  const notAStore = {};
  const host: Host = { getStatus: () => 'running', getExtension: () => notAStore as never, extensions: () => new Map() };
  const referencing = await tcpcheck.create({ ...settings, config: { ...settings.config, probes: 'health_check' } }, next);
  assert.throws(() => referencing.start!(host), {
    code: 'SKEIN_ERR_EXTENSION_INTERFACE',
    message: 'probes: extension "health_check" is not a probe store',
  });
  await Promise.all([referencing.shutdown!(), referencing.shutdown!()]);
});

test('a target list whose worst-case cycle outlasts the interval is warned about at start', async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const targets = ['a', 'b', 'c'].map((name) => `{endpoint: "127.0.0.1:1", name: ${name}}`).join(', ');
  const service = await startService(yaml(`collection_interval: 5s\ntimeout: 2s\nmax_concurrency: 1\ntargets: [${targets}]`), [tcpcheck, probes, sinkExporter().factory], {
    logger,
  });
  await service.shutdown();
  const warning = lines.find((l) => String(l.msg).startsWith('if every target timed out'));
  assert.ok(warning, 'no warning logged');
  assert.equal(warning.worst_case_cycle, '6s');
  assert.equal(warning.collection_interval, '5s');
});
