/**
 * One HTTP probe, on a fresh connection every time (no keep-alive, no proxy): resolve the
 * name, connect, for https do the TLS handshake and check the certificate, send the request,
 * read the status (and, for `body_match`, up to 1 MiB of the body), close.
 *
 * The connection is made here rather than by an http.Agent so that each step is known (a
 * timeout while resolving is `dns`, during the handshake it is a `timeout` in phase `tls`) and
 * so that the certificate is read, and checked, before a byte of the request is sent: the
 * handshake never rejects by itself, which lets an untrusted or expired certificate still
 * report its expiry.
 */
import type { ClientRequest } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { nodeHttp } from '@skein/core';
import { abortedOutcome, classifyError, errorText, type ProbeOutcome, type ProbePhase } from '@skein/probe-loop';

/** How much of the body `body_match` looks at. */
export const BODY_MATCH_LIMIT = 1 << 20;

const USER_AGENT = 'skein-httpcheck/0.1.0';

export interface HttpTarget {
  readonly url: URL;
  /** The URL's host without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  readonly method: string;
  readonly isExpected: (status: number) => boolean;
  /** The expected statuses as written, for messages: `2xx, 304`. */
  readonly expectedText: string;
  readonly bodyMatch?: RegExp;
  /** Lowercase names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Set for https URLs. */
  readonly tls?: { readonly insecure: boolean; readonly ca?: Buffer; readonly serverName?: string };
}

export function httpProbe(t: HttpTarget, signal: AbortSignal, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let phase: ProbePhase = isIP(t.host) ? 'connect' : 'dns';
    let done = false;
    let req: ClientRequest | undefined;
    const found: Pick<ProbeOutcome, 'status_code' | 'cert_not_after' | 'cert_remaining_seconds'> = {};

    const finish = (outcome: ProbeOutcome) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      req?.destroy();
      socket.destroy();
      resolve({ ...outcome, ...found, duration_seconds: (performance.now() - started) / 1000 });
    };
    const fail = (err: unknown) => finish({ reachable: false, error_class: classifyError(err, phase), error: errorText(err), phase });
    const onAbort = () => finish(abortedOutcome(signal.reason, phase, t.host, timeoutMs));

    const send = () => {
      phase = 'request';
      const auth = t.url.username ? `${decodeURIComponent(t.url.username)}:${decodeURIComponent(t.url.password)}` : undefined;
      req = nodeHttp.request({
        method: t.method,
        path: t.url.pathname + t.url.search,
        setHost: false,
        headers: { host: t.url.host, 'user-agent': USER_AGENT, accept: '*/*', connection: 'close', ...t.headers },
        ...(auth !== undefined && { auth }),
        createConnection: () => socket,
      });
      req.on('error', fail);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        found.status_code = status;
        res.on('error', fail);
        if (!t.isExpected(status)) {
          return finish({ reachable: false, error_class: 'status', error: `status ${status}, expected ${t.expectedText}`, phase: 'response' });
        }
        const pattern = t.bodyMatch;
        if (!pattern) return finish({ reachable: true });
        phase = 'body';
        let body = '';
        const judge = () =>
          finish(
            pattern.test(body)
              ? { reachable: true }
              : { reachable: false, error_class: 'status', error: `body does not match /${pattern.source}/`, phase: 'body' },
          );
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.length >= BODY_MATCH_LIMIT) {
            body = body.slice(0, BODY_MATCH_LIMIT);
            judge();
          }
        });
        res.on('end', judge);
      });
      req.end();
      phase = 'response';
    };

    let socket: Socket;
    if (t.tls) {
      // SNI takes a name, never an address; the certificate is then checked against the address.
      const servername = t.tls.serverName ?? (isIP(t.host) ? undefined : t.host);
      const tlsSocket: TLSSocket = tlsConnect({
        host: t.host,
        port: t.port,
        ...(servername !== undefined && { servername }),
        ...(t.tls.ca !== undefined && { ca: t.tls.ca }),
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      tlsSocket.once('secureConnect', () => {
        const cert = tlsSocket.getPeerCertificate();
        if (cert && typeof cert.valid_to === 'string') {
          const notAfter = new Date(cert.valid_to);
          if (!Number.isNaN(notAfter.getTime())) {
            found.cert_not_after = notAfter.toISOString();
            found.cert_remaining_seconds = Math.round((notAfter.getTime() - Date.now()) / 1000);
          }
        }
        if (!tlsSocket.authorized && !t.tls!.insecure) {
          return finish({
            reachable: false,
            error_class: 'tls',
            error: `certificate not trusted: ${String(tlsSocket.authorizationError)}`,
            phase: 'tls',
          });
        }
        send();
      });
      socket = tlsSocket;
    } else {
      socket = netConnect({ host: t.host, port: t.port });
    }
    socket.once('lookup', (err) => {
      if (!err) phase = 'connect';
    });
    socket.once('connect', () => {
      if (t.tls) phase = 'tls';
      else send();
    });
    socket.on('error', fail);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}
