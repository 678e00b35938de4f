/**
 * What a probe finds, and the small fixed set of error classes a failure is sorted into. The
 * same shape is recorded by the probes extension and returned by `GET /api/v1/probes`, so its
 * fields are snake_case, as they appear in that JSON.
 */

/**
 * Why a probe failed:
 *
 * - `refused`: the port answered with a reset (nothing listens, or a firewall rejects).
 * - `timeout`: no answer within the probe's timeout (a black hole, a dropping firewall, a stuck server).
 * - `dns`: the name does not resolve, or resolution did not finish within the timeout.
 * - `tls`: the TLS handshake failed or the certificate is not trusted (wrong CA, expired, wrong name).
 * - `status`: HTTP answered, but with an unexpected status code or a body that does not match.
 * - `reset`: the connection was cut after it was established.
 * - `unreachable`: no route to the host or network (EHOSTUNREACH, ENETUNREACH).
 * - `invalid`: the target itself is wrong (a bad URL or address in the targets file); not probed.
 * - `other`: anything else; the `error` text says what.
 */
export const ERROR_CLASSES = ['refused', 'timeout', 'dns', 'tls', 'status', 'reset', 'unreachable', 'invalid', 'other'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** Where a probe was when it ended: a failure's phase says which step failed. */
export type ProbePhase = 'dns' | 'connect' | 'tls' | 'request' | 'response' | 'body' | 'done';

/** What a probe function returns. */
export interface ProbeOutcome {
  reachable: boolean;
  error_class?: ErrorClass;
  /** A short sentence for people, e.g. `connect ECONNREFUSED 127.0.0.1:5432`. */
  error?: string;
  phase?: ProbePhase;
  /** From the start of the probe to its end (success or failure); absent when nothing was tried. */
  duration_seconds?: number;
  /** HTTP: the status code of the response, when one came. */
  status_code?: number;
  /** HTTPS: the server certificate's notAfter (ISO 8601), when the handshake showed one. */
  cert_not_after?: string;
  /** HTTPS: seconds from the probe until the certificate expires (negative once expired). */
  cert_remaining_seconds?: number;
}

/** One target's latest result, as the probes extension keeps it and its API returns it. */
export interface ProbeResult extends ProbeOutcome {
  /** ID of the receiver that probed it. */
  receiver: string;
  /** The target's name (its `name`, or else its endpoint or URL). */
  target: string;
  route?: string;
  /** `host:port` (tcpcheck) or the URL (httpcheck), as configured. */
  endpoint: string;
  /** HTTP method (httpcheck). */
  method?: string;
  /** When the probe ended, ISO 8601. */
  time: string;
}

/** `Error.code` values, sorted into classes. */
const CODE_CLASS: Record<string, ErrorClass> = {
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NONAME: 'dns',
  EAI_NODATA: 'dns',
  ENODATA: 'dns',
  ESERVFAIL: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ECONNRESET: 'reset',
  ECONNABORTED: 'reset',
  EPIPE: 'reset',
};

/** The `code` of an error, looking inside the AggregateError that happy-eyeballs connects raise. */
export function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[] } | undefined;
  if (typeof e?.code === 'string') return e.code;
  if (Array.isArray(e?.errors) && e.errors.length > 0) return errorCode(e.errors[0]);
  return undefined;
}

// OpenSSL's verification failures (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT,
// UNABLE_TO_GET_ISSUER_CERT_LOCALLY, ...) and Node's own TLS and SSL codes.
const TLS_CODE = /^ERR_SSL_|^ERR_TLS_|^EPROTO$|CERT|ISSUER|SIGNATURE/;

/**
 * The class of a failure that was not a timeout. The phase settles what the code leaves open:
 * anything going wrong during name resolution is `dns`, during the TLS handshake `tls`.
 */
export function classifyError(err: unknown, phase: ProbePhase): ErrorClass {
  const code = errorCode(err);
  const byCode = code === undefined ? undefined : CODE_CLASS[code];
  if (phase === 'dns') return 'dns';
  if (code !== undefined && TLS_CODE.test(code)) return 'tls';
  if (phase === 'tls' && byCode !== 'refused' && byCode !== 'unreachable') return 'tls';
  return byCode ?? 'other';
}

/** The message of an error, with its code when the message does not already say it. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errorCode(err);
  const msg = err.message || (err instanceof AggregateError ? (err.errors[0] as Error | undefined)?.message ?? '' : '');
  return code && !msg.includes(code) ? `${msg} (${code})`.trim() : msg;
}
