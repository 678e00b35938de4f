import { Type, type ConfigProblem, type Static } from '@skein/core';

export const ThresholdHeadersConfigSchema = Type.Object(
  {
    store: Type.String({
      minLength: 1,
      description: 'ID of the `threshold_store` extension to read thresholds from; it must be listed in `service::extensions`.',
    }),
    threshold_header: Type.String({
      default: 'ingero-threshold',
      description: "Reply header (gRPC: initial metadata key) that carries the cluster's threshold. A gRPC metadata key: lowercase letters, digits, `-`, `_`, `.`; not `grpc-…`, not `…-bin`.",
    }),
    quorum_header: Type.String({
      default: 'ingero-quorum-met',
      description: 'Reply header (gRPC: initial metadata key) that says `true` or `false`: whether the cluster has its quorum. Same rules as `threshold_header`, and a different name.',
    }),
    api_path: Type.String({
      default: '/api/v1/threshold',
      description: "Path of the threshold API (`GET <api_path>?cluster_id=<id>`), served on the OTLP receiver's HTTP port and on `endpoint`. Starts with `/`.",
    }),
    endpoint: Type.Optional(
      Type.String({
        format: 'host-port',
        description: "Also serve the threshold API on a listener of its own, `host:port` (no authenticator runs there). Left out: only on the OTLP receiver's HTTP port.",
      }),
    ),
  },
  { additionalProperties: false },
);

export type ThresholdHeadersConfig = Static<typeof ThresholdHeadersConfigSchema>;

/** gRPC metadata keys (and so the names both transports can carry): lowercase, no `-bin` suffix, no `grpc-` prefix. */
const HEADER_NAME = /^[a-z0-9_.-]+$/;

function headerProblems(key: 'threshold_header' | 'quorum_header', name: string): ConfigProblem[] {
  const got = JSON.stringify(name);
  if (!HEADER_NAME.test(name)) {
    return [{ path: [key], message: `must be a header name of lowercase letters, digits, "-", "_" and ".", got ${got}` }];
  }
  if (name.endsWith('-bin')) return [{ path: [key], message: `must not end in "-bin" (gRPC reserves it for binary metadata), got ${got}` }];
  if (name.startsWith('grpc-')) return [{ path: [key], message: `must not start with "grpc-" (reserved by gRPC), got ${got}` }];
  return [];
}

/** What the schema cannot state, in words a user reads at once. */
export function thresholdHeadersConfigProblems(config: ThresholdHeadersConfig): ConfigProblem[] {
  const problems = [...headerProblems('threshold_header', config.threshold_header), ...headerProblems('quorum_header', config.quorum_header)];
  if (problems.length === 0 && config.threshold_header === config.quorum_header) {
    problems.push({ path: ['quorum_header'], message: `must differ from threshold_header, got ${JSON.stringify(config.quorum_header)} for both` });
  }
  if (!/^\/[^?#\s]*$/.test(config.api_path)) {
    problems.push({ path: ['api_path'], message: `must be a URL path starting with "/", without "?", "#" or spaces, got ${JSON.stringify(config.api_path)}` });
  }
  return problems;
}
