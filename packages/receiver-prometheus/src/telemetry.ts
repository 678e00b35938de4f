/** The receiver's own metrics, per scrape config (`job`); the framework adds `receiver`. */
import { DURATION_BUCKETS, type ComponentTelemetry } from '@skein/core';

export const ScrapeMetricNames = {
  targets: 'skein_prometheus_targets',
  scrapes: 'skein_prometheus_scrapes_total',
  duration: 'skein_prometheus_scrape_duration_seconds',
  dropped: 'skein_prometheus_samples_dropped_total',
} as const;

export interface ScrapeMetrics {
  targets: { set(n: number): void };
  scrapes: { inc(n: number, labels: { result: string }): void };
  duration: { observe(seconds: number): void };
  dropped: { inc(n: number, labels: { reason: string }): void };
}

export function scrapeMetrics(telemetry: ComponentTelemetry, job: string): ScrapeMetrics {
  const targets = telemetry.gauge({ name: ScrapeMetricNames.targets, help: 'Targets being scraped.', labelNames: ['job'] });
  const scrapes = telemetry.counter({
    name: ScrapeMetricNames.scrapes,
    help: 'Scrapes, by result: ok, or why the target was down (timeout, network, http_<code>, invalid_exposition, sample_limit, …).',
    labelNames: ['job', 'result'],
  });
  const duration = telemetry.histogram({
    name: ScrapeMetricNames.duration,
    help: 'Time from the scrape request to the last byte of the body.',
    labelNames: ['job'],
    buckets: DURATION_BUCKETS,
  });
  const dropped = telemetry.counter({
    name: ScrapeMetricNames.dropped,
    help: 'Scraped samples not passed on, by reason (duplicate_series: a series given twice in one exposition; the first is kept).',
    labelNames: ['job', 'reason'],
  });
  const targetsChild = targets.labels({ job });
  const durationChild = duration.labels({ job });
  targetsChild.set(0);
  scrapes.labels({ job, result: 'ok' }).inc(0);
  return {
    targets: targetsChild,
    scrapes: { inc: (n, l) => scrapes.inc(n, { job, result: l.result }) },
    duration: durationChild,
    dropped: { inc: (n, l) => dropped.inc(n, { job, reason: l.reason }) },
  };
}
