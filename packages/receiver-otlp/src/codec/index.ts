/**
 * The OTLP metrics codec: requests in (protobuf and OTLP/JSON) decoded once into Skein's data
 * model, replies out in the request's encoding. The transports (HTTP, gRPC) use only this.
 */
export type { DecodeResult } from './assemble.ts';
export { OtlpDecodeError } from './errors.ts';
export { decodeMetricsRequestProto } from './proto-decode.ts';
export { decodeMetricsRequestJson } from './json-decode.ts';
export {
  encodeMetricsResponseJson,
  encodeMetricsResponseProto,
  encodeStatusJson,
  encodeStatusProto,
  RETRY_INFO_TYPE_URL,
  type PartialSuccess,
  type StatusReply,
} from './encode.ts';
