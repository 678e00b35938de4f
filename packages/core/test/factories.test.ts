/** Factories registered by their loaders: imported when a config declares them, and only then. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, Factories, loadConfigText, loadDeclaredFactories, planGraph, Service, silentLogger, SkeinError, type Factory, type FactoryLoader } from '../src/index.ts';
import { recorder, testFactories } from './helpers.ts';

/** Each test factory behind a loader that counts its imports. */
function deferred(factories: Factory[] = testFactories(recorder())) {
  const imports = new Map<string, number>();
  const loaders: FactoryLoader[] = factories.map((factory) => ({
    kind: factory.kind,
    type: factory.type,
    load: async () => {
      imports.set(factory.type, (imports.get(factory.type) ?? 0) + 1);
      return { default: factory };
    },
  }));
  return { factories: new Factories(loaders), imports };
}

const PUSH_TO_MEMORY = `receivers:
  push: {}
exporters:
  memory: {}
service:
  pipelines:
    metrics: {receivers: [push], exporters: [memory]}
`;

test('a factory registered by its loader is listed before it is imported, and get() refuses it until then', async () => {
  const { factories, imports } = deferred();
  assert.deepEqual(factories.types('receiver'), ['push']);
  assert.deepEqual(factories.all(), []);
  assert.throws(() => factories.get('receiver', 'push'), /the receiver factory "push" is not imported yet; await factories.load\(\) first/);
  assert.equal(factories.get('receiver', 'nosuch'), undefined);
  assert.equal(await factories.load('receiver', 'nosuch'), undefined);

  const [a, b] = await Promise.all([factories.load('receiver', 'push'), factories.load('receiver', 'push')]);
  assert.equal(a, b);
  assert.equal(factories.get('receiver', 'push'), a);
  assert.deepEqual(Object.fromEntries(imports), { push: 1 });
  await factories.loadAll();
  assert.deepEqual(factories.all().map((f) => f.type).sort(), ['fwd', 'memory', 'push', 'store', 'tag']);
});

test('loadDeclaredFactories imports what the config declares and nothing else', async () => {
  const { factories, imports } = deferred();
  await loadDeclaredFactories(loadConfigText(PUSH_TO_MEMORY, 'pipeline.yaml', { env: {} }), factories);
  assert.deepEqual([...imports.keys()].sort(), ['memory', 'push']);
  const plan = planGraph(loadConfigText(PUSH_TO_MEMORY, 'pipeline.yaml', { env: {} }), factories);
  assert.deepEqual(plan.pipelines.map((p) => p.id), ['metrics']);
});

test('an unknown type lists the known types, imported or not', async () => {
  const { factories, imports } = deferred();
  const loaded = loadConfigText(PUSH_TO_MEMORY.replace('  push: {}', '  pusher: {}').replace('[push]', '[pusher]'), 'pipeline.yaml', { env: {} });
  await loadDeclaredFactories(loaded, factories);
  assert.throws(
    () => planGraph(loaded, factories),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.message), ['pipeline.yaml:2:3: receivers::pusher: unknown receiver type "pusher"; known types: push']);
      return true;
    },
  );
  assert.deepEqual([...imports.keys()], ['memory']);
});

test('Service.create imports the factories its config declares', async () => {
  const { factories, imports } = deferred();
  const svc = await Service.create(loadConfigText(PUSH_TO_MEMORY, 'pipeline.yaml', { env: {} }), { factories, logger: silentLogger, telemetryAddress: '127.0.0.1:0' });
  await svc.shutdown();
  assert.deepEqual([...imports.keys()].sort(), ['memory', 'push']);
});

test('a loader whose module fails to import, or exports another factory, is an error naming it', async () => {
  const [push] = testFactories(recorder());
  const factories = new Factories([
    { kind: 'receiver', type: 'broken', load: () => Promise.reject(new Error("Cannot find package 'protobufjs'\nRequire stack: …")) },
    { kind: 'receiver', type: 'mislabelled', load: async () => ({ default: push }) },
  ]);
  await assert.rejects(factories.load('receiver', 'broken'), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_PLUGIN_LOAD');
    assert.equal(err.message, `plugin "built-in receiver/broken": cannot load: Cannot find package 'protobufjs'`);
    return true;
  });
  await assert.rejects(factories.load('receiver', 'mislabelled'), (err: unknown) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_PLUGIN_INVALID');
    assert.equal(err.message, 'plugin "built-in receiver/mislabelled": its factory is a receiver of type "push"');
    return true;
  });
});

test('a plugin that declares the type of a factory not yet imported is a duplicate, and nothing is imported', () => {
  const { factories, imports } = deferred();
  const [push] = testFactories(recorder());
  assert.throws(() => factories.register(push, './my-push.ts'), {
    code: 'SKEIN_ERR_PLUGIN_DUPLICATE',
    message: 'plugin "./my-push.ts": a receiver of type "push" is already registered by "built-in"',
  });
  assert.equal(imports.size, 0);
});
