/**
 * The `threshold_store` extension: one per-cluster map of node → health score, shared by the
 * threshold processor (which writes it), the `threshold_headers` middleware and the threshold
 * API (which read it), and the fleet gauges. `backend: memory` keeps it in this process;
 * `backend: redis` shares it between replicas so that they answer alike.
 */
import {
  ConfigError,
  configIssue,
  defineExtension,
  parseDuration,
  type CounterChild,
  type CreateSettings,
  type Extension,
  type Gauge,
  type Host,
} from '@skein/core';
import { thresholdStoreConfigProblems, ThresholdStoreConfigSchema, type ThresholdStoreConfig } from './config.ts';
import type { ThresholdParams } from './math.ts';
import { RedisSync, redactUrl } from './redis.ts';
import { FleetState, type RecordOutcome, type ThresholdStore, type ThresholdView } from './store.ts';

export { ThresholdStoreConfigSchema, type ThresholdStoreConfig } from './config.ts';
export {
  DEFAULT_PARAMS,
  MAD_SCALE,
  THRESHOLD_METHODS,
  madThreshold,
  medianOf,
  percentileOf,
  stddevThreshold,
  thresholdOf,
  thresholdOfScores,
  type ThresholdMethod,
  type ThresholdParams,
} from './math.ts';
export { isThresholdStore, type RecordOutcome, type ThresholdStore, type ThresholdView } from './store.ts';

export interface ThresholdStoreExtension extends Extension, ThresholdStore {
  readonly backend: 'memory' | 'redis';
  /**
   * Does now what a timer does every `refresh_interval`: expires silent nodes and recomputes
   * the thresholds of clusters whose scores changed; with Redis, first writes the queued
   * scores and reads back what changed in Redis. Rejects when Redis could not be read (the last known
   * state then stays in force). Tests and benchmarks call it; nothing else has to.
   */
  refresh(): Promise<void>;
  /** Scores waiting to be written to Redis (0 with the memory backend). */
  readonly pendingWrites: number;
  /** Starts the refresh and sweep timers; with Redis, connects (waiting at most `redis.timeout`). */
  start(host?: Host): Promise<void>;
  /** Stops the timers; with Redis, writes what is queued (at most `redis.timeout`) and disconnects. Safe without start, safe twice. */
  shutdown(): Promise<void>;
}

export interface ThresholdStoreOptions {
  /** The clock, ms since the epoch (tests pass a fake one). */
  now?: () => number;
}

/** Buckets of the refresh duration histogram, 1 ms to 5 s. */
const REFRESH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const REFUSALS: Exclude<RecordOutcome, 'accepted'>[] = ['cap_clusters', 'cap_nodes', 'cap_total_nodes', 'invalid_score', 'invalid_id'];

export function createThresholdStore(settings: CreateSettings<ThresholdStoreConfig>, opts: ThresholdStoreOptions = {}): ThresholdStoreExtension {
  const { id, config, logger, telemetry } = settings;
  const problems = thresholdStoreConfigProblems(config);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => configIssue(undefined, ['extensions', id, ...(p.path ?? [])], 'SKEIN_ERR_CONFIG_INVALID', p.message)));
  }
  const now = opts.now ?? Date.now;
  const ttlMs = parseDuration(config.ttl);
  const refreshMs = parseDuration(config.refresh_interval);
  let redis: RedisSync | undefined;
  const limits = { ttlMs, maxClusters: config.max_clusters, maxNodesPerCluster: config.max_nodes_per_cluster, maxNodes: config.max_nodes };

  const refusedFamily = telemetry.counter({
    name: 'skein_threshold_store_refused_total',
    help: 'Scores the threshold store refused, by reason (cap_clusters, cap_nodes, cap_total_nodes, invalid_score, invalid_id).',
    labelNames: ['reason'],
  });
  const refused = new Map<RecordOutcome, CounterChild>(REFUSALS.map((r) => [r, refusedFamily.labels({ reason: r })]));
  const expired = telemetry.counter({ name: 'skein_threshold_store_expired_nodes_total', help: 'Nodes the threshold store expired after ttl without a score.' });
  const refreshDuration = telemetry.histogram({
    name: 'skein_threshold_store_refresh_duration_seconds',
    help: 'Time one refresh of the threshold store took: with Redis the round trips, then recomputing the thresholds that changed.',
    buckets: REFRESH_BUCKETS,
  });
  const nodesGauge = telemetry.gauge({ name: 'skein_threshold_store_nodes', help: 'Active nodes the threshold store holds, all clusters together.' });
  const activeNodes = telemetry.gauge({ name: 'skein_fleet_active_nodes', help: 'Nodes of a cluster whose last score is younger than ttl.', labelNames: ['cluster_id'] });
  const quorumMet = telemetry.gauge({ name: 'skein_fleet_quorum_met', help: '1 when a cluster has at least statistical_min active nodes, else 0.', labelNames: ['cluster_id'] });
  const threshold = telemetry.gauge({ name: 'skein_fleet_threshold', help: "A cluster's health score threshold; 0 while its quorum is not met.", labelNames: ['cluster_id'] });
  expired.inc(0);

  let pendingGauge: Gauge | undefined;
  let state: FleetState;
  if (config.backend !== 'redis') state = new FleetState(limits, now);
  else {
    const r = config.redis!;
    const errors = telemetry.counter({
      name: 'skein_threshold_store_errors_total',
      help: 'Failed Redis operations of the threshold store, by operation (connect, write, read).',
      labelNames: ['op'],
    });
    const errorChildren = { connect: errors.labels({ op: 'connect' }), write: errors.labels({ op: 'write' }), read: errors.labels({ op: 'read' }) };
    const dropped = telemetry.counter({
      name: 'skein_threshold_store_dropped_writes_total',
      help: 'Scores dropped from the Redis write queue because it was full (max_pending_writes), oldest first.',
    });
    dropped.inc(0);
    // Pushes put their node in the state's write log; the Redis side drains it.
    state = new FleetState(limits, now, { max: r.max_pending_writes, onLogged: () => redis!.scheduleFlush(), onDropped: (n) => dropped.inc(n) });
    const up = telemetry.gauge({ name: 'skein_threshold_store_redis_up', help: '1 while the threshold store is connected to Redis, else 0.' });
    up.set(0);
    const lastSync = telemetry.gauge({
      name: 'skein_threshold_store_last_sync_timestamp_seconds',
      help: 'When the threshold store last read the fleet back from Redis (seconds since the epoch); 0 if never.',
    });
    lastSync.set(0);
    pendingGauge = telemetry.gauge({ name: 'skein_threshold_store_pending_writes', help: 'Scores waiting to be written to Redis.' });
    redis = new RedisSync({
      url: r.url,
      keyPrefix: r.key_prefix,
      timeoutMs: parseDuration(r.timeout),
      ttlMs,
      state,
      now,
      logger,
      onError: (op) => errorChildren[op].inc(),
      onUp: (isUp) => up.set(isUp ? 1 : 0),
      onSynced: (atMs) => lastSync.set(atMs / 1000),
    });
  }

  /** Clusters that have fleet gauge series, so that expired ones can be removed. */
  const exported = new Set<string>();
  /** Removes the gauge series of exported clusters not in `keep`. */
  const forget = (keep: ReadonlySet<string>) => {
    for (const clusterId of exported) {
      if (keep.has(clusterId)) continue;
      const labels = { cluster_id: clusterId };
      activeNodes.remove(labels);
      quorumMet.remove(labels);
      threshold.remove(labels);
    }
    exported.clear();
  };
  const collect = () => {
    const seen = new Set<string>();
    let nodes = 0;
    for (const clusterId of state.clusters()) {
      const v = state.get(clusterId);
      const labels = { cluster_id: clusterId };
      activeNodes.set(v.activeNodes, labels);
      quorumMet.set(v.quorumMet ? 1 : 0, labels);
      threshold.set(v.threshold, labels);
      nodes += v.activeNodes;
      seen.add(clusterId);
    }
    forget(seen);
    for (const c of seen) exported.add(c);
    nodesGauge.set(nodes);
    pendingGauge?.set(redis?.pendingWrites ?? 0);
  };
  const stopCollecting = telemetry.registry.onCollect(collect);

  const sweep = () => {
    const n = state.sweep();
    if (n > 0) expired.inc(n);
  };

  let refreshing: Promise<void> | undefined;
  let unreachableSince: number | undefined;
  const refresh = (): Promise<void> => {
    if (refreshing) return refreshing;
    const run = (async () => {
      const started = performance.now();
      try {
        if (redis) {
          try {
            await redis.sync();
            state.setStale(false);
            if (unreachableSince !== undefined) {
              logger.info('threshold store is in step with redis again', { offlineSeconds: Math.round((now() - unreachableSince) / 1000) });
              unreachableSince = undefined;
            }
          } catch (err) {
            state.setStale(true);
            if (unreachableSince === undefined) {
              unreachableSince = now();
              logger.warn('threshold store could not read the fleet from redis; answering from the last known scores', { err: (err as Error).message });
            }
            throw err;
          } finally {
            // An outage must not freeze thresholds: local scores still expire and recompute.
            sweep();
            state.recompute();
          }
        } else {
          sweep();
          state.recompute();
        }
      } finally {
        refreshDuration.observe((performance.now() - started) / 1000);
      }
    })();
    // Cleared in a callback: `run` itself may have settled before this assignment.
    refreshing = run.finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  let refreshTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;

  const store: ThresholdStoreExtension = {
    backend: config.backend,

    get pendingWrites() {
      return redis?.pendingWrites ?? 0;
    },

    record(clusterId: string, nodeId: string, score: number, atMs?: number): RecordOutcome {
      const outcome = state.record(clusterId, nodeId, score, atMs ?? now());
      if (outcome !== 'accepted') refused.get(outcome)!.inc();
      return outcome;
    },

    get(clusterId: string): ThresholdView {
      return state.get(clusterId);
    },

    clusters(): string[] {
      return state.clusters();
    },

    configure(owner: string, params: ThresholdParams): void {
      try {
        state.configure(owner, params);
      } catch (err) {
        throw new Error(`extension "${id}": ${(err as Error).message}`, { cause: err });
      }
    },

    params(): Readonly<ThresholdParams> {
      return state.params;
    },

    refresh,

    async start() {
      if (refreshTimer || stopped) return;
      if (redis) {
        logger.info('threshold store shares its scores through redis', { url: redactUrl(config.redis!.url), keyPrefix: config.redis!.key_prefix });
        await redis.start();
        if (!redis.ready) {
          state.setStale(true);
          unreachableSince = now();
        }
      }
      const tick = () => {
        refresh().catch(() => undefined);
      };
      refreshTimer = setInterval(tick, refreshMs);
      // Expire nodes at most half a ttl (and at most a second) late.
      sweepTimer = setInterval(sweep, Math.min(ttlMs / 2, 1000));
      // The store must not keep the process alive; shutdown stops it.
      refreshTimer.unref();
      sweepTimer.unref();
    },

    shutdown() {
      stopped ??= (async () => {
        clearInterval(refreshTimer);
        clearInterval(sweepTimer);
        stopCollecting();
        // The registry outlives a reload; the next store reports its own clusters.
        forget(new Set());
        await refreshing?.catch(() => undefined);
        await redis?.shutdown();
      })();
      return stopped;
    },
  };
  return store;
}

export const thresholdStoreExtension = defineExtension({
  type: 'threshold_store',
  description: 'Holds fleet health scores per cluster and their thresholds, in memory or shared by replicas through Redis.',
  stability: 'alpha',
  configSchema: ThresholdStoreConfigSchema,
  validate: thresholdStoreConfigProblems,
  create: (settings) => createThresholdStore(settings),
});

export default thresholdStoreExtension;
