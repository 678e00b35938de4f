import { parseDuration, Type, type ConfigProblem, type Static } from '@skein/core';

export const ThresholdStoreConfigSchema = Type.Object(
  {
    backend: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      default: 'memory',
      description: '`memory`: this process only. `redis`: replicas share their scores through Redis and compute the same thresholds.',
    }),
    ttl: Type.String({
      format: 'duration',
      default: '30s',
      description: 'How long a node stays active after its last score; then a sweeper expires it. More than 0s.',
    }),
    refresh_interval: Type.String({
      format: 'duration',
      default: '1s',
      description: 'How often thresholds are recomputed from the scores (and, with Redis, how often the scores are read back from Redis). More than 0s.',
    }),
    max_clusters: Type.Integer({
      minimum: 1,
      default: 10_000,
      description: 'Most clusters held; a score for a new cluster past it is refused (counted, reason `cap_clusters`).',
    }),
    max_nodes_per_cluster: Type.Integer({
      minimum: 1,
      default: 100_000,
      description: 'Most nodes held per cluster; a score for a new node past it is refused (counted, reason `cap_nodes`).',
    }),
    max_nodes: Type.Integer({
      minimum: 1,
      default: 1_000_000,
      description:
        'Most nodes held over all clusters together (about 80 bytes each with short IDs); a score for a new node past it is refused (counted, reason `cap_total_nodes`). With Redis it bounds what this replica accepts.',
    }),
    redis: Type.Optional(
      Type.Object(
        {
          url: Type.String({
            minLength: 1,
            description: 'Where Redis listens: `redis://[[user]:password@]host[:port][/db]` or `rediss://` for TLS. Required with `backend: redis`.',
          }),
          key_prefix: Type.String({
            default: 'skein:threshold:',
            description: 'Prefix of every key the store writes. Replicas that must agree use the same prefix; fleets that must not, different ones.',
          }),
          timeout: Type.String({
            format: 'duration',
            default: '2s',
            description: 'Longest wait for one Redis command or for connecting; then the attempt counts as an error and is retried later. More than 0s.',
          }),
          max_pending_writes: Type.Integer({
            minimum: 1,
            default: 100_000,
            description: 'Most scores waiting to be written to Redis (one per node; a newer score replaces a waiting one). Past it the oldest is dropped and counted.',
          }),
        },
        { additionalProperties: false, description: 'Settings of `backend: redis`.' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ThresholdStoreConfig = Static<typeof ThresholdStoreConfigSchema>;

/** The rules a schema cannot state; the factory's `validate` reports them with their positions. */
export function thresholdStoreConfigProblems(config: ThresholdStoreConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.backend === 'redis' && config.redis === undefined) {
    problems.push({ path: ['redis'], message: 'is required with backend redis: give at least redis: {url: redis://host:6379}' });
  }
  if (config.backend === 'memory' && config.redis !== undefined) {
    problems.push({ path: ['redis'], message: 'applies only to backend redis; remove it or set backend: redis' });
  }
  if (config.redis !== undefined && !isRedisUrl(config.redis.url)) {
    problems.push({ path: ['redis', 'url'], message: `must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379, got ${JSON.stringify(config.redis.url)}` });
  }
  const positive = (path: string[], value: string) => {
    if (parseDuration(value) <= 0) problems.push({ path, message: `must be more than 0s, got "${value}"` });
  };
  positive(['ttl'], config.ttl);
  positive(['refresh_interval'], config.refresh_interval);
  if (config.redis) positive(['redis', 'timeout'], config.redis.timeout);
  return problems;
}

function isRedisUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}
