/** Listening helpers every server component shares, so listen errors read the same everywhere. */
import type { Server } from 'node:net';
import { SkeinError, type ErrorCode } from './errors.ts';

/**
 * node:http for components, loaded the CommonJS way. `import … from 'node:http'` makes Node
 * build an ES module facade that reads every export, and http's lazy `WebSocket` getters then
 * load Node's bundled undici with crypto, tls, http2 and zlib: about 7 MiB of RSS for nothing.
 */
export const nodeHttp: typeof import('node:http') = process.getBuiltinModule('node:http');

/** `host:port`, with brackets around an IPv6 host. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A short reason for a failed listen, such as `address already in use`. */
export function listenReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'address not available on this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    default:
      return err.message;
  }
}

/**
 * Listens on host:port; rejects with a SkeinError `cannot serve <what> on host:port: reason`
 * (SKEIN_ERR_COMPONENT_START unless `code` says otherwise).
 */
export function listen(server: Server, opts: { host: string; port: number; what: string; code?: ErrorCode }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('error', onError);
      reject(
        new SkeinError(opts.code ?? 'SKEIN_ERR_COMPONENT_START', `cannot serve ${opts.what} on ${formatHostPort(opts.host, opts.port)}: ${listenReason(err)}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    try {
      server.listen(opts.port, opts.host, () => {
        server.off('error', onError);
        resolve();
      });
    } catch (err) {
      // A port out of range throws here instead of emitting 'error'.
      onError(err as NodeJS.ErrnoException);
    }
  });
}
