import { Type, type Static } from '@skein/core';

export const ProbesConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      default: '127.0.0.1:13134',
      description: 'Where `GET /api/v1/probes` is served, `host:port`. Port 0 picks a free port.',
    }),
    auth: Type.Optional(
      Type.Object(
        {
          authenticator: Type.String({
            minLength: 1,
            description: 'ID of an authenticator extension (such as `bearer_auth`) every request must pass; a refusal is answered 401.',
          }),
        },
        { additionalProperties: false, description: 'Gate the API behind an authenticator.' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ProbesConfig = Static<typeof ProbesConfigSchema>;
