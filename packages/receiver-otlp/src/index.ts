/**
 * The `otlp` receiver: takes metrics over OTLP/gRPC and OTLP/HTTP (protobuf and JSON), exactly
 * as the OTLP specification says, with auth, TLS and server middlewares.
 */
import { defineReceiver, parseDuration, parseSize, type ConfigProblem } from '@skein/core';
import { OtlpConfigSchema, type OtlpConfig } from './config.ts';
import { createOtlpReceiver } from './receiver.ts';

export { OtlpConfigSchema, GrpcConfigSchema, HttpConfigSchema, type OtlpConfig, type GrpcConfig, type HttpConfig } from './config.ts';
export { createOtlpReceiver, type OtlpReceiver } from './receiver.ts';
export { METRICS_EXPORT_PATH } from './grpc.ts';

/** Rules between keys that the schema cannot state. */
export function validateOtlpConfig(config: OtlpConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { grpc, http } = config.protocols;
  if (grpc === undefined && http === undefined) {
    problems.push({ path: ['protocols'], message: 'set grpc or http (or both); `grpc:` with no value serves it with the defaults' });
  }
  if (grpc && parseSize(grpc.max_recv_msg_size) === 0) {
    problems.push({ path: ['protocols', 'grpc', 'max_recv_msg_size'], message: 'must be more than 0' });
  }
  if (http) {
    if (parseSize(http.max_request_body_size) === 0) {
      problems.push({ path: ['protocols', 'http', 'max_request_body_size'], message: 'must be more than 0' });
    }
    const request = parseDuration(http.request_timeout);
    if (request > 0 && parseDuration(http.read_header_timeout) > request) {
      problems.push({
        path: ['protocols', 'http', 'read_header_timeout'],
        message: `must not be longer than request_timeout (${http.request_timeout}), got ${JSON.stringify(http.read_header_timeout)}`,
      });
    }
  }
  if (grpc && http && grpc.endpoint === http.endpoint && !grpc.endpoint.endsWith(':0')) {
    problems.push({ path: ['protocols', 'http', 'endpoint'], message: `must differ from protocols::grpc::endpoint (${grpc.endpoint})` });
  }
  return problems;
}

export const otlpReceiver = defineReceiver({
  type: 'otlp',
  description: 'Takes metrics over OTLP/gRPC and OTLP/HTTP (protobuf and JSON), with auth, TLS and server middlewares.',
  stability: 'beta',
  configSchema: OtlpConfigSchema,
  validate: validateOtlpConfig,
  create: (settings, next) => createOtlpReceiver(settings, next),
});

export default otlpReceiver;
