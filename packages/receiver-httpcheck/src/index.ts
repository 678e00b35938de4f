/**
 * The `httpcheck` receiver probes upstreams with an HTTP request from where Skein runs, every
 * `collection_interval`: expected status codes, an optional body match, TLS with the
 * certificate's remaining lifetime as a metric. The loop, the targets file and the metrics
 * are shared with tcpcheck (@skein/probe-loop).
 */
import { readFileSync } from 'node:fs';
import { defineReceiver, nodeHttp, type Attributes, type ConfigProblem } from '@skein/core';
import { createProbeReceiver, isInvalid, validateProbeConfig, type ProbeKind, type TargetBase } from '@skein/probe-loop';
import { HttpCheckConfigSchema, HttpTargetSchema, type HttpTargetEntry } from './config.ts';
import { httpProbe, type HttpTarget } from './probe.ts';

export { HttpCheckConfigSchema, HTTP_METHODS, type HttpCheckConfig } from './config.ts';
export { BODY_MATCH_LIMIT, httpProbe } from './probe.ts';

type Target = TargetBase & HttpTarget;

function parseUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function entryProblems(entry: HttpTargetEntry): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const url = parseUrl(entry.url);
  if (!url) problems.push({ path: ['url'], message: `must be an http:// or https:// URL, got ${JSON.stringify(entry.url)}` });
  if (entry.body_match !== undefined) {
    try {
      new RegExp(entry.body_match);
    } catch (err) {
      problems.push({ path: ['body_match'], message: `must be a regular expression: ${(err as Error).message}` });
    }
    if (entry.method === 'HEAD') problems.push({ path: ['body_match'], message: 'cannot be used with method HEAD, whose response has no body' });
  }
  if (entry.tls !== undefined && url?.protocol === 'http:') {
    problems.push({ path: ['tls'], message: `applies only to https:// URLs, got ${JSON.stringify(entry.url)}` });
  }
  for (const [name, value] of Object.entries(entry.headers ?? {})) {
    try {
      nodeHttp.validateHeaderName(name);
      nodeHttp.validateHeaderValue(name, value);
    } catch (err) {
      problems.push({ path: ['headers', name], message: `is not a valid header: ${(err as Error).message}` });
    }
  }
  return problems;
}

/** `["2xx", 304]` → a test of a status code. */
function statusMatcher(expected: readonly (number | string)[]): (status: number) => boolean {
  const codes = new Set<number>();
  const classes = new Set<number>();
  for (const e of expected) {
    if (typeof e === 'number') codes.add(e);
    else classes.add(Number(e[0]));
  }
  return (status) => codes.has(status) || classes.has(Math.floor(status / 100));
}

function buildTarget(entry: HttpTargetEntry, base: TargetBase): Target {
  const url = parseUrl(entry.url)!;
  const https = url.protocol === 'https:';
  let tls: HttpTarget['tls'];
  if (https) {
    let ca: Buffer | undefined;
    if (entry.tls?.ca_file !== undefined) {
      try {
        ca = readFileSync(entry.tls.ca_file);
      } catch (err) {
        throw new Error(`cannot read tls.ca_file ${entry.tls.ca_file}: ${(err as Error).message}`, { cause: err });
      }
    }
    tls = {
      insecure: entry.tls?.insecure_skip_verify ?? false,
      ...(ca !== undefined && { ca }),
      ...(entry.tls?.server_name !== undefined && { serverName: entry.tls.server_name }),
    };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(entry.headers ?? {})) headers[name.toLowerCase()] = value;
  return {
    ...base,
    url,
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port ? Number(url.port) : https ? 443 : 80,
    method: entry.method,
    isExpected: statusMatcher(entry.expected_status),
    expectedText: entry.expected_status.join(', '),
    ...(entry.body_match !== undefined && { bodyMatch: new RegExp(entry.body_match) }),
    headers,
    ...(tls !== undefined && { tls }),
  };
}

export const httpCheck: ProbeKind<HttpTargetEntry, Target> = {
  type: 'httpcheck',
  scope: { name: '@skein/receiver-httpcheck', version: '0.1.0' },
  entrySchema: HttpTargetSchema,
  endpointKey: 'url',
  entryProblems,
  target: buildTarget,
  probe: httpProbe,
  attributes: (t): Attributes =>
    isInvalid(t) ? (t.endpoint ? { 'http.url': t.endpoint } : {}) : { 'http.url': t.endpoint, 'http.method': t.method },
  resultFields: (t) => (isInvalid(t) ? {} : { method: t.method }),
  extraSeries: [
    {
      name: 'httpcheck.status_code',
      unit: '',
      description: 'The status code of the last response; absent while requests get no response.',
      value: (r) => r.outcome.status_code,
    },
    {
      name: 'httpcheck.tls.cert_remaining',
      unit: 's',
      description: 'Seconds until the server certificate expires, negative once it has (https targets whose handshake showed a certificate).',
      value: (r) => r.outcome.cert_remaining_seconds,
    },
  ],
};

export const httpCheckReceiver = defineReceiver({
  type: 'httpcheck',
  description: 'Probes upstreams with an HTTP request at a fixed interval: reachability, latency, status, error class and TLS certificate expiry per target.',
  stability: 'alpha',
  configSchema: HttpCheckConfigSchema,
  validate: (config) => validateProbeConfig(httpCheck, config),
  create: (settings, next) => createProbeReceiver(httpCheck, settings, next),
});

export default httpCheckReceiver;
