import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfigError,
  Factories,
  gauge,
  loadConfigText,
  metricsBatch,
  numberPoint,
  planGraph,
  requireExtension,
  retryableError,
  Service,
  silentLogger,
  MetricsRegistry,
} from '../src/index.ts';
import { recorder, testFactories } from './helpers.ts';

function plan(yaml: string) {
  const rec = recorder();
  return planGraph(loadConfigText(yaml, 'pipeline.yaml', { env: {} }), new Factories(testFactories(rec)));
}

function errorsOf(yaml: string): string[] {
  try {
    plan(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err.issues.map((i) => `${i.code} ${i.message}`);
  }
  assert.fail('expected the config to be rejected');
}

test('a valid config plans its pipelines in upstream-first order', () => {
  const p = plan(`
receivers: {push: {}}
exporters: {memory: {}}
connectors: {fwd: {}}
service:
  pipelines:
    metrics/b: {receivers: [fwd], exporters: [memory]}
    metrics/a: {receivers: [push], exporters: [fwd]}
`);
  assert.deepEqual(p.pipelineOrder, ['metrics/a', 'metrics/b']);
  assert.deepEqual(p.warnings, []);
});

test('an undeclared component is an error naming what is declared', () => {
  assert.deepEqual(
    errorsOf(`receivers:
  push: {}
processors:
  tag: {}
exporters:
  memory: {}
service:
  extensions: [store]
  pipelines:
    metrics:
      receivers: [push, push/2]
      processors: [tag/x]
      exporters: [memory/y]
`),
    [
      'SKEIN_ERR_UNDECLARED_COMPONENT pipeline.yaml:8:16: service::extensions::0: extension "store" is not declared; declared extensions: none',
      'SKEIN_ERR_UNDECLARED_COMPONENT pipeline.yaml:11:25: service::pipelines::metrics::receivers::1: receiver "push/2" is not declared; declared receivers and connectors: push',
      'SKEIN_ERR_UNDECLARED_COMPONENT pipeline.yaml:12:20: service::pipelines::metrics::processors::0: processor "tag/x" is not declared; declared processors: tag',
      'SKEIN_ERR_UNDECLARED_COMPONENT pipeline.yaml:13:19: service::pipelines::metrics::exporters::0: exporter "memory/y" is not declared; declared exporters and connectors: memory',
    ],
  );
});

test('an unknown type lists the known types of that kind', () => {
  assert.deepEqual(
    errorsOf(`receivers:
  otlp: {}
exporters:
  memory: {}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [memory]}
`),
    ['SKEIN_ERR_UNKNOWN_TYPE pipeline.yaml:2:3: receivers::otlp: unknown receiver type "otlp"; known types: push'],
  );
});

test('a pipeline without a receiver or an exporter is an error', () => {
  assert.deepEqual(
    errorsOf(`receivers: {push: {}}
exporters: {memory: {}}
service:
  pipelines:
    metrics/in: {receivers: [push]}
    metrics/out: {exporters: [memory]}
`),
    [
      'SKEIN_ERR_PIPELINE_NO_EXPORTER pipeline.yaml:5:5: service::pipelines::metrics/in: a pipeline needs at least one exporter',
      'SKEIN_ERR_PIPELINE_NO_RECEIVER pipeline.yaml:6:5: service::pipelines::metrics/out: a pipeline needs at least one receiver',
    ],
  );
});

test('a processor listed twice in a pipeline is an error', () => {
  assert.deepEqual(
    errorsOf(`receivers: {push: {}}
processors: {tag: {}}
exporters: {memory: {}}
service:
  pipelines:
    metrics: {receivers: [push], processors: [tag, tag], exporters: [memory]}
`),
    ['SKEIN_ERR_PIPELINE_DUPLICATE pipeline.yaml:6:52: service::pipelines::metrics::processors::1: processor "tag" is listed twice'],
  );
});

test('connectors that form a cycle are an error that shows the loop', () => {
  assert.deepEqual(
    errorsOf(`receivers: {push: {}}
exporters: {memory: {}}
connectors: {fwd/1: {}, fwd/2: {}}
service:
  pipelines:
    metrics/a: {receivers: [push, fwd/2], exporters: [fwd/1]}
    metrics/b: {receivers: [fwd/1], exporters: [fwd/2, memory]}
`),
    ['SKEIN_ERR_PIPELINE_CYCLE pipeline.yaml:5:3: service::pipelines: pipelines form a cycle: metrics/a -> fwd/1 -> metrics/b -> fwd/2 -> metrics/a'],
  );
});

test('a connector used on one side only is an error', () => {
  assert.deepEqual(
    errorsOf(`receivers: {push: {}}
exporters: {memory: {}}
connectors: {fwd: {}}
service:
  pipelines:
    metrics: {receivers: [push], exporters: [memory, fwd]}
`),
    ['SKEIN_ERR_CONNECTOR_UNUSED_SIDE pipeline.yaml:3:14: connectors::fwd: connector is used as an exporter but no pipeline uses it as a receiver'],
  );
});

test('malformed IDs and unsupported signals are errors', () => {
  assert.deepEqual(
    errorsOf(`receivers: {Push: {}, push: {}}
exporters: {memory: {}}
service:
  pipelines:
    traces: {receivers: [push], exporters: [memory]}
    metrics//x: {receivers: [push], exporters: [memory]}
`),
    [
      'SKEIN_ERR_INVALID_ID pipeline.yaml:1:13: receivers::Push: invalid component id: must be type[/name]: a lowercase type such as "otlp", optionally "/" and a name without spaces',
      'SKEIN_ERR_PIPELINE_SIGNAL pipeline.yaml:5:5: service::pipelines::traces: unsupported signal "traces"; supported signals: metrics',
      'SKEIN_ERR_INVALID_ID pipeline.yaml:6:5: service::pipelines::metrics//x: invalid pipeline id: must be metrics[/name]',
    ],
  );
});

test('a config with no pipeline is an error', () => {
  assert.deepEqual(errorsOf(`receivers: {push: {}}\nservice: {}\n`), [
    'SKEIN_ERR_NO_PIPELINES pipeline.yaml:2:1: service::pipelines: no pipeline is declared; add one such as metrics: {receivers: [...], exporters: [...]}',
  ]);
});

test("a component's own config is validated against its schema, at its position", () => {
  assert.deepEqual(
    errorsOf(`receivers:
  push:
    port: -1
    colour: red
exporters: {memory: {}}
service:
  pipelines:
    metrics: {receivers: [push], exporters: [memory]}
`),
    [
      'SKEIN_ERR_CONFIG_INVALID pipeline.yaml:3:5: receivers::push::port: must be >= 0, got -1',
      'SKEIN_ERR_CONFIG_INVALID pipeline.yaml:4:5: receivers::push::colour: unknown key; allowed keys: max_port, port',
    ],
  );
});

test("a factory's own cross-key rules are reported like schema errors", () => {
  assert.deepEqual(
    errorsOf(`receivers:
  push:
    port: 9000
    max_port: 8000
exporters: {memory: {}}
service:
  pipelines:
    metrics: {receivers: [push], exporters: [memory]}
`),
    ['SKEIN_ERR_CONFIG_INVALID pipeline.yaml:4:5: receivers::push::max_port: must be >= port (9000), got 8000'],
  );
});

test('declared but unused components are warnings, not errors', () => {
  const p = plan(`receivers: {push: {}, push/spare: {}}
exporters: {memory: {}}
extensions: {store: {}}
service:
  pipelines:
    metrics: {receivers: [push], exporters: [memory]}
`);
  assert.deepEqual(p.warnings, [
    'pipeline.yaml:3:14: extensions::store: declared but not enabled in service::extensions',
    'pipeline.yaml:1:23: receivers::push/spare: declared but not used by any pipeline',
  ]);
});

const LIFECYCLE = `extensions: {store: {}}
receivers: {push: {}}
processors: {tag/1: {}, tag/2: {}}
exporters: {memory/a: {}, memory/b: {}}
service:
  extensions: [store]
  pipelines:
    metrics/one: {receivers: [push], processors: [tag/1, tag/2], exporters: [memory/a]}
    metrics/two: {receivers: [push], exporters: [memory/a, memory/b]}
`;

async function service(yaml: string, rec = recorder(), opts: { mutatingProcessor?: boolean } = {}) {
  const loaded = loadConfigText(yaml, 'pipeline.yaml', { env: {} });
  const svc = await Service.create(loaded, {
    factories: new Factories(testFactories(rec, opts)),
    logger: silentLogger,
    registry: new MetricsRegistry(),
    telemetryAddress: '127.0.0.1:0',
  });
  return { svc, rec };
}

test('start goes extensions, exporters, processors (last first), receivers; shutdown reverses it', async () => {
  const { svc, rec } = await service(LIFECYCLE);
  await svc.start();
  assert.equal(svc.getStatus(), 'running');
  const started = [...rec.events];
  await svc.shutdown();
  assert.deepEqual(started, [
    'start extension store',
    'start exporter memory/a',
    'start exporter memory/b',
    'start processor tag/2@metrics/one',
    'start processor tag/1@metrics/one',
    'start receiver push',
  ]);
  assert.deepEqual(rec.events.slice(started.length), [
    'shutdown receiver push',
    'shutdown processor tag/1@metrics/one',
    'shutdown processor tag/2@metrics/one',
    'shutdown exporter memory/b',
    'shutdown exporter memory/a',
    'shutdown extension store',
  ]);
  assert.equal(svc.getStatus(), 'stopped');
});

test('a receiver in two pipelines is one instance feeding both; a shared exporter is one instance', async () => {
  const { svc, rec } = await service(LIFECYCLE);
  await svc.start();
  assert.equal(rec.creates.get('receiver push'), 1);
  assert.equal(rec.creates.get('exporter memory/a'), 1);
  assert.equal(typeof svc.getComponent<{ start(): void }>('receivers', 'push')!.start, 'function');
  assert.equal(svc.getComponent('receivers', 'missing'), undefined);
  const batch = metricsBatch([{ resource: { 'host.name': 'n1' }, metrics: [gauge('health.score', [numberPoint(0.5)])] }]);
  await rec.consumers.get('push')!.consume(batch, { transport: 'test' });
  const a = rec.received.get('memory/a')!;
  const b = rec.received.get('memory/b')!;
  assert.equal(a.length, 2, 'memory/a is in both pipelines');
  assert.equal(b.length, 1);
  // metrics/one mutates (tag processors), so it got a copy; metrics/two saw the original.
  const tagged = a.find((r) => 'tag/1' in r.batch.resourceMetrics[0]!.resource.attributes)!;
  assert.deepEqual(tagged.batch.resourceMetrics[0]!.resource.attributes, { 'host.name': 'n1', 'tag/1': 'x', 'tag/2': 'x' });
  assert.deepEqual(b[0]!.batch.resourceMetrics[0]!.resource.attributes, { 'host.name': 'n1' });
  assert.equal(b[0]!.batch, batch, 'the read-only pipeline shares the original batch');
  assert.equal(svc.registry.value('skein_receiver_accepted_points_total', { receiver: 'push', transport: 'test' }), 1);
  assert.equal(svc.registry.value('skein_exporter_sent_points_total', { exporter: 'memory/a' }), 2);
  assert.equal(svc.registry.value('skein_processor_incoming_points_total', { processor: 'tag/1', pipeline: 'metrics/one' }), 1);
  await svc.shutdown();
});

test('refusals are counted by reason and reach the receiver', async () => {
  const rec = recorder();
  const { svc } = await service(
    `receivers: {push: {}}
exporters: {memory: {}}
service:
  pipelines:
    metrics: {receivers: [push], exporters: [memory]}
`,
    rec,
  );
  await svc.start();
  const list = rec.received.get('memory')!;
  list.push = () => {
    throw retryableError('queue is full', { reason: 'queue_full', retryAfterMs: 1000 });
  };
  const batch = metricsBatch([{ metrics: [gauge('g', [numberPoint(1), numberPoint(2)])] }]);
  await assert.rejects(rec.consumers.get('push')!.consume(batch, { transport: 'http' }), {
    name: 'RetryableError',
    message: 'queue is full',
    retryAfterMs: 1000,
  });
  assert.equal(svc.registry.value('skein_receiver_refused_points_total', { receiver: 'push', transport: 'http', reason: 'queue_full' }), 2);
  assert.equal(svc.registry.value('skein_exporter_failed_points_total', { exporter: 'memory', reason: 'queue_full' }), 2);
  await svc.shutdown();
});

test('shutdown is safe without start and safe twice', async () => {
  const { svc, rec } = await service(LIFECYCLE);
  await svc.shutdown();
  await svc.shutdown();
  assert.equal(svc.getStatus(), 'stopped');
  assert.equal(rec.events.filter((e) => e === 'shutdown receiver push').length, 1);
});

test('a component that fails to start stops what had started, and says which one failed', async () => {
  const rec = recorder();
  rec.failStart = 'processor tag/1@metrics/one';
  const { svc } = await service(LIFECYCLE, rec);
  await assert.rejects(svc.start(), {
    code: 'SKEIN_ERR_COMPONENT_START',
    message: 'processors::tag/1: failed to start: port already in use',
  });
  assert.deepEqual(rec.events, [
    'start extension store',
    'start exporter memory/a',
    'start exporter memory/b',
    'start processor tag/2@metrics/one',
    'shutdown processor tag/1@metrics/one',
    'shutdown processor tag/2@metrics/one',
    'shutdown exporter memory/b',
    'shutdown exporter memory/a',
    'shutdown extension store',
  ]);
  assert.equal(svc.getStatus(), 'stopped');
});

test('the host resolves enabled extensions by ID and names the enabled ones otherwise', async () => {
  const { svc } = await service(LIFECYCLE);
  assert.equal((svc.getExtension('store') as { kind: string }).kind, 'store');
  assert.throws(() => svc.getExtension('threshold_store'), {
    code: 'SKEIN_ERR_EXTENSION_NOT_FOUND',
    message: 'extension "threshold_store" is not enabled; declare it under extensions and list it in service::extensions (enabled: store)',
  });
  await svc.shutdown();
});

test('requireExtension checks the interface a component needs', async () => {
  const { svc } = await service(LIFECYCLE);
  const isStore = (e: unknown): e is { kind: 'store' } => (e as { kind?: string }).kind === 'store';
  const isMiddleware = (e: unknown): e is { handle(): void } => typeof (e as { handle?: unknown }).handle === 'function';
  assert.equal(requireExtension(svc, 'store', isStore, 'store', 'processors::tag').kind, 'store');
  assert.throws(() => requireExtension(svc, 'store', isMiddleware, 'server middleware', 'receivers::otlp'), {
    code: 'SKEIN_ERR_EXTENSION_INTERFACE',
    message: 'receivers::otlp: extension "store" is not a server middleware',
  });
  await svc.shutdown();
});

test('a connector forwards from one pipeline into the next', async () => {
  const rec = recorder();
  const { svc } = await service(
    `receivers: {push: {}}
exporters: {memory: {}}
connectors: {fwd: {}}
service:
  pipelines:
    metrics/in: {receivers: [push], exporters: [fwd]}
    metrics/out: {receivers: [fwd], exporters: [memory]}
`,
    rec,
  );
  await svc.start();
  assert.deepEqual(rec.events.slice(0, 3), ['start exporter memory', 'start connector fwd', 'start receiver push']);
  await rec.consumers.get('push')!.consume(metricsBatch([{ metrics: [gauge('g', [numberPoint(1)])] }]), { transport: 'test' });
  assert.equal(rec.received.get('memory')!.length, 1);
  await svc.shutdown();
});
