/** Config checks reported before anything starts, and the wiring errors at start. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ConfigError, defineExtension, SkeinError, Type } from '@skein/core';
import { sinkExporter, sourceReceiver, startService } from '@skein/core/testing';
import thresholdStore from '@skein/extension-threshold-store';
import thresholdHeaders from '../src/index.ts';

/** An extension that is no threshold store. */
const plainExtension = defineExtension({
  type: 'plain',
  description: 'Does nothing (tests).',
  stability: 'development',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create: () => ({}),
});

function config(headers: string, extensions = 'threshold_store, threshold_headers') {
  return `extensions:
  threshold_store: {}
  plain: {}
  threshold_headers: ${headers}
receivers: {source: {}}
exporters: {sink: {}}
service:
  extensions: [${extensions}]
  pipelines:
    metrics: {receivers: [source], exporters: [sink]}
`;
}

function start(yaml: string) {
  return startService(yaml, [sourceReceiver().factory, sinkExporter().factory, thresholdStore, thresholdHeaders, plainExtension]);
}

async function configErrors(headers: string): Promise<string[]> {
  try {
    const service = await start(config(headers));
    await service.shutdown();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('the config was accepted');
}

test('header names, api_path and endpoint are checked, with their positions', async () => {
  assert.deepEqual(await configErrors('{store: threshold_store, threshold_header: "Ingero Threshold", quorum_header: x-q-bin}'), [
    'test.yaml:4:47: extensions::threshold_headers::threshold_header: must be a header name of lowercase letters, digits, "-", "_" and ".", got "Ingero Threshold"',
    'test.yaml:4:85: extensions::threshold_headers::quorum_header: must not end in "-bin" (gRPC reserves it for binary metadata), got "x-q-bin"',
  ]);
  assert.deepEqual(await configErrors('{store: threshold_store, threshold_header: grpc-threshold, quorum_header: ingero-threshold}'), [
    'test.yaml:4:47: extensions::threshold_headers::threshold_header: must not start with "grpc-" (reserved by gRPC), got "grpc-threshold"',
  ]);
  assert.deepEqual(await configErrors('{store: threshold_store, quorum_header: ingero-threshold}'), [
    'test.yaml:4:47: extensions::threshold_headers::quorum_header: must differ from threshold_header, got "ingero-threshold" for both',
  ]);
  assert.deepEqual(await configErrors('{store: threshold_store, api_path: "api/threshold?x=1"}'), [
    'test.yaml:4:47: extensions::threshold_headers::api_path: must be a URL path starting with "/", without "?", "#" or spaces, got "api/threshold?x=1"',
  ]);
  assert.deepEqual(await configErrors('{store: threshold_store, endpoint: "9000"}'), ['test.yaml:4:47: extensions::threshold_headers::endpoint: must be host:port, got "9000"']);
  assert.deepEqual(await configErrors('{}'), ['test.yaml:4:3: extensions::threshold_headers: missing required key "store"']);
});

test('a store that is no threshold store, or is not enabled, fails the start naming the key', async () => {
  await assert.rejects(start(config('{store: plain}', 'plain, threshold_headers')), (err: Error) => {
    assert.ok(err instanceof SkeinError);
    assert.equal(err.code, 'SKEIN_ERR_COMPONENT_START');
    assert.equal(err.message, 'extensions::threshold_headers: failed to start: extensions::threshold_headers::store: extension "plain" is not a threshold store');
    return true;
  });
  await assert.rejects(start(config('{store: threshold_store}', 'threshold_headers')), (err: Error) => {
    assert.ok(err instanceof SkeinError);
    assert.match(err.message, /^extensions::threshold_headers: failed to start: extension "threshold_store" is not enabled/);
    return true;
  });
});

test('an endpoint that cannot listen fails the start', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as { port: number };
  try {
    await assert.rejects(start(config(`{store: threshold_store, endpoint: "127.0.0.1:${port}"}`)), {
      message: `extensions::threshold_headers: failed to start: cannot serve the threshold API on 127.0.0.1:${port}: address already in use`,
    });
  } finally {
    taken.close();
  }
});
