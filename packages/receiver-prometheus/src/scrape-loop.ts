/**
 * One target's scrape loop: scrapes at a fixed phase of the interval (hash of the target, so a
 * thousand targets do not all fire at once), never two scrapes of a target at a time, one
 * timestamp per scrape, and the scrape, its report series and its stale markers pushed as one
 * batch.
 */
import { internalContext, type Consumer, type Logger, type MetricsBatch } from '@skein/core';
import { FetchError, type ScrapeClient } from './client.ts';
import { formatOf } from './parse.ts';
import { ScrapeError, TargetScraper, type ScrapeResult, type TargetScraperOptions } from './scrape-target.ts';
import type { Target } from './targets.ts';
import type { ScrapeMetrics } from './telemetry.ts';

export interface LoopContext {
  receiverId: string;
  jobName: string;
  client: ScrapeClient;
  next: Consumer;
  logger: Logger;
  metrics: ScrapeMetrics;
  scraper: Omit<TargetScraperOptions, 'targetLabels'>;
}

/**
 * Points per batch a scrape is pushed in: the remote-write exporter's default request size, so
 * the pipeline holds one request's worth of a scrape at a time whatever the target's size.
 */
export const BATCH_POINTS = 2000;

/** FNV-1a of a string, unsigned 32-bit. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The first time after `now` (ms) that is `offset` past a multiple of `interval`. */
export function nextSlot(now: number, offset: number, interval: number): number {
  const phase = (((now - offset) % interval) + interval) % interval;
  return now - phase + interval;
}

export class ScrapeLoop {
  readonly target: Target;
  readonly #ctx: LoopContext;
  readonly #scraper: TargetScraper;
  readonly #offset: number;
  /** `host:port`, the request context's peer. */
  readonly #peer: string;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastSlot = -Infinity;
  #stopped = false;
  #up: boolean | undefined;

  constructor(target: Target, ctx: LoopContext) {
    this.target = target;
    this.#ctx = ctx;
    this.#scraper = new TargetScraper({ ...ctx.scraper, targetLabels: target.labels });
    this.#offset = fnv1a(target.key) % target.intervalMs;
    this.#peer = new URL(target.url).host;
  }

  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    const now = Date.now();
    let slot = nextSlot(now, this.#offset, this.target.intervalMs);
    // A timer that fires a little early must not scrape the same slot twice.
    while (slot <= this.#lastSlot) slot += this.target.intervalMs;
    this.#lastSlot = slot;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#scrapeOnce().finally(() => {
        this.#running = undefined;
        this.#schedule();
      });
    }, slot - now);
    this.#timer.unref();
  }

  /** One scrape: fetch, parse, push (in batches), report. */
  async #scrapeOnce(): Promise<void> {
    const { client, metrics, logger } = this.#ctx;
    const timestampMs = Date.now();
    const t0 = performance.now();
    let failure: Error | undefined;
    let fetched;
    try {
      fetched = await client.fetch(this.target.url, this.target.timeoutMs, this.#stop.signal);
    } catch (err) {
      if (err instanceof FetchError && err.reason === 'stopped') return;
      failure = err as Error;
    }
    const durationSeconds = (performance.now() - t0) / 1000;
    metrics.duration.observe(durationSeconds);

    let result: ScrapeResult | undefined;
    if (fetched !== undefined) {
      try {
        result = this.#scraper.scrape(fetched.body, formatOf(fetched.contentType), timestampMs);
        if (result.duplicates > 0) {
          metrics.dropped.inc(result.duplicates, { reason: 'duplicate_series' });
          logger.debug('samples of a series already seen in the same scrape were dropped', { target: this.target.url, samples: result.duplicates });
        }
      } catch (err) {
        failure = err as Error;
      }
    }
    const up = failure === undefined;
    metrics.scrapes.inc(1, { result: up ? 'ok' : reasonOf(failure!) });
    if (up !== this.#up || (!up && logger.isLevelEnabled('debug'))) {
      if (up) {
        if (this.#up === false) logger.info('target is up again', { job: this.#ctx.jobName, target: this.target.url });
      } else {
        logger.warn('scrape failed; the target is down (up = 0)', { job: this.#ctx.jobName, target: this.target.url, reason: reasonOf(failure!), error: failure!.message });
      }
      this.#up = up;
    }
    const report = {
      up,
      durationSeconds,
      scraped: result?.scraped ?? 0,
      postRelabel: result?.postRelabel ?? 0,
      seriesAdded: result?.seriesAdded ?? 0,
    };
    let refused: unknown;
    if (result === undefined) {
      const batch = this.#scraper.fail(timestampMs);
      this.#scraper.report(batch, timestampMs, report);
      refused = await this.#push(batch);
    } else {
      // A batch at a time, the report series in the last, so a scrape is never all in memory at once.
      for (const batch of result.batches(BATCH_POINTS, (last) => this.#scraper.report(last, timestampMs, report))) {
        refused = (await this.#push(batch)) ?? refused;
      }
    }
    // Counted by the framework (skein_receiver_refused_points_total); a scrape is not retried.
    if (refused !== undefined) this.#ctx.logger.warn('the pipeline refused (part of) a scrape', { job: this.#ctx.jobName, target: this.target.url, err: refused });
  }

  /** Pushes one batch; the refusal, if the pipeline refused it. */
  async #push(batch: MetricsBatch): Promise<unknown> {
    const ctx = internalContext(this.#ctx.receiverId, 'scrape');
    ctx.peer = this.#peer;
    try {
      await this.#ctx.next.consume(batch, ctx);
      return undefined;
    } catch (err) {
      return err;
    }
  }

  /**
   * Stops the loop. The scrape in flight, if any, is abandoned (its request aborted) or, if it
   * is already being pushed, waited for. With `stale`, the target's series and report series
   * get stale markers: the target went away.
   */
  async stop(stale: boolean): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#stop.abort();
    await this.#running;
    if (!stale) return;
    const batch = this.#scraper.end(Date.now());
    const refused = batch === undefined ? undefined : await this.#push(batch);
    if (refused !== undefined) this.#ctx.logger.warn('the pipeline refused the stale markers of a removed target', { job: this.#ctx.jobName, target: this.target.url, err: refused });
  }
}

function reasonOf(err: Error): string {
  if (err instanceof FetchError || err instanceof ScrapeError) return err.reason;
  if (err.name === 'ExpositionError' || err.name === 'SeriesSyntaxError') return 'invalid_exposition';
  return 'error';
}
