/**
 * The string forms config values take for durations (`30s`), sizes (`10MiB`) and listen or dial
 * addresses (`0.0.0.0:4318`). Each parser throws a RangeError on bad input; each `is*` says
 * whether the parser would accept it.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Nanoseconds per unit, as Go's time.ParseDuration reads them. */
const NS_PER_UNIT: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

// Sticky, so consecutive `<number><unit>` parts must cover the whole string. `ms` before `m`.
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Nanoseconds, or undefined when `s` is not a duration. Integer and fraction are scaled apart, so `0.1h` is exact. */
function durationNs(s: string): number | undefined {
  if (s === '0') return 0;
  if (s === '') return undefined;
  let ns = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < s.length) {
    const m = DURATION_PART.exec(s);
    if (!m) return undefined;
    const unit = NS_PER_UNIT[m[2]];
    const [int, frac = ''] = m[1].split('.');
    ns += Number(int || '0') * unit;
    if (frac) ns += (Number(frac) * unit) / 10 ** frac.length;
  }
  return Number.isFinite(ns) ? ns : undefined;
}

/** Milliseconds in a Go-style duration: `300ms`, `1.5s`, `2m`, `1h30m`, `10us`, `0`. No sign. */
export function parseDuration(s: string): number {
  const ns = durationNs(s);
  if (ns === undefined) throw new RangeError(`invalid duration ${JSON.stringify(s)}; write e.g. "30s" or "1m30s"`);
  return ns / 1e6;
}

export function isDuration(s: string): boolean {
  return durationNs(s) !== undefined;
}

function decimal(x: number): string {
  return String(Number(x.toFixed(9)));
}

/** The shortest duration string for `ms` that parseDuration reads back: `1h30m`, `1.5s`, `250ms`, `10us`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a duration`);
  if (ms < 0) return '-' + formatDuration(-ms);
  // Whole nanoseconds, so float noise (0.1 + 0.2) does not leak into the text.
  const ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${decimal(ns / 1e3)}us`;
  if (ns < 1e9) return `${decimal(ns / 1e6)}ms`;
  const h = Math.floor(ns / NS_PER_UNIT.h);
  const m = Math.floor((ns % NS_PER_UNIT.h) / NS_PER_UNIT.m);
  const s = (ns % NS_PER_UNIT.m) / NS_PER_UNIT.s;
  return (h ? `${h}h` : '') + (m ? `${m}m` : '') + (s ? `${decimal(s)}s` : '');
}

const BYTES_PER_UNIT: Record<string, number> = {
  '': 1,
  B: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
};

const SIZE = /^(\d+)(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$/;

function sizeBytes(s: string): number | undefined {
  const m = SIZE.exec(s);
  if (!m) return undefined;
  const bytes = Number(m[1]) * BYTES_PER_UNIT[m[2] ?? ''];
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bytes in a size: `512`, `512B`, `10KiB`, `10MiB`, `1GiB` (binary) or `10KB`, `10MB`, `1GB` (decimal). Units are case-sensitive. */
export function parseSize(s: string): number {
  const bytes = sizeBytes(s);
  if (bytes === undefined) throw new RangeError(`invalid size ${JSON.stringify(s)}; write e.g. "512KiB" or "10MiB"`);
  return bytes;
}

export function isSize(s: string): boolean {
  return sizeBytes(s) !== undefined;
}

// `[ipv6]:port`, or `host:port` where host has no colon and may be empty.
const HOST_PORT = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function hostPort(s: string): { host: string; port: number } | undefined {
  const m = HOST_PORT.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIPv6(m[1]) ? { host: m[1], port } : undefined;
  const host = m[2];
  if (host === '') return { host: '0.0.0.0', port };
  // All digits and dots is meant as an IPv4 address, so `10.0.0:80` is a typo, not a hostname.
  const valid = /^[\d.]+$/.test(host) ? isIPv4(host) : HOSTNAME.test(host);
  return valid ? { host, port } : undefined;
}

/** `host:port` with a hostname, an IPv4 address, `[ipv6]`, or nothing (`:4318`, all interfaces); port 0–65535. */
export function isHostPort(s: string): boolean {
  return hostPort(s) !== undefined;
}

/** Splits `host:port`; IPv6 comes back without brackets and an empty host as `0.0.0.0`. */
export function parseHostPort(s: string): { host: string; port: number } {
  const hp = hostPort(s);
  if (!hp) throw new RangeError(`invalid address ${JSON.stringify(s)}; write host:port, e.g. "0.0.0.0:4318"`);
  return hp;
}
