/**
 * One scrape config: its discovery (static and file SD), its targets after relabeling, and a
 * scrape loop per target. When the discovered groups change, new targets start, unchanged ones
 * carry on, and removed ones stop with stale markers for their series.
 */
import { formatDuration, parseDuration, type ComponentTelemetry, type Consumer, type Logger } from '@skein/core';
import { ScrapeClient } from './client.ts';
import { bodySizeLimit, scrapeTimeoutMs, type ScrapeConfig } from './config.ts';
import { FileDiscovery, staticGroups, type TargetGroup } from './discovery.ts';
import { compileRule } from './relabel.ts';
import { ScrapeLoop, type LoopContext } from './scrape-loop.ts';
import { buildTargets, type TargetSettings } from './targets.ts';
import { scrapeMetrics } from './telemetry.ts';

export class ScrapePool {
  readonly #sc: ScrapeConfig;
  readonly #logger: Logger;
  readonly #settings: TargetSettings;
  readonly #ctx: LoopContext;
  readonly #loops = new Map<string, ScrapeLoop>();
  readonly #groups: TargetGroup[][];
  readonly #files: FileDiscovery[] = [];
  #state: 'created' | 'running' | 'stopped' = 'created';
  /** Syncs run one after another, so loops are never started and stopped out of order. */
  #syncing: Promise<void> = Promise.resolve();

  constructor(sc: ScrapeConfig, opts: { receiverId: string; next: Consumer; logger: Logger; telemetry: ComponentTelemetry }) {
    this.#sc = sc;
    this.#logger = opts.logger.child({ job: sc.job_name });
    const intervalMs = parseDuration(sc.scrape_interval);
    const timeoutMs = scrapeTimeoutMs(sc);
    this.#settings = {
      jobName: sc.job_name,
      scheme: sc.scheme,
      metricsPath: sc.metrics_path,
      intervalMs,
      timeoutMs,
      intervalText: sc.scrape_interval,
      timeoutText: sc.scrape_timeout ?? formatDuration(timeoutMs),
      params: sc.params,
      relabel: sc.relabel_configs.map(compileRule),
    };
    this.#ctx = {
      receiverId: opts.receiverId,
      jobName: sc.job_name,
      client: new ScrapeClient(sc, bodySizeLimit(sc)),
      next: opts.next,
      logger: this.#logger,
      metrics: scrapeMetrics(opts.telemetry, sc.job_name),
      scraper: {
        shareAttributes: opts.next.mutatesData !== true,
        honorLabels: sc.honor_labels,
        honorTimestamps: sc.honor_timestamps,
        metricRelabel: sc.metric_relabel_configs.map(compileRule),
        limits: {
          sampleLimit: sc.sample_limit,
          labelLimit: sc.label_limit,
          labelNameLengthLimit: sc.label_name_length_limit,
          labelValueLengthLimit: sc.label_value_length_limit,
        },
      },
    };
    this.#groups = [staticGroups(sc.static_configs), ...sc.file_sd_configs.map(() => [])];
  }

  /** The targets being scraped, by URL (tests and logs). */
  targets(): string[] {
    return [...this.#loops.values()].map((l) => l.target.url);
  }

  async start(): Promise<void> {
    if (this.#state !== 'created') return;
    this.#state = 'running';
    this.#sc.file_sd_configs.forEach((fc, i) => {
      const d = new FileDiscovery({
        files: fc.files,
        refreshMs: parseDuration(fc.refresh_interval),
        logger: this.#logger,
        onChange: (groups) => {
          this.#groups[i + 1] = groups;
          void this.#sync();
        },
      });
      this.#files.push(d);
    });
    await Promise.all(this.#files.map((d) => d.start()));
    await this.#sync();
  }

  #sync(): Promise<void> {
    this.#syncing = this.#syncing.then(() => this.#apply());
    return this.#syncing;
  }

  async #apply(): Promise<void> {
    if (this.#state !== 'running') return;
    const { targets, dropped, errors } = buildTargets(this.#groups.flat(), this.#settings);
    for (const e of errors) this.#logger.error('a target cannot be scraped', { address: e.address, reason: e.reason });
    const wanted = new Map(targets.map((t) => [t.key, t]));
    const stopping: Promise<void>[] = [];
    for (const [key, loop] of this.#loops) {
      if (wanted.has(key)) continue;
      this.#loops.delete(key);
      stopping.push(loop.stop(true));
    }
    let started = 0;
    for (const [key, target] of wanted) {
      if (this.#loops.has(key)) continue;
      const loop = new ScrapeLoop(target, this.#ctx);
      this.#loops.set(key, loop);
      loop.start();
      started++;
    }
    this.#ctx.metrics.targets.set(this.#loops.size);
    if (started > 0 || stopping.length > 0) {
      this.#logger.info('targets updated', { targets: this.#loops.size, started, stopped: stopping.length, dropped_by_relabeling: dropped });
    }
    await Promise.all(stopping);
  }

  async shutdown(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    for (const d of this.#files) d.stop();
    if (wasRunning) await this.#syncing;
    await Promise.all([...this.#loops.values()].map((l) => l.stop(false)));
    this.#loops.clear();
    await this.#ctx.client.close();
  }
}
