import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MetricsRegistry, formatValue } from '../src/telemetry/registry.ts';
import { registerProcessMetrics } from '../src/telemetry/process.ts';

/** The sample lines of one family, without HELP/TYPE. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name) && !l.startsWith('#'));
}

describe('counter', () => {
  test('inc adds, by 1 by default, per label set', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'skein_test_points_total', help: 'Points.', labelNames: ['receiver'] });
    c.inc(undefined, { receiver: 'a' });
    c.inc(2.5, { receiver: 'a' });
    c.labels({ receiver: 'b' }).inc();
    assert.equal(r.value('skein_test_points_total', { receiver: 'a' }), 3.5);
    assert.equal(r.value('skein_test_points_total', { receiver: 'b' }), 1);
    assert.equal(r.sum('skein_test_points_total'), 4.5);
    assert.deepEqual(samples(r.expose(), 'skein_test_points_total'), [
      'skein_test_points_total{receiver="a"} 3.5',
      'skein_test_points_total{receiver="b"} 1',
    ]);
  });

  test('a counter cannot go down or become NaN', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'skein_test_total', help: 'x' });
    c.inc(1);
    assert.throws(() => c.inc(-1), RangeError);
    assert.throws(() => c.inc(Number.NaN), RangeError);
    assert.equal(r.value('skein_test_total'), 1);
  });

  test('a missing label is an error', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'skein_test_total', help: 'x', labelNames: ['receiver', 'transport'] });
    assert.throws(() => c.inc(1, { receiver: 'otlp' }), /needs label "transport"/);
  });

  test('label values cannot make two series collide', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'skein_test_total', help: 'x', labelNames: ['a', 'b'] });
    c.inc(1, { a: 'x\u0001', b: '' });
    c.inc(1, { a: 'x', b: '\u0001' });
    assert.equal(samples(r.expose(), 'skein_test_total').length, 2);
  });
});

describe('gauge', () => {
  test('set, inc, dec and remove', () => {
    const r = new MetricsRegistry();
    const g = r.gauge({ name: 'skein_test_queue_size', help: 'Queue.', labelNames: ['exporter'] });
    g.set(10, { exporter: 'a' });
    g.inc(5, { exporter: 'a' });
    g.dec(3, { exporter: 'a' });
    g.inc(undefined, { exporter: 'a' });
    g.dec(undefined, { exporter: 'a' });
    assert.equal(r.value('skein_test_queue_size', { exporter: 'a' }), 12);

    const child = g.labels({ exporter: 'b' });
    child.set(-2);
    child.inc();
    child.dec(4);
    assert.equal(r.value('skein_test_queue_size', { exporter: 'b' }), -5);

    g.remove({ exporter: 'a' });
    assert.equal(r.value('skein_test_queue_size', { exporter: 'a' }), undefined);
    assert.deepEqual(samples(r.expose(), 'skein_test_queue_size'), ['skein_test_queue_size{exporter="b"} -5']);
  });
});

describe('histogram', () => {
  test('buckets are cumulative, with +Inf, sum and count', () => {
    const r = new MetricsRegistry();
    const h = r.histogram({
      name: 'skein_test_duration_seconds',
      help: 'Duration.',
      labelNames: ['receiver'],
      buckets: [1, 0.1, 0.5],
    });
    for (const v of [0.05, 0.1, 0.3, 0.7, 2]) h.observe(v, { receiver: 'otlp' });
    assert.equal(r.value('skein_test_duration_seconds', { receiver: 'otlp' }), 5);
    assert.deepEqual(samples(r.expose(), 'skein_test_duration_seconds'), [
      'skein_test_duration_seconds_bucket{receiver="otlp",le="0.1"} 2',
      'skein_test_duration_seconds_bucket{receiver="otlp",le="0.5"} 3',
      'skein_test_duration_seconds_bucket{receiver="otlp",le="1"} 4',
      'skein_test_duration_seconds_bucket{receiver="otlp",le="+Inf"} 5',
      'skein_test_duration_seconds_sum{receiver="otlp"} 3.15',
      'skein_test_duration_seconds_count{receiver="otlp"} 5',
    ]);
  });

  test('an explicit +Inf bound is not written twice', () => {
    const r = new MetricsRegistry();
    r.histogram({ name: 'skein_test_seconds', help: 'x', buckets: [1, Infinity] }).observe(3);
    assert.deepEqual(samples(r.expose(), 'skein_test_seconds_bucket'), [
      'skein_test_seconds_bucket{le="1"} 0',
      'skein_test_seconds_bucket{le="+Inf"} 1',
    ]);
  });

  test('le is a reserved label and NaN is not a bound', () => {
    const r = new MetricsRegistry();
    assert.throws(() => r.histogram({ name: 'skein_a_seconds', help: 'x', labelNames: ['le'], buckets: [1] }), /reserved/);
    assert.throws(() => r.histogram({ name: 'skein_b_seconds', help: 'x', buckets: [Number.NaN] }), /NaN/);
  });
});

describe('exposition', () => {
  test('label values escape backslash, quote and newline', () => {
    const r = new MetricsRegistry();
    r.gauge({ name: 'skein_test', help: 'x', labelNames: ['path'] }).set(1, { path: 'C:\\dir\n"q"' });
    assert.deepEqual(samples(r.expose(), 'skein_test'), ['skein_test{path="C:\\\\dir\\n\\"q\\""} 1']);
  });

  test('HELP escapes backslash and newline, and HELP and TYPE come first', () => {
    const r = new MetricsRegistry();
    r.gauge({ name: 'skein_test', help: 'a\\b\nc "quoted"' }).set(1);
    assert.equal(r.expose(), '# HELP skein_test a\\\\b\\nc "quoted"\n# TYPE skein_test gauge\nskein_test 1\n');
  });

  test('special values are written as Prometheus spells them', () => {
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(-Infinity), '-Inf');
    assert.equal(formatValue(Number.NaN), 'NaN');
    assert.equal(formatValue(0.25), '0.25');
    const r = new MetricsRegistry();
    const g = r.gauge({ name: 'skein_test', help: 'x', labelNames: ['v'] });
    g.set(Infinity, { v: 'inf' });
    g.set(Number.NaN, { v: 'nan' });
    assert.deepEqual(samples(r.expose(), 'skein_test'), ['skein_test{v="inf"} +Inf', 'skein_test{v="nan"} NaN']);
  });

  test('families are sorted by name and collectors run before each exposition', () => {
    const r = new MetricsRegistry();
    const g = r.gauge({ name: 'skein_b', help: 'b' });
    r.gauge({ name: 'skein_a', help: 'a' }).set(1);
    let n = 0;
    const stop = r.onCollect(() => g.set(++n));
    assert.match(r.expose(), /^# HELP skein_a a\n[^]*\nskein_b 1\n$/);
    assert.match(r.expose(), /\nskein_b 2\n$/);
    stop();
    assert.match(r.expose(), /\nskein_b 2\n$/);
  });
});

describe('registration', () => {
  test('the same name and shape returns the same family', () => {
    const r = new MetricsRegistry();
    const opts = { name: 'skein_test_total', help: 'x', labelNames: ['receiver'] };
    r.counter(opts).inc(1, { receiver: 'a' });
    r.counter({ ...opts }).inc(2, { receiver: 'a' });
    assert.equal(r.value('skein_test_total', { receiver: 'a' }), 3);
    assert.equal(r.expose().match(/# TYPE skein_test_total/g)?.length, 1);
  });

  test('a conflicting registration throws', () => {
    const r = new MetricsRegistry();
    r.counter({ name: 'skein_test_total', help: 'x', labelNames: ['receiver'] });
    assert.throws(() => r.gauge({ name: 'skein_test_total', help: 'x', labelNames: ['receiver'] }), /already registered/);
    assert.throws(() => r.counter({ name: 'skein_test_total', help: 'x', labelNames: ['exporter'] }), /already registered/);
    assert.throws(() => r.counter({ name: 'skein_test_total', help: 'x' }), /already registered/);
    r.histogram({ name: 'skein_test_seconds', help: 'x', buckets: [1, 2] });
    assert.throws(() => r.histogram({ name: 'skein_test_seconds', help: 'x', buckets: [1, 5] }), /already registered/);
  });

  test('a family cannot take the name of a histogram series', () => {
    const r = new MetricsRegistry();
    r.histogram({ name: 'skein_test_seconds', help: 'x', buckets: [1] });
    assert.throws(() => r.gauge({ name: 'skein_test_seconds_count', help: 'x' }), /clash/);
    r.gauge({ name: 'skein_other_sum', help: 'x' });
    assert.throws(() => r.histogram({ name: 'skein_other', help: 'x', buckets: [1] }), /clash/);
  });

  test('invalid metric and label names are refused', () => {
    const r = new MetricsRegistry();
    assert.throws(() => r.counter({ name: 'skein-test', help: 'x' }), /invalid metric name/);
    assert.throws(() => r.counter({ name: 'skein_test', help: 'x', labelNames: ['__name'] }), /invalid label name/);
    assert.throws(() => r.counter({ name: 'skein_test', help: 'x', labelNames: ['a', 'a'] }), /duplicate label/);
  });
});

describe('scoped telemetry', () => {
  test('adds its fixed labels to everything it registers', () => {
    const r = new MetricsRegistry();
    const t = r.scoped({ receiver: 'otlp' });
    assert.deepEqual(t.fixedLabels, { receiver: 'otlp' });
    assert.equal(t.registry, r);
    t.counter({ name: 'skein_test_total', help: 'x', labelNames: ['transport'] }).inc(2, { transport: 'grpc' });
    const g = t.gauge({ name: 'skein_test_size', help: 'x' });
    g.set(7);
    t.histogram({ name: 'skein_test_seconds', help: 'x', buckets: [1] }).labels({}).observe(0.5);
    const text = r.expose();
    assert.deepEqual(samples(text, 'skein_test_total'), ['skein_test_total{receiver="otlp",transport="grpc"} 2']);
    assert.deepEqual(samples(text, 'skein_test_size'), ['skein_test_size{receiver="otlp"} 7']);
    assert.ok(text.includes('skein_test_seconds_bucket{receiver="otlp",le="1"} 1\n'));
    g.remove({});
    assert.equal(r.value('skein_test_size', { receiver: 'otlp' }), undefined);
  });

  test('shares families with other scopes, and fixed labels cannot be overridden', () => {
    const r = new MetricsRegistry();
    const opts = { name: 'skein_test_total', help: 'x' };
    r.scoped({ receiver: 'a' }).counter(opts).inc(1);
    r.scoped({ receiver: 'b' }).counter(opts).inc(1, { receiver: 'a' });
    assert.equal(r.value('skein_test_total', { receiver: 'a' }), 1);
    assert.equal(r.value('skein_test_total', { receiver: 'b' }), 1);
  });
});

describe('process metrics', () => {
  test('registers every family and refreshes it at collect time', () => {
    const r = new MetricsRegistry();
    const stop = registerProcessMetrics(r, { version: '1.2.3' });
    try {
      const text = r.expose();
      for (const name of [
        'skein_process_cpu_seconds_total',
        'skein_process_resident_memory_bytes',
        'skein_process_heap_used_bytes',
        'skein_process_heap_total_bytes',
        'skein_process_event_loop_lag_seconds',
        'skein_process_event_loop_lag_p99_seconds',
        'skein_process_uptime_seconds',
        'skein_process_start_time_seconds',
      ]) {
        assert.match(text, new RegExp(`^${name} [0-9.e+-]+$`, 'm'), name);
      }
      assert.match(text, /^# TYPE skein_process_cpu_seconds_total counter$/m);
      assert.ok(text.includes(`skein_build_info{version="1.2.3",node_version="${process.versions.node}"} 1\n`));
      assert.ok(r.value('skein_process_resident_memory_bytes')! > 0);
      assert.ok(r.value('skein_process_heap_used_bytes')! > 0);
      const start = r.value('skein_process_start_time_seconds')!;
      assert.ok(Math.abs(start + process.uptime() - Date.now() / 1000) < 60, 'start time is in seconds since the epoch');
    } finally {
      stop();
    }
  });

  test('cpu seconds follow process.cpuUsage and never go down, even when registered twice', () => {
    const r = new MetricsRegistry();
    const stopA = registerProcessMetrics(r);
    const stopB = registerProcessMetrics(r);
    try {
      r.expose();
      const first = r.value('skein_process_cpu_seconds_total')!;
      let x = 0;
      for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
      assert.ok(x > 0);
      r.expose();
      const second = r.value('skein_process_cpu_seconds_total')!;
      const usage = process.cpuUsage();
      assert.ok(second >= first);
      assert.ok(second <= (usage.user + usage.system) / 1e6, 'two registrations must not count twice');
      assert.ok(second > 0);
    } finally {
      stopA();
      stopB();
    }
  });

  test('event-loop lag shows a blocked loop, in seconds', async () => {
    const r = new MetricsRegistry();
    const stop = registerProcessMetrics(r);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      // A busy loop delays the monitor's next tick by at least this long, however slow the machine.
      const until = Date.now() + 200;
      while (Date.now() < until);
      await new Promise((resolve) => setTimeout(resolve, 30));
      r.expose();
      const p99 = r.value('skein_process_event_loop_lag_p99_seconds')!;
      assert.ok(p99 >= 0.15 && p99 < 1000, `p99 lag ${p99} s`);
      assert.ok(r.value('skein_process_event_loop_lag_seconds')! > 0);
    } finally {
      stop();
    }
  });

  test('stop ends the refreshing', () => {
    const r = new MetricsRegistry();
    const stop = registerProcessMetrics(r);
    r.expose();
    stop();
    stop();
    const uptime = r.value('skein_process_uptime_seconds');
    const until = Date.now() + 20;
    while (Date.now() < until);
    r.expose();
    assert.equal(r.value('skein_process_uptime_seconds'), uptime);
  });

  test('the event-loop monitor does not keep the process alive', () => {
    const processTs = fileURLToPath(new URL('../src/telemetry/process.ts', import.meta.url));
    const registryTs = fileURLToPath(new URL('../src/telemetry/registry.ts', import.meta.url));
    const script = `
      const { MetricsRegistry } = await import(${JSON.stringify(registryTs)});
      const { registerProcessMetrics } = await import(${JSON.stringify(processTs)});
      registerProcessMetrics(new MetricsRegistry());
      console.log('registered');
    `;
    // The timeout only guards against a hang; the assertion is that the child exits by itself.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.signal, null, 'the process did not exit on its own');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'registered\n');
  });
});
