/**
 * The `prometheus` exporter: translates what reaches it with `@skein/prometheus-translation`,
 * keeps the latest value of each series, and serves them at `GET /metrics` for Prometheus to
 * scrape. Reads the batch and never changes it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  defineExporter,
  nodeHttp,
  parseDuration,
  parseHostPort,
  formatHostPort,
  listen,
  type CreateSettings,
  type Exporter,
  type MetricsBatch,
} from '@skein/core';
import { translate, type TranslateOptions } from '@skein/prometheus-translation';
import { prometheusConfigProblems, PrometheusConfigSchema, type PrometheusConfig } from './config.ts';
import { OPENMETRICS_CONTENT_TYPE, openMetricsExposition, TEXT_CONTENT_TYPE, textExposition } from './exposition.ts';
import { SeriesStore } from './store.ts';

export { PrometheusConfigSchema, type PrometheusConfig } from './config.ts';

export const METRICS_PATH = '/metrics';

/** Reasons in `skein_exporter_prometheus_dropped_points_total` that the exporter adds to the translation's. */
export const ExporterDropReason = {
  /** Exponential histograms: the text formats cannot carry native histograms. */
  nativeHistogramUnsupported: 'native_histogram_unsupported',
  /** A family whose name another family of another type already holds. */
  typeConflict: 'type_conflict',
} as const;

export interface PrometheusExporter extends Exporter {
  /** Where `/metrics` is served once started (the real port when the config says 0). */
  readonly address: { host: string; port: number } | undefined;
}

/** How often expired series are swept from memory (a scrape also sweeps before it answers). */
function sweepPeriodMs(expirationMs: number): number {
  return Math.min(Math.max(expirationMs, 1000), 60_000);
}

export function createPrometheusExporter(settings: CreateSettings<PrometheusConfig>): PrometheusExporter {
  const { config, logger, telemetry } = settings;
  const expirationMs = parseDuration(config.metric_expiration);
  const options: TranslateOptions = {
    addMetricSuffixes: config.add_metric_suffixes,
    resourceToTelemetryConversion: config.resource_to_telemetry_conversion,
    externalLabels: config.const_labels,
  };
  const store = new SeriesStore();

  const dropped = telemetry.counter({
    name: 'skein_exporter_prometheus_dropped_points_total',
    help: 'Data points the prometheus exporter could not serve, by reason.',
    labelNames: ['reason'],
  });
  const seriesGauge = telemetry.gauge({
    name: 'skein_exporter_prometheus_series',
    help: 'Series the prometheus exporter currently serves.',
  });
  const expired = telemetry.counter({
    name: 'skein_exporter_prometheus_expired_series_total',
    help: 'Series the prometheus exporter stopped serving because they were not updated within metric_expiration.',
  });
  seriesGauge.set(0);

  const warned = new Set<string>();
  const drop = (reason: string, n: number) => {
    if (n <= 0) return;
    dropped.inc(n, { reason });
    // Once per reason: the counter tells how many, the log tells an operator why.
    if (!warned.has(reason)) {
      warned.add(reason);
      logger.warn('data points dropped; counted in skein_exporter_prometheus_dropped_points_total from now on', { reason, points: n });
    }
  };

  const sweep = () => {
    const n = store.expire(performance.now() - expirationMs);
    if (n > 0) expired.inc(n);
    seriesGauge.set(store.size);
  };

  let server: Server | undefined;
  let bound: { host: string; port: number } | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== METRICS_PATH) return reply(req, res, 404, 'text/plain; charset=utf-8', `not found: metrics are served on ${METRICS_PATH}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return reply(req, res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed: use GET or HEAD\n`);
    }
    sweep();
    const openMetrics = config.enable_open_metrics && (req.headers.accept ?? '').includes('application/openmetrics-text');
    const families = store.families();
    if (openMetrics) reply(req, res, 200, OPENMETRICS_CONTENT_TYPE, openMetricsExposition(families));
    else reply(req, res, 200, TEXT_CONTENT_TYPE, textExposition(families));
  };

  return {
    mutatesData: false,

    get address() {
      return bound;
    },

    async consume(batch: MetricsBatch): Promise<void> {
      const result = translate(batch, options);
      for (const [reason, n] of Object.entries(result.dropped)) drop(reason, n);
      const refused = store.apply(result.series, performance.now());
      drop(ExporterDropReason.nativeHistogramUnsupported, refused.nativeHistograms);
      drop(ExporterDropReason.typeConflict, refused.typeConflicts);
      seriesGauge.set(store.size);
    },

    async start() {
      const { host, port } = parseHostPort(config.endpoint);
      const s = nodeHttp.createServer(answer);
      await listen(s, { host, port, what: 'metrics' });
      s.on('error', (err) => logger.error('prometheus exporter server error', { err }));
      server = s;
      const info = s.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      sweeper = setInterval(sweep, sweepPeriodMs(expirationMs));
      sweeper.unref();
      logger.info('serving metrics for scraping', { url: `http://${formatHostPort(info.address, info.port)}${METRICS_PATH}` });
    },

    shutdown() {
      clearInterval(sweeper);
      sweeper = undefined;
      const s = server;
      if (!s) return closing;
      server = undefined;
      bound = undefined;
      closing = new Promise<void>((resolve) => {
        s.close(() => resolve());
        // close() waits for open connections; a scraper's keep-alive socket would hold it forever.
        s.closeAllConnections();
      });
      return closing;
    },
  };
}

function reply(req: IncomingMessage, res: ServerResponse, code: number, type: string, text: string): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export const prometheusExporter = defineExporter({
  type: 'prometheus',
  description: 'Serves the latest value of every series at /metrics in the Prometheus text format, for Prometheus to scrape.',
  stability: 'alpha',
  configSchema: PrometheusConfigSchema,
  validate: prometheusConfigProblems,
  create: (settings) => createPrometheusExporter(settings),
});

export default prometheusExporter;
