/**
 * The default distribution: the built-in components every `skein` command knows. Anything
 * else comes in through `plugins:` or `--plugin`.
 */
import forwardConnector from '@skein/connector-forward';
import type { Factory } from '@skein/core';
import debugExporter from '@skein/exporter-debug';
import healthCheckExtension from '@skein/extension-health-check';
import batchProcessor from '@skein/processor-batch';
import memoryLimiterProcessor from '@skein/processor-memory-limiter';
import heartbeatReceiver from '@skein/receiver-heartbeat';

/** Each built-in factory with the package that provides it (the docs generator needs both). */
export const builtins: readonly { packageName: string; factory: Factory }[] = [
  { packageName: '@skein/receiver-heartbeat', factory: heartbeatReceiver },
  { packageName: '@skein/processor-batch', factory: batchProcessor },
  { packageName: '@skein/processor-memory-limiter', factory: memoryLimiterProcessor },
  { packageName: '@skein/exporter-debug', factory: debugExporter },
  { packageName: '@skein/connector-forward', factory: forwardConnector },
  { packageName: '@skein/extension-health-check', factory: healthCheckExtension },
];

/** The built-in factories, ready for `new Factories(...)`. */
export function builtinFactories(): Factory[] {
  return builtins.map((b) => b.factory);
}
