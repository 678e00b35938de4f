import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DURATION_BUCKETS, MetricsRegistry } from '../src/telemetry/registry.ts';
import { registerProcessMetrics } from '../src/telemetry/process.ts';

import { requireTool } from '../src/testing.ts';

/** Runs `promtool check metrics` on `text`; an empty output means no lint problem. */
function promtoolCheck(text: string): { status: number | null; output: string } {
  const promtool = requireTool('promtool', 'prometheus');
  const run = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw run.error;
  return { status: run.status, output: (run.stdout + run.stderr).trim() };
}

function skeinRegistry(): { registry: MetricsRegistry; stop: () => void } {
  const registry = new MetricsRegistry();
  const stop = registerProcessMetrics(registry, { version: '0.1.0' });

  const otlp = registry.scoped({ receiver: 'otlp' });
  const accepted = otlp.counter({
    name: 'skein_receiver_accepted_points_total',
    help: 'Data points a receiver accepted and passed on.',
    labelNames: ['transport'],
  });
  const refused = otlp.counter({
    name: 'skein_receiver_refused_points_total',
    help: 'Data points a receiver refused, by reason.',
    labelNames: ['transport', 'reason'],
  });
  const duration = otlp.histogram({
    name: 'skein_receiver_request_duration_seconds',
    help: 'Time to handle one push request, in seconds.',
    labelNames: ['transport'],
    buckets: DURATION_BUCKETS,
  });
  const queueSize = registry.gauge({
    name: 'skein_exporter_queue_size',
    help: 'Batches waiting in an exporter queue.',
    labelNames: ['exporter'],
  });

  accepted.inc(1200, { transport: 'grpc' });
  accepted.inc(35, { transport: 'http' });
  refused.inc(3, { transport: 'http', reason: 'invalid_argument' });
  refused.inc(1, { transport: 'grpc', reason: 'queue_full' });
  for (const v of [0.002, 0.04, 0.04, 0.3, 12]) duration.observe(v, { transport: 'grpc' });
  duration.observe(0.007, { transport: 'http' });
  queueSize.set(4, { exporter: 'prometheusremotewrite/folio' });
  queueSize.set(0, { exporter: 'otlp' });
  // Label values that need escaping must not upset the parser.
  refused.inc(1, { transport: 'http', reason: 'odd "quoted" \\ value\nwith a newline' });
  return { registry, stop };
}

test('requireTool names the Debian package when a tool is missing', () => {
  assert.throws(
    () => requireTool('skein-no-such-tool', 'skein-no-such-package'),
    new Error("skein-no-such-tool not found: install Debian's skein-no-such-package package (bash scripts/install-deps.sh)"),
  );
});

test('promtool rejects a broken exposition (so the next test can fail)', () => {
  const bad = '# HELP skein_bad x\n# TYPE skein_bad counter\nskein_bad{a="1"} 1\n';
  const lint = promtoolCheck(bad);
  assert.notEqual(lint.status, 0);
  assert.match(lint.output, /_total/);
});

test('the self-metrics exposition passes promtool check metrics', () => {
  const { registry, stop } = skeinRegistry();
  try {
    const text = registry.expose();
    assert.match(text, /^skein_process_cpu_seconds_total /m);
    assert.match(text, /^skein_receiver_request_duration_seconds_bucket\{receiver="otlp",transport="grpc",le="\+Inf"\} 5$/m);
    const lint = promtoolCheck(text);
    assert.equal(lint.output, '', `promtool says:\n${lint.output}\n\nfor:\n${text}`);
    assert.equal(lint.status, 0);
  } finally {
    stop();
  }
});
