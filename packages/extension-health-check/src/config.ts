import { Type, type ConfigProblem, type Static } from '@skein/core';

export const HealthCheckConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      default: '127.0.0.1:13133',
      description: 'Where to listen, `host:port`. The default answers local probes only; use `0.0.0.0:13133` for probes from elsewhere (Kubernetes). Port 0 picks a free port.',
    }),
    path: Type.String({
      default: '/',
      description: 'The URL path that answers, starting with `/`; any other path is 404.',
    }),
  },
  { additionalProperties: false },
);

export type HealthCheckConfig = Static<typeof HealthCheckConfigSchema>;

/** What the schema cannot say in words a user reads at once (a pattern reads as `must match /^//`). */
export function healthCheckConfigProblems(config: HealthCheckConfig): ConfigProblem[] {
  if (config.path.startsWith('/')) return [];
  return [{ path: ['path'], message: `must start with "/", got ${JSON.stringify(config.path)}` }];
}
