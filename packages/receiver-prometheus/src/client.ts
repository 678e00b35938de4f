/**
 * The HTTP side of a scrape: one undici keep-alive agent per scrape config (its TLS and auth),
 * Prometheus's Accept header, gzip, and `body_size_limit` enforced while reading.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Agent } from 'undici';
import type { ScrapeConfig } from './config.ts';

const gunzipAsync = promisify(gunzip);

/** What Prometheus 2.x asks for: OpenMetrics first, then the text format. */
export const ACCEPT_HEADER = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

export const USER_AGENT = `skein/${(JSON.parse(readFileSync(new URL(import.meta.resolve('@skein/receiver-prometheus/package.json')), 'utf8')) as { version: string }).version}`;

/** Why a scrape's request failed; `reason` is the self-metric's label. */
export class FetchError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'FetchError';
    this.reason = reason;
  }
}

export interface Fetched {
  /** UTF-8, decompressed, in the chunks it arrived in (the parser reads them without joining them). */
  body: Buffer[];
  contentType: string | undefined;
}

export class ScrapeClient {
  readonly #agent: Agent;
  readonly #sc: ScrapeConfig;
  readonly #bodyLimit: number;

  constructor(sc: ScrapeConfig, bodyLimit: number) {
    this.#sc = sc;
    this.#bodyLimit = bodyLimit;
    const tls = sc.tls_config;
    this.#agent = new Agent({
      keepAliveTimeout: 60_000,
      pipelining: 1,
      connections: 1,
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
  }

  async #authorization(): Promise<string | undefined> {
    const { basic_auth: basic, authorization: auth } = this.#sc;
    if (basic) {
      const password = basic.password_file !== undefined ? (await readFile(basic.password_file, 'utf8')).trim() : (basic.password ?? '');
      return `Basic ${Buffer.from(`${basic.username}:${password}`).toString('base64')}`;
    }
    if (auth) {
      const credentials = auth.credentials_file !== undefined ? (await readFile(auth.credentials_file, 'utf8')).trim() : (auth.credentials ?? '');
      return `${auth.type} ${credentials}`;
    }
    return undefined;
  }

  /** GETs `url`; throws a FetchError for a non-2xx status, a timeout, a network error or a body over the limit. */
  async fetch(url: string, timeoutMs: number, stop: AbortSignal): Promise<Fetched> {
    const u = new URL(url);
    const headers: Record<string, string> = {
      accept: ACCEPT_HEADER,
      'accept-encoding': 'gzip',
      'user-agent': USER_AGENT,
      'x-prometheus-scrape-timeout-seconds': String(timeoutMs / 1000),
    };
    if (u.username !== '' || u.password !== '') throw new FetchError('config', 'credentials in the target URL are not supported; use basic_auth');
    let authorization: string | undefined;
    try {
      authorization = await this.#authorization();
    } catch (err) {
      throw new FetchError('auth_file', `cannot read the credentials file: ${(err as Error).message}`, { cause: err });
    }
    if (authorization !== undefined) headers.authorization = authorization;
    // One controller and one timer per scrape: AbortSignal.any and AbortSignal.timeout cost
    // more than the rest of a small scrape.
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    const onStop = () => abort.abort();
    stop.addEventListener('abort', onStop, { once: true });
    try {
      const res = await this.#agent.request({ origin: u.origin, path: `${u.pathname}${u.search}`, method: 'GET', headers, signal: abort.signal });
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await res.body.dump().catch(() => {});
        throw new FetchError(`http_${res.statusCode}`, `server returned HTTP status ${res.statusCode}`);
      }
      const limit = this.#bodyLimit;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        // Compressed bytes are never more than what they decompress to: the limit holds for them too.
        if (limit > 0 && size >= limit) {
          res.body.destroy();
          throw new FetchError('body_size_limit', `body size limit exceeded (limit ${limit} bytes)`);
        }
        chunks.push(chunk as Buffer);
      }
      let body: Buffer[] = chunks;
      const encoding = res.headers['content-encoding'];
      if (typeof encoding === 'string' && encoding.toLowerCase() === 'gzip') {
        try {
          body = [await gunzipAsync(Buffer.concat(chunks, size), limit > 0 ? { maxOutputLength: Math.max(1, limit - 1) } : {})];
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new FetchError('body_size_limit', `body size limit exceeded (limit ${limit} bytes, uncompressed)`);
          }
          throw new FetchError('gzip', `cannot decompress the gzip body: ${(err as Error).message}`, { cause: err });
        }
      }
      const ct = res.headers['content-type'];
      return { body, contentType: Array.isArray(ct) ? ct[0] : ct };
    } catch (err) {
      if (err instanceof FetchError) throw err;
      if (timedOut) throw new FetchError('timeout', `scrape timed out after ${timeoutMs / 1000}s`, { cause: err });
      if (stop.aborted) throw new FetchError('stopped', 'scrape stopped', { cause: err });
      throw new FetchError('network', networkMessage(err), { cause: err });
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}

function networkMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code;
  const message = e.message || e.cause?.message || String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
