import { Type, type Static, type TSchema } from '@skein/core';

/**
 * A protocol section that may also be written with no value (`grpc:`), as in the Collector:
 * null enables the protocol with its defaults. Kept an object schema (not a union) so the
 * generated config table lists its keys.
 */
function enabledByKey<T extends TSchema>(schema: T, description: string) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: ['object', 'null'], description });
}

const TlsSchema = Type.Object(
  {
    cert_file: Type.String({ minLength: 1, description: 'PEM file with the certificate chain the server presents.' }),
    key_file: Type.String({ minLength: 1, description: 'PEM file with the private key of `cert_file`.' }),
    client_ca_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'PEM file with the CAs that sign client certificates. When set, clients must present one (mutual TLS).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Serve TLS with these files, read at start. Leave out for plaintext.' },
);

const AuthSchema = Type.Object(
  {
    authenticator: Type.String({
      minLength: 1,
      description: 'ID of the extension that checks credentials, e.g. `bearer_auth`. Requests it refuses get 401 / UNAUTHENTICATED.',
    }),
  },
  { additionalProperties: false, description: 'Authenticate every request before anything else runs.' },
);

const middlewares = () =>
  Type.Array(Type.String({ minLength: 1 }), {
    default: [],
    description: 'IDs of server-middleware extensions, run in order on every push (see README).',
  });

const includeHeaders = (what: string) =>
  Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), {
    default: [],
    description: `${what} copied into the request context that processors and exporters see; names are case-insensitive.`,
  });

const duration = (description: string) => Type.Optional(Type.String({ format: 'duration', description }));

export const GrpcConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      default: 'localhost:4317',
      description: 'Where to listen, `host:port`. Port 0 picks a free port.',
    }),
    max_recv_msg_size: Type.String({
      format: 'size',
      default: '4MiB',
      description: 'Largest request message, after decompression; bigger ones get RESOURCE_EXHAUSTED (not retryable).',
    }),
    max_concurrent_streams: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'Most concurrent calls on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); with max_recv_msg_size it bounds what one connection can make Skein buffer.',
    }),
    keepalive: Type.Object(
      {
        server_parameters: Type.Object(
          {
            max_connection_idle: duration('Close a connection after it has had no call for this long. Default: never.'),
            max_connection_age: duration('Close a connection (with GOAWAY) once it is this old. Default: never.'),
            max_connection_age_grace: duration('After max_connection_age, how long calls in flight may finish. Default: no limit.'),
            time: duration('Ping the client after this long without activity. Default: 2h.'),
            timeout: duration('Close the connection when a ping is not answered within this. Default: 20s.'),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    tls: Type.Optional(TlsSchema),
    auth: Type.Optional(AuthSchema),
    middlewares: middlewares(),
    include_headers: includeHeaders('Metadata keys'),
  },
  { additionalProperties: false },
);

export const HttpConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      default: 'localhost:4318',
      description: 'Where to listen, `host:port`. Port 0 picks a free port.',
    }),
    metrics_path: Type.String({
      pattern: '^/',
      default: '/v1/metrics',
      description: 'The path that takes `POST`ed metrics.',
    }),
    max_request_body_size: Type.String({
      format: 'size',
      default: '20MiB',
      description: 'Largest request body, checked on the wire and again while decompressing; bigger ones get 413 (not retryable).',
    }),
    read_header_timeout: Type.String({
      format: 'duration',
      default: '10s',
      description: 'A client must send all request headers within this, or gets 408 and is disconnected.',
    }),
    request_timeout: Type.String({
      format: 'duration',
      default: '5m',
      description: 'A client must send the whole request (headers and body) within this; `0` turns the limit off.',
    }),
    idle_timeout: Type.String({
      format: 'duration',
      default: '60s',
      description: 'How long a keep-alive connection may wait for its next request.',
    }),
    tls: Type.Optional(TlsSchema),
    auth: Type.Optional(AuthSchema),
    middlewares: middlewares(),
    include_headers: includeHeaders('Request headers'),
  },
  { additionalProperties: false },
);

export const OtlpConfigSchema = Type.Object(
  {
    protocols: Type.Object(
      {
        grpc: Type.Optional(
          enabledByKey(GrpcConfigSchema, 'Serve OTLP/gRPC. `grpc:` with no value serves it with the defaults.'),
        ),
        http: Type.Optional(
          enabledByKey(HttpConfigSchema, 'Serve OTLP/HTTP (protobuf and JSON). `http:` with no value serves it with the defaults.'),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type GrpcConfig = Static<typeof GrpcConfigSchema>;
export type HttpConfig = Static<typeof HttpConfigSchema>;
export type TlsConfig = Static<typeof TlsSchema>;
export type OtlpConfig = Static<typeof OtlpConfigSchema>;
