/**
 * The receiver's replies, in the encoding of the request: ExportMetricsServiceResponse (with
 * `partial_success` when points were rejected) and google.rpc.Status (with a RetryInfo detail
 * when the client should retry later). Field numbers are those of proto/.
 */
import protobuf from 'protobufjs/minimal.js';

export interface PartialSuccess {
  rejectedDataPoints: number;
  errorMessage?: string;
}

export interface StatusReply {
  /** A google.rpc.Code (gRPC status code). */
  code: number;
  message: string;
  /** Sent as a google.rpc.RetryInfo detail when set. */
  retryDelayMs?: number;
}

export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

function hasPartialSuccess(r: PartialSuccess): boolean {
  return r.rejectedDataPoints > 0 || (r.errorMessage !== undefined && r.errorMessage !== '');
}

/** An empty message (zero bytes) when nothing was rejected. */
export function encodeMetricsResponseProto(r: PartialSuccess): Uint8Array {
  if (!hasPartialSuccess(r)) return new Uint8Array(0);
  const w = protobuf.Writer.create();
  w.uint32(0x0a).fork(); // partial_success = 1
  if (r.rejectedDataPoints !== 0) w.uint32(0x08).int64(r.rejectedDataPoints); // rejected_data_points = 1
  if (r.errorMessage) w.uint32(0x12).string(r.errorMessage); // error_message = 2
  w.ldelim();
  return w.finish();
}

/** `{}` when nothing was rejected; the int64 count is a string, as OTLP/JSON writes int64s. */
export function encodeMetricsResponseJson(r: PartialSuccess): string {
  if (!hasPartialSuccess(r)) return '{}';
  const partialSuccess: { rejectedDataPoints?: string; errorMessage?: string } = {};
  if (r.rejectedDataPoints !== 0) partialSuccess.rejectedDataPoints = String(r.rejectedDataPoints);
  if (r.errorMessage) partialSuccess.errorMessage = r.errorMessage;
  return JSON.stringify({ partialSuccess });
}

/** Milliseconds as a google.protobuf.Duration, rounded to whole nanoseconds. */
function duration(ms: number): { seconds: number; nanos: number } {
  const totalNanos = Math.round(Math.max(0, ms) * 1e6);
  const seconds = Math.floor(totalNanos / 1e9);
  return { seconds, nanos: totalNanos - seconds * 1e9 };
}

function retryInfoProto(ms: number): Uint8Array {
  const { seconds, nanos } = duration(ms);
  const w = protobuf.Writer.create();
  w.uint32(0x0a).fork(); // retry_delay = 1
  if (seconds !== 0) w.uint32(0x08).int64(seconds); // Duration.seconds = 1
  if (nanos !== 0) w.uint32(0x10).int32(nanos); // Duration.nanos = 2
  w.ldelim();
  return w.finish();
}

/**
 * A binary google.rpc.Status: the body of an OTLP/HTTP protobuf error reply, and the value of
 * gRPC's `grpc-status-details-bin` trailer.
 */
export function encodeStatusProto(s: StatusReply): Uint8Array {
  const w = protobuf.Writer.create();
  if (s.code !== 0) w.uint32(0x08).int32(s.code); // code = 1
  if (s.message !== '') w.uint32(0x12).string(s.message); // message = 2
  if (s.retryDelayMs !== undefined) {
    w.uint32(0x1a).fork(); // details = 3, a google.protobuf.Any
    w.uint32(0x0a).string(RETRY_INFO_TYPE_URL); // Any.type_url = 1
    w.uint32(0x12).bytes(retryInfoProto(s.retryDelayMs)); // Any.value = 2
    w.ldelim();
  }
  return w.finish();
}

/** Duration in the JSON mapping: seconds with 0, 3, 6 or 9 fractional digits, then `s`. */
function durationJson(ms: number): string {
  const { seconds, nanos } = duration(ms);
  if (nanos === 0) return `${seconds}s`;
  let frac = String(nanos).padStart(9, '0');
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  return `${seconds}.${frac}s`;
}

/** google.rpc.Status in the JSON mapping; a RetryInfo detail is an Any with an `@type`. */
export function encodeStatusJson(s: StatusReply): string {
  const status: { code?: number; message?: string; details?: object[] } = {};
  if (s.code !== 0) status.code = s.code;
  if (s.message !== '') status.message = s.message;
  if (s.retryDelayMs !== undefined) status.details = [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: durationJson(s.retryDelayMs) }];
  return JSON.stringify(status);
}
