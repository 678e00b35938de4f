/**
 * The default distribution: the built-in components every `skein` command knows. Anything
 * else comes in through `plugins:` or `--plugin`.
 */
import forwardConnector from '@skein/connector-forward';
import type { Factory } from '@skein/core';
import debugExporter from '@skein/exporter-debug';
import prometheusExporter from '@skein/exporter-prometheus';
import prometheusRemoteWriteExporter from '@skein/exporter-prometheusremotewrite';
import bearerAuthExtension from '@skein/extension-bearer-auth';
import healthCheckExtension from '@skein/extension-health-check';
import probesExtension from '@skein/extension-probes';
import thresholdHeadersExtension from '@skein/extension-threshold-headers';
import thresholdStoreExtension from '@skein/extension-threshold-store';
import batchProcessor from '@skein/processor-batch';
import memoryLimiterProcessor from '@skein/processor-memory-limiter';
import thresholdProcessor from '@skein/processor-threshold';
import heartbeatReceiver from '@skein/receiver-heartbeat';
import httpCheckReceiver from '@skein/receiver-httpcheck';
import otlpReceiver from '@skein/receiver-otlp';
import prometheusReceiver from '@skein/receiver-prometheus';
import tcpCheckReceiver from '@skein/receiver-tcpcheck';

/** Each built-in factory with the package that provides it (the docs generator needs both). */
export const builtins: readonly { packageName: string; factory: Factory }[] = [
  { packageName: '@skein/receiver-heartbeat', factory: heartbeatReceiver },
  { packageName: '@skein/receiver-otlp', factory: otlpReceiver },
  { packageName: '@skein/receiver-tcpcheck', factory: tcpCheckReceiver },
  { packageName: '@skein/receiver-httpcheck', factory: httpCheckReceiver },
  { packageName: '@skein/receiver-prometheus', factory: prometheusReceiver },
  { packageName: '@skein/processor-batch', factory: batchProcessor },
  { packageName: '@skein/processor-memory-limiter', factory: memoryLimiterProcessor },
  { packageName: '@skein/processor-threshold', factory: thresholdProcessor },
  { packageName: '@skein/exporter-debug', factory: debugExporter },
  { packageName: '@skein/exporter-prometheus', factory: prometheusExporter },
  { packageName: '@skein/exporter-prometheusremotewrite', factory: prometheusRemoteWriteExporter },
  { packageName: '@skein/connector-forward', factory: forwardConnector },
  { packageName: '@skein/extension-health-check', factory: healthCheckExtension },
  { packageName: '@skein/extension-probes', factory: probesExtension },
  { packageName: '@skein/extension-bearer-auth', factory: bearerAuthExtension },
  { packageName: '@skein/extension-threshold-store', factory: thresholdStoreExtension },
  { packageName: '@skein/extension-threshold-headers', factory: thresholdHeadersExtension },
];

/** The built-in factories, ready for `new Factories(...)`. */
export function builtinFactories(): Factory[] {
  return builtins.map((b) => b.factory);
}
