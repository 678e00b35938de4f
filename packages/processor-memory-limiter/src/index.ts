/**
 * The `memory_limiter` processor: measures the V8 heap every `check_interval` and, while heap
 * used is at or over the soft limit (the limit minus the spike headroom), refuses data with a
 * retryable error so senders back off instead of the process running out of memory. At or
 * over the hard limit it also forces a garbage collection when Node runs with `--expose-gc`.
 * Put it first in a pipeline: refusing before anything is buffered is what frees memory.
 */
import { getHeapStatistics } from 'node:v8';
import {
  ConfigError,
  configIssue,
  defineProcessor,
  parseDuration,
  retryableError,
  type ConfigProblem,
  type Consumer,
  type CreateSettings,
  type Processor,
} from '@skein/core';
import { MemoryLimiterConfigSchema, type MemoryLimiterConfig } from './config.ts';

export { MemoryLimiterConfigSchema, type MemoryLimiterConfig } from './config.ts';

const MIB = 2 ** 20;
/** The spike headroom when none is configured, as a share of the limit (the Collector's default). */
const DEFAULT_SPIKE_SHARE = 0.2;

/** Where the limiter reads memory from; tests substitute their own. */
export interface MemoryProbe {
  /** Bytes of V8 heap in use now. */
  readHeapUsed(): number;
  /** V8's heap size limit in bytes: the base of the percentage limits. */
  heapSizeLimit(): number;
  /** Runs a full garbage collection; false when it is not available (no `--expose-gc`). */
  collectGarbage(): boolean;
}

export const processMemoryProbe: MemoryProbe = {
  readHeapUsed: () => process.memoryUsage().heapUsed,
  heapSizeLimit: () => getHeapStatistics().heap_size_limit,
  collectGarbage: () => {
    if (typeof globalThis.gc !== 'function') return false;
    globalThis.gc();
    return true;
  },
};

export interface MemoryLimits {
  hardLimitBytes: number;
  softLimitBytes: number;
  checkIntervalMs: number;
}

/** The rules between keys that a schema cannot state; the factory's `validate` reports them. */
export function memoryLimiterConfigProblems(config: MemoryLimiterConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (key: string | undefined, message: string) => problems.push(key ? { path: [key], message } : { message });
  const { limit_mib, spike_limit_mib, limit_percentage, spike_limit_percentage } = config;
  if (parseDuration(config.check_interval) <= 0) problem('check_interval', `must be longer than 0, got ${JSON.stringify(config.check_interval)}`);
  if (limit_mib === undefined && limit_percentage === undefined) {
    problem(undefined, 'set limit_mib or limit_percentage');
  } else if (limit_mib !== undefined && limit_percentage !== undefined) {
    problem(undefined, 'set limit_mib or limit_percentage, not both');
  } else if (limit_mib !== undefined) {
    if (spike_limit_percentage !== undefined) {
      problem('spike_limit_percentage', 'applies only with limit_percentage; with limit_mib use spike_limit_mib');
    }
    if (spike_limit_mib !== undefined && spike_limit_mib >= limit_mib) {
      problem('spike_limit_mib', `must be less than limit_mib (${limit_mib}), got ${spike_limit_mib}`);
    }
  } else {
    if (spike_limit_mib !== undefined) {
      problem('spike_limit_mib', 'applies only with limit_mib; with limit_percentage use spike_limit_percentage');
    }
    if (spike_limit_percentage !== undefined && spike_limit_percentage >= limit_percentage!) {
      problem('spike_limit_percentage', `must be less than limit_percentage (${limit_percentage}), got ${spike_limit_percentage}`);
    }
  }
  return problems;
}

/** The limits a config gives; throws a ConfigError when it breaks a rule (for callers that skip `validate`). */
export function memoryLimits(id: string, config: MemoryLimiterConfig, heapSizeLimit: () => number): MemoryLimits {
  const problems = memoryLimiterConfigProblems(config);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => configIssue(undefined, ['processors', id, ...(p.path ?? [])], 'SKEIN_ERR_CONFIG_INVALID', p.message)));
  }
  let hard: number;
  let spike: number;
  if (config.limit_mib !== undefined) {
    hard = config.limit_mib * MIB;
    spike = config.spike_limit_mib !== undefined ? config.spike_limit_mib * MIB : hard * DEFAULT_SPIKE_SHARE;
  } else {
    const total = heapSizeLimit();
    hard = Math.floor((total * config.limit_percentage!) / 100);
    const spikePct = config.spike_limit_percentage;
    spike = spikePct !== undefined ? Math.floor((total * spikePct) / 100) : hard * DEFAULT_SPIKE_SHARE;
  }
  return { hardLimitBytes: hard, softLimitBytes: Math.floor(hard - spike), checkIntervalMs: parseDuration(config.check_interval) };
}

export interface MemoryLimiter extends Processor {
  readonly limits: MemoryLimits;
  /** Whether data is being refused, as of the last check. */
  readonly refusing: boolean;
  /** Measures the heap now and updates `refusing`; `start()` calls it, then every check_interval. */
  check(): void;
}

const mib = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;

/** The processor, reading memory from `probe` (the factory passes the process's). */
export function createMemoryLimiter(
  settings: CreateSettings<MemoryLimiterConfig>,
  next: Consumer,
  probe: MemoryProbe = processMemoryProbe,
): MemoryLimiter {
  const limits = memoryLimits(settings.id, settings.config, () => probe.heapSizeLimit());
  const { hardLimitBytes, softLimitBytes, checkIntervalMs } = limits;
  const { logger, telemetry } = settings;

  const refusingGauge = telemetry.gauge({
    name: 'skein_memory_limiter_refusing',
    help: 'Whether the memory limiter refuses data (1) because heap used is over its soft limit, or not (0).',
  });
  const limitGauge = telemetry.gauge({
    name: 'skein_memory_limiter_limit_bytes',
    help: 'The memory limiter\'s limits on heap used: "soft" refuses data, "hard" also forces garbage collection.',
    labelNames: ['limit'],
  });
  refusingGauge.set(0);
  limitGauge.set(softLimitBytes, { limit: 'soft' });
  limitGauge.set(hardLimitBytes, { limit: 'hard' });

  let refusing = false;
  let heapUsed = 0;
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    heapUsed = probe.readHeapUsed();
    if (heapUsed >= hardLimitBytes && probe.collectGarbage()) heapUsed = probe.readHeapUsed();
    const over = heapUsed >= softLimitBytes;
    if (over === refusing) return;
    refusing = over;
    refusingGauge.set(over ? 1 : 0);
    const fields = { heapUsedMiB: mib(heapUsed), softLimitMiB: mib(softLimitBytes), hardLimitMiB: mib(hardLimitBytes) };
    if (over) logger.warn('heap used is over the soft limit; refusing data until it falls below', fields);
    else logger.info('heap used is below the soft limit again; accepting data', fields);
  };

  return {
    mutatesData: false,
    limits,
    get refusing() {
      return refusing;
    },
    check,

    async consume(batch, ctx) {
      if (refusing) {
        throw retryableError(
          `heap used (${mib(heapUsed)} MiB) is over the memory limiter's soft limit (${mib(softLimitBytes)} MiB); retry later`,
          { code: 'SKEIN_ERR_MEMORY_LIMIT', reason: 'memory_limit', retryAfterMs: checkIntervalMs },
        );
      }
      return next.consume(batch, ctx);
    },

    start() {
      if (timer) return;
      check();
      timer = setInterval(check, checkIntervalMs);
      // Measuring must not keep the process alive.
      timer.unref();
    },

    shutdown() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

export const memoryLimiterProcessor = defineProcessor({
  type: 'memory_limiter',
  description: 'Refuses data with a retryable error while heap used is over a limit, so senders back off.',
  stability: 'alpha',
  configSchema: MemoryLimiterConfigSchema,
  validate: memoryLimiterConfigProblems,
  create: (settings, next) => createMemoryLimiter(settings, next),
});

export default memoryLimiterProcessor;
