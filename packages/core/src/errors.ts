/**
 * Every error Skein reports to a user carries a stable code. The list below is the single
 * source of truth; docs/errors.md documents each code and a test keeps the two in step.
 */
export const ErrorCodes = {
  SKEIN_ERR_CONFIG_READ: 'a config file could not be read',
  SKEIN_ERR_CONFIG_PARSE: 'a config file is not valid YAML',
  SKEIN_ERR_CONFIG_ENV: 'an ${env:VAR} reference names an unset variable and gives no default, or is malformed',
  SKEIN_ERR_CONFIG_INVALID: 'a config value does not match its schema',
  SKEIN_ERR_INVALID_ID: 'a component or pipeline ID is not of the form type[/name]',
  SKEIN_ERR_UNKNOWN_TYPE: 'a component names a type that no registered factory provides',
  SKEIN_ERR_UNDECLARED_COMPONENT: 'a pipeline or the service names a component that is not declared',
  SKEIN_ERR_PIPELINE_NO_RECEIVER: 'a pipeline has no receiver',
  SKEIN_ERR_PIPELINE_NO_EXPORTER: 'a pipeline has no exporter',
  SKEIN_ERR_PIPELINE_DUPLICATE: 'a pipeline lists the same component twice',
  SKEIN_ERR_PIPELINE_SIGNAL: 'a pipeline is for a signal Skein does not carry',
  SKEIN_ERR_PIPELINE_CYCLE: 'pipelines joined by connectors form a cycle',
  SKEIN_ERR_NO_PIPELINES: 'the service declares no pipeline',
  SKEIN_ERR_CONNECTOR_UNUSED_SIDE: 'a connector is used as an exporter but never as a receiver, or the reverse',
  SKEIN_ERR_EXTENSION_NOT_FOUND: 'a component references an extension that is not enabled in service::extensions',
  SKEIN_ERR_EXTENSION_INTERFACE: 'a referenced extension does not implement the interface the component needs',
  SKEIN_ERR_COMPONENT_CREATE: "a component's factory threw while creating it",
  SKEIN_ERR_COMPONENT_START: 'a component failed to start',
  SKEIN_ERR_SHUTDOWN_TIMEOUT: 'the pipelines did not drain within the shutdown grace period',
  SKEIN_ERR_PLUGIN_LOAD: 'a plugin package or file could not be imported',
  SKEIN_ERR_PLUGIN_INVALID: 'a plugin does not export a well-formed factory',
  SKEIN_ERR_PLUGIN_DUPLICATE: 'two factories declare the same kind and type',
  SKEIN_ERR_RETRYABLE: 'a consumer refused data for now; the sender should retry later',
  SKEIN_ERR_PERMANENT: 'a consumer refused data for good; retrying will not help',
  SKEIN_ERR_MEMORY_LIMIT: 'the memory limiter refused data because the heap is over its limit',
  SKEIN_ERR_TELEMETRY_LISTEN: "Skein's own metrics endpoint could not listen on its address",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** Base class of every error Skein raises on purpose. */
export class SkeinError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SkeinError';
  }
}

/** One problem found in a config, with where it was found. */
export interface ConfigIssue {
  code: ErrorCode;
  /** `file:line:col: path: what is wrong`, ready to print. */
  message: string;
  file?: string;
  line?: number;
  col?: number;
  /** The `::`-joined key path, e.g. `receivers::otlp::protocols::http::endpoint`. */
  path: string;
}

/** Raised when a config has one or more errors; `issues` lists them all. */
export class ConfigError extends SkeinError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const first = issues[0];
    super(first ? first.code : 'SKEIN_ERR_CONFIG_INVALID', issues.map((i) => i.message).join('\n'));
    this.issues = issues;
    this.name = 'ConfigError';
  }
}

/**
 * A consumer's refusal. `retryable` tells the sender whether trying again later can succeed;
 * `reason` is a short snake_case word used as the `reason` label of refused-points counters.
 */
export class ConsumerError extends SkeinError {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly reason: string;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryable: boolean; retryAfterMs?: number; reason?: string; cause?: unknown },
  ) {
    super(code, message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
    this.reason = opts.reason ?? (opts.retryable ? 'retryable' : 'permanent');
    this.name = opts.retryable ? 'RetryableError' : 'PermanentError';
  }
}

/** Refuse data for now: queue full, memory limit, downstream unavailable. */
export function retryableError(
  message: string,
  opts: { retryAfterMs?: number; reason?: string; code?: ErrorCode; cause?: unknown } = {},
): ConsumerError {
  return new ConsumerError(opts.code ?? 'SKEIN_ERR_RETRYABLE', message, { ...opts, retryable: true });
}

/** Refuse data for good: it is malformed or can never be accepted. */
export function permanentError(
  message: string,
  opts: { reason?: string; code?: ErrorCode; cause?: unknown } = {},
): ConsumerError {
  return new ConsumerError(opts.code ?? 'SKEIN_ERR_PERMANENT', message, { ...opts, retryable: false });
}

/** Errors that are not ConsumerErrors (bugs, network failures) are treated as retryable. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ConsumerError ? err.retryable : true;
}

/** The `reason` label for a refusal. */
export function refusalReason(err: unknown): string {
  return err instanceof ConsumerError ? err.reason : 'error';
}
