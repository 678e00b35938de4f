/**
 * The `prometheus` receiver: scrapes Prometheus `/metrics` endpoints (text format 0.0.4 and
 * OpenMetrics 1.0) with Prometheus's scrape semantics (relabeling, `up` and the `scrape_*`
 * series, `job`/`instance`, honor_labels, stale markers, limits) and passes each scrape on as
 * one batch that the remote-write exporter turns back into exactly the scraped series. See
 * README.md and docs/bridge.md.
 */
import { defineReceiver } from '@skein/core';
import { configProblems, PrometheusReceiverConfigSchema } from './config.ts';
import { ScrapePool } from './scrape-pool.ts';

export { PrometheusReceiverConfigSchema, configProblems, type PrometheusReceiverConfig, type ScrapeConfig } from './config.ts';
export { parseExposition, parseSeries, ExpositionError, formatOf, type ExpositionFormat, type ExpositionHandler, type FamilyType } from './parse.ts';
export { compileRule, relabel, expand, hashmod, type RelabelRule, type LabelSet } from './relabel.ts';
export { TargetScraper, ScrapeError, SCOPE_NAME, REPORT_SERIES, type ScrapeResult } from './scrape-target.ts';
export { ACCEPT_HEADER } from './client.ts';
export { ScrapeMetricNames } from './telemetry.ts';

export default defineReceiver({
  type: 'prometheus',
  description: 'Scrapes Prometheus /metrics endpoints (text and OpenMetrics) with Prometheus scrape semantics, for lossless federation.',
  stability: 'alpha',
  configSchema: PrometheusReceiverConfigSchema,
  validate: configProblems,
  create({ id, config, logger, telemetry }, next) {
    const pools = config.scrape_configs.map((sc) => new ScrapePool(sc, { receiverId: id, next, logger, telemetry }));
    return {
      async start() {
        await Promise.all(pools.map((p) => p.start()));
      },
      async shutdown() {
        await Promise.all(pools.map((p) => p.shutdown()));
      },
    };
  },
});
