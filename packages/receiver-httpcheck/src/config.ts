import { Type, type Static } from '@skein/core';
import { probeReceiverSchema, TargetEntryBase } from '@skein/probe-loop';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const HttpTargetSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'The URL to request, `http://` or `https://`; a hostname in it is resolved at every probe.' }),
    ...TargetEntryBase,
    method: Type.Union(
      HTTP_METHODS.map((m) => Type.Literal(m)),
      { default: 'GET', description: 'The request method; the request has no body.' },
    ),
    expected_status: Type.Array(Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.String({ pattern: '^[1-5]xx$' })]), {
      default: ['2xx'],
      minItems: 1,
      description: 'Status codes that count as success: codes (`204`) or classes (`2xx`). Redirects are not followed, so list `3xx` to accept them.',
    }),
    body_match: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A regular expression (JavaScript syntax) that the first 1 MiB of the body must match; a mismatch fails the probe with error class `status`.',
      }),
    ),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'Request headers to send (a `Host` here overrides the URL\'s).' }),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          insecure_skip_verify: Type.Boolean({
            default: false,
            description: 'Accept a certificate that does not verify (still reported in `httpcheck.tls.cert_remaining`).',
          }),
          ca_file: Type.Optional(
            Type.String({ minLength: 1, description: 'A PEM file of CA certificates to trust instead of the system ones; read when the targets are loaded.' }),
          ),
          server_name: Type.Optional(
            Type.String({ minLength: 1, description: 'The name sent in SNI and checked against the certificate, instead of the URL\'s host.' }),
          ),
        },
        { additionalProperties: false, description: 'TLS settings for an `https://` URL.' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const HttpCheckConfigSchema = probeReceiverSchema(
  HttpTargetSchema,
  'The URLs to probe with an HTTP request, each `{url, method, expected_status, body_match, headers, tls, name, route, timeout}`.',
);

export type HttpTargetEntry = Static<typeof HttpTargetSchema>;
export type HttpCheckConfig = Static<typeof HttpCheckConfigSchema>;
