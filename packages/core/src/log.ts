/**
 * Structured logs: one JSON object per line when stderr is not a terminal (for collectors),
 * a readable line when it is (for people).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** `json`, `text`, or `auto` (text on a terminal). */
  format?: 'json' | 'text' | 'auto';
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
  /** Is the destination a terminal (for `auto`); defaults to stderr's. */
  isTTY?: boolean;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message, name: value.name };
    if ('code' in value) out.code = (value as { code: unknown }).code;
    return out;
  }
  return value;
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v, jsonSafe) ?? String(v);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const tty = opts.isTTY ?? Boolean(process.stderr.isTTY);
  const json = opts.format === 'json' || ((opts.format ?? 'auto') === 'auto' && !tty);
  const min = rank[level];

  const make = (bound: LogFields): Logger => {
    const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
      if (rank[lvl] < min) return;
      const all = fields ? { ...bound, ...fields } : bound;
      if (json) {
        const time = new Date().toISOString();
        // The record's own keys win over fields of the same name.
        const record: LogFields = { time: undefined, level: undefined, msg: undefined, ...all };
        record.time = time;
        record.level = lvl;
        record.msg = msg;
        write(JSON.stringify(record, jsonSafe));
      } else {
        const kv = Object.entries(all)
          .map(([k, v]) => `${k}=${textValue(v)}`)
          .join(' ');
        write(`${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}${kv ? ' ' + kv : ''}`);
      }
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (fields) => make({ ...bound, ...fields }),
      isLevelEnabled: (l) => rank[l] >= min,
    };
  };
  return make({});
}

/** A logger that discards everything (tests, benchmarks). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });
