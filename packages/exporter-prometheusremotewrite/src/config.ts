import { parseDuration, Type, type ConfigProblem, type Static } from '@skein/core';

const strict = { additionalProperties: false } as const;

export const RemoteWriteConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      description: 'The remote-write URL, `http://` or `https://`, e.g. `http://prometheus:9090/api/v1/write`.',
    }),
    protocol: Type.Union([Type.Literal('v1'), Type.Literal('v2')], {
      default: 'v1',
      description:
        '`v1`: remote write 1.0 (`prometheus.WriteRequest`). `v2`: remote write 2.0 (`io.prometheus.write.v2.Request`: symbols, metadata, created timestamps); on a 415, or a 2xx without the `X-Prometheus-Remote-Write-*-Written` headers, the exporter falls back to `v1` for the rest of its life.',
    }),
    timeout: Type.String({ format: 'duration', default: '30s', description: 'Longest one request may take, connecting included; a request that takes longer is retried.' }),
    headers: Type.Record(Type.String(), Type.String(), {
      default: {},
      description:
        'Extra request headers (a tenant ID, say). The protocol headers (`Content-Encoding`, `Content-Type`, `User-Agent`, `X-Prometheus-Remote-Write-Version`) and the transport ones (`Content-Length`, `Host`, …) are refused.',
    }),
    auth: Type.Optional(
      Type.Object(
        {
          bearer_token: Type.Optional(Type.String({ minLength: 1, description: 'Sent as `Authorization: Bearer <token>`.' })),
          bearer_token_file: Type.Optional(Type.String({ minLength: 1, description: 'A file holding the bearer token, read again for every request (so a rotated token is picked up).' })),
          basic: Type.Optional(
            Type.Object(
              {
                username: Type.String({ description: 'Basic auth user.' }),
                password: Type.String({ description: 'Basic auth password.' }),
              },
              { ...strict, description: 'Sent as `Authorization: Basic …`.' },
            ),
          ),
        },
        { ...strict, description: 'One of `bearer_token`, `bearer_token_file` or `basic`.' },
      ),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          ca_file: Type.Optional(Type.String({ description: 'PEM CA bundle to verify the server with, instead of the system roots.' })),
          cert_file: Type.Optional(Type.String({ description: 'PEM client certificate (mutual TLS); needs `key_file`.' })),
          key_file: Type.Optional(Type.String({ description: 'PEM private key of `cert_file`.' })),
          server_name: Type.Optional(Type.String({ description: 'Name to verify the server certificate against, when not the endpoint host.' })),
          insecure_skip_verify: Type.Boolean({ default: false, description: 'Accept any server certificate. For tests only.' }),
        },
        { ...strict, description: 'TLS settings for an `https://` endpoint.' },
      ),
    ),
    external_labels: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Labels added to every series, `target_info` included (a replica or cluster name), unless the series already has a label of that name.',
    }),
    resource_to_telemetry_conversion: Type.Boolean({
      default: false,
      description: 'Copy every resource attribute onto every series as a label (besides `target_info`).',
    }),
    add_metric_suffixes: Type.Boolean({ default: true, description: 'Add unit and type suffixes to names (`_seconds`, `_total`), as Prometheus expects.' }),
    target_info: Type.Object(
      { enabled: Type.Boolean({ default: true, description: 'Send one `target_info` series per resource with its attributes.' }) },
      { ...strict, default: {} },
    ),
    send_metadata: Type.Boolean({
      default: false,
      description: '`v1` only: add `MetricMetadata` (type, help, unit) per metric family to each request. `v2` always sends metadata.',
    }),
    sending: Type.Object(
      {
        shards: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 4,
          description: 'Parallel senders. Each series always goes to the same shard, which sends one request at a time, so its samples stay in order.',
        }),
        max_samples_per_send: Type.Integer({ minimum: 1, default: 2000, description: 'Most samples (native histograms count one) in one request.' }),
        max_bytes_per_send: Type.String({ format: 'size', default: '3MiB', description: 'Most bytes of one request before compression; a single series bigger than this is still sent.' }),
        batch_send_deadline: Type.String({
          format: 'duration',
          default: '5s',
          description: 'Longest a sample waits for its request to fill up before it is sent anyway. Memory queue only: with queue.directory, requests are formed when a batch is queued.',
        }),
        min_backoff: Type.String({ format: 'duration', default: '30ms', description: 'Wait before the first retry; doubled on each further one (with jitter).' }),
        max_backoff: Type.String({ format: 'duration', default: '5s', description: 'Longest wait between retries, unless the store asks for longer with `Retry-After`.' }),
        max_elapsed_time: Type.String({
          format: 'duration',
          default: '0s',
          description: 'Give up on a request after retrying it this long, dropping its samples (`retries_exhausted`). `0s`: never; the queue bounds what waits.',
        }),
      },
      { ...strict, default: {} },
    ),
    queue: Type.Object(
      {
        capacity: Type.Integer({
          minimum: 1,
          default: 100000,
          description:
            'Most samples waiting to be sent. In memory, a batch that does not fit is refused with a retryable error (receivers answer 429/503); with `directory`, the oldest samples are dropped instead (`queue_overflow`).',
        }),
        directory: Type.Optional(
          Type.String({
            minLength: 1,
            description: 'Keep the queue on disk (SQLite in WAL mode) in this directory: it survives a crash or restart and is sent on the next start.',
          }),
        ),
        sync: Type.Union([Type.Literal('normal'), Type.Literal('full')], {
          default: 'normal',
          description: 'With `directory`: `normal` survives a process crash; `full` also a power loss, with an fsync per batch.',
        }),
        drain_timeout: Type.String({
          format: 'duration',
          default: '10s',
          description:
            'On shutdown, how long to keep sending what is queued; keep it under `service::shutdown_timeout`. What is left stays on disk with `directory`, and is dropped (`shutdown`) without.',
        }),
      },
      { ...strict, default: {} },
    ),
  },
  strict,
);

export type RemoteWriteConfig = Static<typeof RemoteWriteConfigSchema>;

/** Request headers a user may not set: the protocol's own and what the HTTP client manages. */
export const RESERVED_HEADERS = [
  'content-encoding',
  'content-type',
  'user-agent',
  'x-prometheus-remote-write-version',
  'content-length',
  'transfer-encoding',
  'connection',
  'host',
] as const;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The rules a schema cannot state; the factory's `validate` reports them with their paths. */
export function remoteWriteConfigProblems(config: RemoteWriteConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  let url: URL | undefined;
  try {
    url = new URL(config.endpoint);
  } catch {
    problems.push({ path: ['endpoint'], message: `must be an http:// or https:// URL, got ${JSON.stringify(config.endpoint)}` });
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push({ path: ['endpoint'], message: `must be an http:// or https:// URL, got ${JSON.stringify(config.endpoint)}` });
  }
  for (const name of Object.keys(config.headers)) {
    if ((RESERVED_HEADERS as readonly string[]).includes(name.toLowerCase())) {
      problems.push({ path: ['headers', name], message: `is set by the exporter and cannot be configured (reserved: ${RESERVED_HEADERS.join(', ')})` });
    }
    if (config.auth && name.toLowerCase() === 'authorization') {
      problems.push({ path: ['headers', name], message: 'conflicts with auth; set one or the other' });
    }
  }
  if (config.auth) {
    const set = (['bearer_token', 'bearer_token_file', 'basic'] as const).filter((k) => config.auth![k] !== undefined);
    if (set.length !== 1) {
      problems.push({ path: ['auth'], message: `must set exactly one of bearer_token, bearer_token_file, basic, got ${set.length === 0 ? 'none' : set.join(', ')}` });
    }
  }
  if (config.tls) {
    if ((config.tls.cert_file === undefined) !== (config.tls.key_file === undefined)) {
      problems.push({ path: ['tls'], message: 'cert_file and key_file must be set together' });
    }
    if (url && url.protocol === 'http:') problems.push({ path: ['tls'], message: 'is set but endpoint is http://; use https://' });
  }
  for (const [name, value] of Object.entries(config.external_labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      problems.push({ path: ['external_labels', name], message: 'must be a label name: letters, digits and _, not starting with a digit or __' });
    } else if (value === '') {
      problems.push({ path: ['external_labels', name], message: 'must not be empty (Prometheus drops labels with empty values)' });
    }
  }
  const { min_backoff, max_backoff } = config.sending;
  if (parseDuration(min_backoff) > parseDuration(max_backoff)) {
    problems.push({ path: ['sending', 'min_backoff'], message: `must be at most max_backoff (${max_backoff}), got ${min_backoff}` });
  }
  if (parseDuration(config.timeout) <= 0) problems.push({ path: ['timeout'], message: 'must be more than 0s' });
  return problems;
}
