/**
 * The `prometheusremotewrite` exporter: sends metrics to a Prometheus remote-write endpoint
 * (Prometheus, Mimir, Thanos, VictoriaMetrics) as snappy-compressed protobuf, remote write 1.0
 * or 2.0, through a bounded queue (in memory, or on disk with `queue.directory`) and parallel
 * shards that retry with backoff. See README.md and docs/bridge.md.
 */
import { defineExporter } from '@skein/core';
import { translate } from '@skein/prometheus-translation';
import { remoteWriteConfigProblems, RemoteWriteConfigSchema } from './config.ts';
import { createRemoteWriteExporter } from './exporter.ts';

export { RemoteWriteConfigSchema, remoteWriteConfigProblems, RESERVED_HEADERS, type RemoteWriteConfig } from './config.ts';
export { createRemoteWriteExporter, RemoteWriteMetricNames, PUSH_DURATION_BUCKETS, type RemoteWriteExporter, type TranslateFn } from './exporter.ts';
export { encodeRequest, requestBuilder, type Protocol, type RequestBuilder } from './encode.ts';
export { CONTENT_TYPE, PROTOCOL_VERSION, USER_AGENT } from './client.ts';
export { PersistentQueue, type PersistentQueueOptions, type RequestInput, type StoredRequest } from './persistent-queue.ts';
export { MemoryQueue, QueueFullError, type Queue, type QueueEntry } from './queue.ts';
export { formRequests, type FormedRequest, type RequestLimits } from './requests.ts';
export type { RemoteSeries, Label, Sample, NativeHistogram, BucketSpan, PromType } from './series.ts';

export default defineExporter({
  type: 'prometheusremotewrite',
  description: 'Sends metrics to a Prometheus remote-write endpoint (1.0, or 2.0) with shards, retries and an optional persistent queue.',
  stability: 'alpha',
  configSchema: RemoteWriteConfigSchema,
  validate: remoteWriteConfigProblems,
  create: (settings) => createRemoteWriteExporter(settings, translate),
});
