/**
 * The heartbeat receiver emits one gauge, `skein.heartbeat` = 1, every `interval`: a source
 * that needs no outside service, for liveness checks downstream and for demo pipelines.
 */
import { defineReceiver, gauge, internalContext, metricsBatch, numberPoint, parseDuration, type MetricsBatch } from '@skein/core';
import { HeartbeatConfigSchema } from './config.ts';

export const HEARTBEAT_METRIC = 'skein.heartbeat';
const SCOPE = '@skein/receiver-heartbeat';

function heartbeatBatch(): MetricsBatch {
  return metricsBatch([
    {
      resource: { 'service.name': 'skein' },
      scope: SCOPE,
      metrics: [gauge(HEARTBEAT_METRIC, [numberPoint(1)], { description: 'Always 1 while Skein runs.', unit: '1' })],
    },
  ]);
}

export default defineReceiver({
  type: 'heartbeat',
  description: 'Emits the gauge skein.heartbeat = 1 at a fixed interval (a liveness and demo source).',
  stability: 'beta',
  configSchema: HeartbeatConfigSchema,
  create({ id, config, logger }, next) {
    const intervalMs = parseDuration(config.interval);
    if (!(intervalMs > 0)) throw new Error(`interval must be more than 0s, got "${config.interval}"`);
    let timer: NodeJS.Timeout | undefined;
    let inFlight: Promise<void> | undefined;

    const beat = () => {
      // One beat at a time: if the pipeline is still busy with the last one, this one is not made.
      if (inFlight) {
        logger.debug('previous heartbeat still in flight; skipping this one');
        return;
      }
      inFlight = next
        .consume(heartbeatBatch(), internalContext(id))
        .catch((err: unknown) => logger.warn('heartbeat refused', { err }))
        .finally(() => {
          inFlight = undefined;
        });
    };

    return {
      start() {
        timer ??= setInterval(beat, intervalMs);
      },
      async shutdown() {
        clearInterval(timer);
        timer = undefined;
        await inFlight;
      },
    };
  },
});
