import { Type, type ConfigProblem, type Static } from '@skein/core';

export const ThresholdConfigSchema = Type.Object(
  {
    store: Type.String({
      minLength: 1,
      description: 'ID of the `threshold_store` extension the scores go to; it must be listed in `service::extensions`.',
    }),
    score_metric: Type.String({
      minLength: 1,
      default: 'health.score',
      description: 'Name of the gauge that carries each node\'s health score. Other metrics pass through untouched.',
    }),
    node_key: Type.String({
      minLength: 1,
      default: 'host.name',
      description: 'Resource attribute that names the node a score belongs to.',
    }),
    cluster_key: Type.String({
      minLength: 1,
      default: 'cluster_id',
      description: "Resource attribute that names the node's cluster; without it, the push's `cluster_id` (query string or gRPC metadata).",
    }),
    method: Type.Union([Type.Literal('percentile'), Type.Literal('stddev'), Type.Literal('mad')], {
      default: 'mad',
      description: '`percentile`: the p-th percentile. `stddev`: mean − k·σ. `mad`: median − k·1.4826·MAD (robust to outliers).',
    }),
    k: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'Multiplier of σ (`stddev`) or of 1.4826·MAD (`mad`); 3 when left out. Not for `percentile`.',
      }),
    ),
    p: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description: 'The percentile for `percentile`; 5 when left out. Only for `percentile`.',
      }),
    ),
    statistical_min: Type.Integer({
      minimum: 1,
      default: 10,
      description: 'The quorum: active nodes a cluster needs before it has a threshold. Below it the threshold is 0 and the quorum is not met.',
    }),
  },
  { additionalProperties: false },
);

export type ThresholdConfig = Static<typeof ThresholdConfigSchema>;

export const DEFAULT_K = 3;
export const DEFAULT_P = 5;

/** The rules a schema cannot state; the factory's `validate` reports them with their positions. */
export function thresholdConfigProblems(config: ThresholdConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.p !== undefined && config.method !== 'percentile') {
    problems.push({ path: ['p'], message: `applies only to method percentile, got method ${config.method}; remove p or use k` });
  }
  if (config.k !== undefined && config.method === 'percentile') {
    problems.push({ path: ['k'], message: 'applies only to methods stddev and mad, got method percentile; remove k or use p' });
  }
  return problems;
}
