/**
 * One remote-write endpoint: an undici keep-alive pool (one connection per shard), the
 * protocol's headers, auth and TLS. `post` never throws for an HTTP status: it reports what
 * came back, and throws only for network errors, timeouts and aborts.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Pool } from 'undici';
import type { Protocol } from './encode.ts';
import type { RemoteWriteConfig } from './config.ts';
import { RESERVED_HEADERS } from './config.ts';

/** Read once from this package's manifest: `User-Agent: skein/<version>`. */
export const USER_AGENT = `skein/${(JSON.parse(readFileSync(new URL(import.meta.resolve('@skein/exporter-prometheusremotewrite/package.json')), 'utf8')) as { version: string }).version}`;

export const CONTENT_TYPE: Readonly<Record<Protocol, string>> = {
  v1: 'application/x-protobuf',
  v2: 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
};
export const PROTOCOL_VERSION: Readonly<Record<Protocol, string>> = { v1: '0.1.0', v2: '2.0.0' };

/** How much of an error response body is kept for the log. */
export const ERROR_BODY_LIMIT = 512;

export interface PostResult {
  status: number;
  /** Lowercase header names. */
  headers: Record<string, string | string[] | undefined>;
  /** The body of a non-2xx answer, cut at ERROR_BODY_LIMIT bytes (`…` marks the cut). */
  errorBody: string;
}

export class RemoteWriteClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #fixed: Record<string, string>;
  readonly #auth: RemoteWriteConfig['auth'];
  readonly #timeoutMs: number;
  readonly #byProtocol: Partial<Record<Protocol, Record<string, string>>> = {};

  constructor(config: RemoteWriteConfig, opts: { connections: number; timeoutMs: number }) {
    const url = new URL(config.endpoint);
    this.#path = `${url.pathname}${url.search}`;
    this.#timeoutMs = opts.timeoutMs;
    this.#auth = config.auth;
    const tls = config.tls;
    this.#pool = new Pool(url.origin, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // The request's own AbortSignal carries the timeout; these only stop a stuck socket.
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: tls
        ? {
            ca: tls.ca_file ? readFileSync(tls.ca_file) : undefined,
            cert: tls.cert_file ? readFileSync(tls.cert_file) : undefined,
            key: tls.key_file ? readFileSync(tls.key_file) : undefined,
            servername: tls.server_name,
            rejectUnauthorized: !tls.insecure_skip_verify,
          }
        : undefined,
    });
    const fixed: Record<string, string> = {};
    for (const [name, value] of Object.entries(config.headers)) {
      // The validate hook refuses these; this keeps them out when a caller skipped it.
      if (!(RESERVED_HEADERS as readonly string[]).includes(name.toLowerCase())) fixed[name.toLowerCase()] = value;
    }
    if (config.auth?.bearer_token) fixed.authorization = `Bearer ${config.auth.bearer_token}`;
    if (config.auth?.basic) fixed.authorization = `Basic ${Buffer.from(`${config.auth.basic.username}:${config.auth.basic.password}`).toString('base64')}`;
    this.#fixed = fixed;
  }

  /** The headers of a request; built once per protocol unless the token is read from a file for each. */
  async #headers(protocol: Protocol): Promise<Record<string, string>> {
    const file = this.#auth?.bearer_token_file;
    if (file === undefined) return (this.#byProtocol[protocol] ??= this.#build(protocol, undefined));
    return this.#build(protocol, `Bearer ${(await readFile(file, 'utf8')).trim()}`);
  }

  #build(protocol: Protocol, authorization: string | undefined): Record<string, string> {
    const h: Record<string, string> = { ...this.#fixed };
    if (authorization !== undefined) h.authorization = authorization;
    // Last, so nothing configured can replace them.
    h['content-encoding'] = 'snappy';
    h['content-type'] = CONTENT_TYPE[protocol];
    h['x-prometheus-remote-write-version'] = PROTOCOL_VERSION[protocol];
    h['user-agent'] = USER_AGENT;
    return h;
  }

  /** Sends one compressed request. `stop` aborts it (shutdown); the timeout aborts it too. */
  async post(body: Uint8Array, protocol: Protocol, stop: AbortSignal): Promise<PostResult> {
    // One controller and one timer per request: AbortSignal.any and AbortSignal.timeout cost
    // more, and leave weak references for the garbage collector to process.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), this.#timeoutMs);
    const onStop = () => abort.abort(stop.reason);
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    try {
      const res = await this.#pool.request({ path: this.#path, method: 'POST', headers: await this.#headers(protocol), body, signal: abort.signal });
      const headers = res.headers as PostResult['headers'];
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump();
        return { status: res.statusCode, headers, errorBody: '' };
      }
      return { status: res.statusCode, headers, errorBody: await readLimited(res.body, ERROR_BODY_LIMIT) };
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}

async function readLimited(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  for await (const chunk of body) {
    chunks.push(Buffer.from(chunk));
    size += chunk.length;
    if (size > limit) {
      cut = true;
      body.destroy();
      break;
    }
  }
  const text = Buffer.concat(chunks).subarray(0, limit).toString('utf8');
  return cut ? `${text.replace(/\uFFFD+$/, '')}…` : text;
}
