import { Type, type Static } from '@skein/core';

export const BearerAuthConfigSchema = Type.Object(
  {
    token: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'The token clients must send. Write `${env:VAR}` to keep it out of the file. Set this or `token_file`.',
      }),
    ),
    token_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A file holding the token, read at start; surrounding whitespace is ignored. Set this or `token`.',
      }),
    ),
    header: Type.String({
      pattern: '^[A-Za-z0-9_.-]+$',
      default: 'authorization',
      description: 'The request header (gRPC: metadata key) that carries the token; case-insensitive.',
    }),
    scheme: Type.String({
      pattern: '^[A-Za-z0-9_.-]*$',
      default: 'Bearer',
      description: 'The scheme before the token (`<scheme> <token>`), matched case-insensitively; `""` when the header holds the bare token.',
    }),
  },
  { additionalProperties: false },
);

export type BearerAuthConfig = Static<typeof BearerAuthConfigSchema>;
