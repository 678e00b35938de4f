/**
 * `drop_metrics`: removes the metrics whose name is listed or matches a pattern. An example of
 * a processor written outside core: this package's default export is all Skein needs.
 */
import { defineProcessor, type Metric } from '@skein/core';
import { DropMetricsConfigSchema } from './config.ts';

export default defineProcessor({
  type: 'drop_metrics',
  description: 'Drops metrics by exact name or by a regular expression on the name.',
  stability: 'development',
  configSchema: DropMetricsConfigSchema,
  create({ config, logger, telemetry }, next) {
    const names = new Set(config.names);
    const patterns = config.patterns.map((p) => {
      try {
        // Anchored, so `http_.*` does not also drop `xhttp_requests`.
        return new RegExp(`^(?:${p})$`);
      } catch (err) {
        throw new Error(`patterns: ${JSON.stringify(p)} is not a valid regular expression: ${(err as Error).message}`);
      }
    });
    if (names.size === 0 && patterns.length === 0) logger.warn('no names or patterns configured; nothing will be dropped');
    const dropped = telemetry
      .counter({
        name: 'skein_processor_drop_metrics_dropped_points_total',
        help: 'Data points a processor dropped on purpose, by reason.',
        labelNames: ['reason'],
      })
      .labels({ reason: 'filtered' });
    const drops = (m: Metric) => names.has(m.name) || patterns.some((re) => re.test(m.name));

    return {
      // It removes metrics from the batch it is given, so a shared batch must be copied for it.
      mutatesData: true,
      async consume(batch, ctx) {
        let removed = 0;
        for (const rm of batch.resourceMetrics) {
          for (const sm of rm.scopeMetrics) {
            sm.metrics = sm.metrics.filter((m) => {
              if (!drops(m)) return true;
              removed += m.points.length;
              return false;
            });
          }
          rm.scopeMetrics = rm.scopeMetrics.filter((sm) => sm.metrics.length > 0);
        }
        batch.resourceMetrics = batch.resourceMetrics.filter((rm) => rm.scopeMetrics.length > 0);
        if (removed > 0) dropped.inc(removed);
        // Nothing left: accepted, and there is nothing to pass on.
        if (batch.resourceMetrics.length === 0) return;
        await next.consume(batch, ctx);
      },
    };
  },
});
