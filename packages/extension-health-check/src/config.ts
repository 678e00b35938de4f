import { Type, type Static } from '@skein/core';

export const HealthCheckConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      default: '127.0.0.1:13133',
      description: 'Where to listen, `host:port`. Port 0 picks a free port.',
    }),
    path: Type.String({
      pattern: '^/',
      default: '/',
      description: 'The URL path that answers; any other path is 404.',
    }),
  },
  { additionalProperties: false },
);

export type HealthCheckConfig = Static<typeof HealthCheckConfigSchema>;
