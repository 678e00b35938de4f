/**
 * A request body that cannot be decoded at all: garbage or truncated protobuf, a wrong wire
 * type, invalid JSON, a JSON field of the wrong type. The message says what and where; the
 * receiver answers it with 400 / INVALID_ARGUMENT and a google.rpc.Status carrying it.
 */
export class OtlpDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OtlpDecodeError';
  }
}
