/**
 * The `batch` processor: gathers data points into bigger batches, sent when `send_batch_size`
 * points are waiting or `timeout` after the first one arrived, and split so none is bigger than
 * `send_batch_max_size`.
 *
 * `consume` resolves once the data is buffered (as the OpenTelemetry Collector's batch
 * processor does), so a later refusal downstream can no longer reach the sender: it is logged
 * and counted in `skein_processor_batch_dropped_points_total`. What is held is bounded by
 * `max_pending_points`; past it, `consume` refuses with a retryable error.
 *
 * Batches of different clusters (`ctx.clusterId`) are never merged. A merged batch carries the
 * request context of its first part, without its `signal`: that request was answered long ago.
 */
import {
  ConfigError,
  configIssue,
  countDataPoints,
  defineProcessor,
  parseDuration,
  refusalReason,
  retryableError,
  type ConfigProblem,
  type Consumer,
  type CreateSettings,
  type MetricsBatch,
  type Processor,
  type RequestContext,
  type ResourceMetrics,
} from '@skein/core';
import { BatchConfigSchema, type BatchConfig } from './config.ts';
import { pointsInResource, splitResources } from './split.ts';

export { BatchConfigSchema, type BatchConfig } from './config.ts';

/** What made a batch go: enough points, the timeout, or shutdown draining. */
type Trigger = 'size' | 'timeout' | 'shutdown';

/** Point counts of sent batches: around the 8192 default and its usual alternatives. */
const SEND_SIZE_BUCKETS = [10, 100, 500, 1000, 2000, 4000, 8192, 16384, 32768, 65536, 131072];

/** Data waiting to be sent for one cluster. */
interface Pending {
  clusterId: string | undefined;
  /** The context of the first batch buffered since this cluster's buffer was last empty. */
  ctx: RequestContext | undefined;
  resources: ResourceMetrics[];
  /** Points in each of `resources`. */
  counts: number[];
  points: number;
  timer: NodeJS.Timeout | undefined;
  /** This cluster's sends, one at a time so downstream sees its points in arrival order. */
  sending: Promise<void>;
  /** Batches cut for this cluster and not yet answered downstream. */
  unanswered: number;
}

/** Limits derived from the config; create() has checked them. */
export interface BatchLimits {
  sendBatchSize: number;
  /** 0: no limit. */
  sendBatchMaxSize: number;
  timeoutMs: number;
  maxPendingPoints: number;
}

/** The rules between keys that a schema cannot state; the factory's `validate` reports them. */
export function batchConfigProblems(config: BatchConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const size = config.send_batch_size;
  if (config.send_batch_max_size !== 0 && config.send_batch_max_size < size) {
    problems.push({
      path: ['send_batch_max_size'],
      message: `must be 0 (no limit) or at least send_batch_size (${size}), got ${config.send_batch_max_size}`,
    });
  }
  if (config.max_pending_points !== undefined && config.max_pending_points < size) {
    problems.push({ path: ['max_pending_points'], message: `must be at least send_batch_size (${size}), got ${config.max_pending_points}` });
  }
  return problems;
}

/** The limits a config gives; throws a ConfigError when it breaks a rule (for callers that skip `validate`). */
export function batchLimits(id: string, config: BatchConfig): BatchLimits {
  const problems = batchConfigProblems(config);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => configIssue(undefined, ['processors', id, ...(p.path ?? [])], 'SKEIN_ERR_CONFIG_INVALID', p.message)));
  }
  return {
    sendBatchSize: config.send_batch_size,
    sendBatchMaxSize: config.send_batch_max_size,
    timeoutMs: parseDuration(config.timeout),
    maxPendingPoints: config.max_pending_points ?? 10 * config.send_batch_size,
  };
}

export function createBatchProcessor(settings: CreateSettings<BatchConfig>, next: Consumer): Processor {
  const limits = batchLimits(settings.id, settings.config);
  const { sendBatchSize, sendBatchMaxSize, timeoutMs, maxPendingPoints } = limits;
  const { logger, telemetry } = settings;

  const pendingGauge = telemetry.gauge({
    name: 'skein_processor_batch_pending_points',
    help: 'Data points the batch processor holds: waiting for their batch, or sent and not yet answered.',
  });
  const batches = telemetry.counter({
    name: 'skein_processor_batch_batches_total',
    help: 'Batches the batch processor sent, by what triggered them (size, timeout, shutdown).',
    labelNames: ['trigger'],
  });
  const sendSize = telemetry.histogram({
    name: 'skein_processor_batch_send_size_points',
    help: 'Data points in each batch the batch processor sent.',
    buckets: SEND_SIZE_BUCKETS,
  });
  const dropped = telemetry.counter({
    name: 'skein_processor_batch_dropped_points_total',
    help: 'Data points the batch processor had accepted and then lost because downstream refused them, by reason.',
    labelNames: ['reason'],
  });
  pendingGauge.set(0);

  const clusters = new Map<string | undefined, Pending>();
  let held = 0;
  let closed = false;
  let drained: Promise<void> | undefined;

  const setHeld = (delta: number) => {
    held += delta;
    pendingGauge.set(held);
  };

  const forgetIfIdle = (p: Pending) => {
    if (p.points === 0 && p.unanswered === 0 && p.timer === undefined) clusters.delete(p.clusterId);
  };

  /** Cuts the first `n` points off a cluster's buffer and queues them for sending. */
  const cut = (p: Pending, n: number, trigger: Trigger) => {
    const ctx = p.ctx!;
    let resources: ResourceMetrics[];
    if (n >= p.points) {
      resources = p.resources;
      n = p.points;
      p.resources = [];
      p.counts = [];
    } else {
      const split = splitResources(p.resources, p.counts, n);
      resources = split.head;
      p.resources = split.tail;
      p.counts = split.tailCounts;
    }
    p.points -= n;
    if (p.points === 0) {
      // Metrics without points may trail the last cut; they would only start an empty batch.
      p.resources = [];
      p.counts = [];
      p.ctx = undefined;
    }
    batches.inc(1, { trigger });
    sendSize.observe(n);
    p.unanswered += 1;
    const batch: MetricsBatch = { resourceMetrics: resources };
    p.sending = p.sending.then(async () => {
      try {
        await next.consume(batch, ctx);
      } catch (err) {
        const reason = refusalReason(err);
        dropped.inc(n, { reason });
        logger.warn('downstream refused a batch that was already accepted; its data points are dropped', {
          points: n,
          reason,
          clusterId: ctx.clusterId,
          err,
        });
      } finally {
        setHeld(-n);
        p.unanswered -= 1;
        forgetIfIdle(p);
      }
    });
  };

  /** Sends everything a cluster holds, in batches of at most send_batch_max_size. */
  const cutAll = (p: Pending, trigger: Trigger) => {
    while (p.points > 0) cut(p, sendBatchMaxSize || p.points, trigger);
  };

  const stopTimer = (p: Pending) => {
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
  };

  const onTimeout = (p: Pending) => {
    p.timer = undefined;
    cutAll(p, 'timeout');
    forgetIfIdle(p);
  };

  return {
    mutatesData: false,

    async consume(batch, ctx) {
      if (closed) throw retryableError('the batch processor is shut down; retry later', { reason: 'shutdown' });
      const n = countDataPoints(batch);
      if (n === 0) return;
      // A batch bigger than the bound alone is still taken when nothing is held, or it could never be.
      if (held > 0 && held + n > maxPendingPoints) {
        throw retryableError(
          `the batch processor holds ${held} data points; ${n} more would pass max_pending_points (${maxPendingPoints}); retry later`,
          { reason: 'queue_full' },
        );
      }

      let p = clusters.get(ctx.clusterId);
      if (!p) {
        p = {
          clusterId: ctx.clusterId,
          ctx: undefined,
          resources: [],
          counts: [],
          points: 0,
          timer: undefined,
          sending: Promise.resolve(),
          unanswered: 0,
        };
        clusters.set(ctx.clusterId, p);
      }
      if (p.points === 0) {
        const { signal: _answered, ...rest } = ctx;
        p.ctx = rest;
      }
      for (const rm of batch.resourceMetrics) {
        p.resources.push(rm);
        p.counts.push(pointsInResource(rm));
      }
      p.points += n;
      setHeld(n);

      if (timeoutMs === 0) {
        cutAll(p, 'timeout');
      } else {
        while (p.points >= sendBatchSize) cut(p, sendBatchMaxSize ? Math.min(sendBatchMaxSize, p.points) : p.points, 'size');
      }
      if (p.points === 0) {
        stopTimer(p);
      } else if (!p.timer) {
        p.timer = setTimeout(onTimeout, timeoutMs, p);
        // Batching must not keep the process alive; shutdown sends what is left.
        p.timer.unref();
      }
    },

    shutdown() {
      drained ??= (async () => {
        closed = true;
        const sends: Promise<void>[] = [];
        for (const p of clusters.values()) {
          stopTimer(p);
          cutAll(p, 'shutdown');
          sends.push(p.sending);
        }
        await Promise.all(sends);
      })();
      return drained;
    },
  };
}

export const batchProcessor = defineProcessor({
  type: 'batch',
  description: 'Gathers data points into batches by size and time, split at a maximum size, keeping clusters apart.',
  stability: 'alpha',
  configSchema: BatchConfigSchema,
  validate: batchConfigProblems,
  create: (settings, next) => createBatchProcessor(settings, next),
});

export default batchProcessor;
