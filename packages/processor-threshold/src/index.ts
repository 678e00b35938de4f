/**
 * The `threshold` processor: folds every point of the `score_metric` gauge into a
 * `threshold_store`, keyed by cluster and node, and passes the batch on unchanged. It also
 * tells the store how thresholds are computed (method, k or p, statistical_min), so the
 * middleware and the API that read the store answer what the processor was configured for.
 *
 * The work per push is O(points of score_metric): each score is a map update. Thresholds are
 * recomputed by the store, off the push path.
 */
import {
  ConfigError,
  configIssue,
  DataPointFlags,
  defineProcessor,
  requireExtension,
  type AttributeValue,
  type Consumer,
  type CounterChild,
  type CreateSettings,
  type Host,
  type MetricsBatch,
  type Processor,
  type RequestContext,
} from '@skein/core';
import { isThresholdStore, type RecordOutcome, type ThresholdParams, type ThresholdStore } from '@skein/extension-threshold-store';
import { DEFAULT_K, DEFAULT_P, thresholdConfigProblems, ThresholdConfigSchema, type ThresholdConfig } from './config.ts';

export { ThresholdConfigSchema, type ThresholdConfig } from './config.ts';

/** Why a score was not folded in; the `reason` label of `skein_threshold_refused_scores_total`. */
export const REFUSAL_REASONS = [
  'missing_node',
  'missing_cluster',
  'nan',
  'infinite',
  'no_recorded_value',
  'not_gauge',
  'id_too_long',
  'cap_clusters',
  'cap_nodes',
  'cap_total_nodes',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * The store's refusals as this processor counts them. Values and empty IDs were checked above,
 * so an invalid ID is one over the store's length limit; the map is total so that a new store
 * rule would still be counted.
 */
const STORE_REFUSALS: Record<Exclude<RecordOutcome, 'accepted'>, RefusalReason> = {
  cap_clusters: 'cap_clusters',
  cap_nodes: 'cap_nodes',
  cap_total_nodes: 'cap_total_nodes',
  invalid_score: 'nan',
  invalid_id: 'id_too_long',
};

/** The computation settings a config gives, defaults filled. */
export function thresholdParams(config: ThresholdConfig): ThresholdParams {
  return { method: config.method, k: config.k ?? DEFAULT_K, p: config.p ?? DEFAULT_P, statisticalMin: config.statistical_min };
}

/** A node or cluster ID from an attribute: a non-empty string, or an integer written out. */
function idOf(v: AttributeValue | undefined): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  return undefined;
}

export function createThresholdProcessor(settings: CreateSettings<ThresholdConfig>, next: Consumer): Processor {
  const { id, config, telemetry } = settings;
  const problems = thresholdConfigProblems(config);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => configIssue(undefined, ['processors', id, ...(p.path ?? [])], 'SKEIN_ERR_CONFIG_INVALID', p.message)));
  }
  const params = thresholdParams(config);
  const { score_metric: scoreMetric, node_key: nodeKey, cluster_key: clusterKey } = config;

  const refusedFamily = telemetry.counter({
    name: 'skein_threshold_refused_scores_total',
    help: 'Health scores the threshold processor did not fold into the store, by reason. The data still passes on.',
    labelNames: ['reason'],
  });
  // Children made once: the push path then never builds a label key.
  const refused = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, refusedFamily.labels({ reason: r })])) as Record<RefusalReason, CounterChild>;
  const accepted = telemetry.counter({ name: 'skein_threshold_accepted_scores_total', help: 'Health scores the threshold processor folded into the store.' }).labels({});
  accepted.inc(0);

  let store: ThresholdStore | undefined;

  const fold = (batch: MetricsBatch, ctx: RequestContext, s: ThresholdStore) => {
    let folded = 0;
    for (const rm of batch.resourceMetrics) {
      let looked = false;
      let node: string | undefined;
      let cluster: string | undefined;
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          if (m.name !== scoreMetric) continue;
          if (m.type !== 'gauge') {
            refused.not_gauge.inc(m.points.length);
            continue;
          }
          if (!looked) {
            looked = true;
            const attrs = rm.resource.attributes;
            node = idOf(attrs[nodeKey]);
            cluster = idOf(attrs[clusterKey]) ?? (ctx.clusterId || undefined);
          }
          for (const p of m.points) {
            let reason: RefusalReason | undefined;
            const value = typeof p.value === 'bigint' ? Number(p.value) : p.value;
            if (node === undefined) reason = 'missing_node';
            else if (cluster === undefined) reason = 'missing_cluster';
            else if ((p.flags & DataPointFlags.NoRecordedValue) !== 0) reason = 'no_recorded_value';
            else if (Number.isNaN(value)) reason = 'nan';
            else if (!Number.isFinite(value)) reason = 'infinite';
            else {
              const outcome = s.record(cluster, node, value);
              if (outcome === 'accepted') {
                folded++;
                continue;
              }
              reason = STORE_REFUSALS[outcome];
            }
            refused[reason].inc();
          }
        }
      }
    }
    if (folded > 0) accepted.inc(folded);
  };

  return {
    mutatesData: false,

    start(host: Host) {
      const s = requireExtension(host, config.store, isThresholdStore, 'threshold store', `processors::${id}::store`);
      s.configure(id, params);
      store = s;
    },

    consume(batch, ctx) {
      // Scores are folded whatever happens downstream: an exporter's outage must not cost the fleet its quorum.
      fold(batch, ctx, store!);
      return next.consume(batch, ctx);
    },
  };
}

export const thresholdProcessor = defineProcessor({
  type: 'threshold',
  description: 'Folds fleet health scores into a threshold_store, per cluster and node, and passes the data on unchanged.',
  stability: 'alpha',
  configSchema: ThresholdConfigSchema,
  validate: thresholdConfigProblems,
  create: (settings, next) => createThresholdProcessor(settings, next),
});

export default thresholdProcessor;
