/**
 * Agents' HTTP/1.1 connections written by hand on `net` sockets, for the push benches: a
 * prebuilt request per push, and of the answer only the head and `Content-Length` are read. A
 * library client (undici) costs the generator a few times more CPU per push, CPU it takes from
 * the server on a small machine, and its collections read as server latency.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** A POST with a body, as bytes ready to write. */
export function postRequest(port: number, path: string, contentType: string, body: Uint8Array): Buffer {
  const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** An answer: its status and its head (status line and headers, latin1). */
export interface RawAnswer {
  status: number;
  head: string;
}

/** A header's value in an answer's head, by lowercase name. */
export function headerValue(head: string, name: string): string | undefined {
  const at = head.toLowerCase().indexOf(`\r\n${name}:`);
  if (at < 0) return undefined;
  const end = head.indexOf('\r\n', at + 2);
  return head.slice(at + name.length + 3, end < 0 ? undefined : end).trim();
}

export interface RawHttpConnection {
  socket: Socket;
  /** Sends `request` once the answers before it are in (no pipelining); the answer, or what went wrong. */
  send(request: Buffer): Promise<RawAnswer | string>;
}

export async function rawHttpConnection(port: number): Promise<RawHttpConnection> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, 'connect');
  const waiting: { request: Buffer; resolve: (answer: RawAnswer | string) => void }[] = [];
  let pending: Buffer | undefined;
  const failAll = (why: string) => {
    for (const w of waiting.splice(0)) w.resolve(why);
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending ? Buffer.concat([pending, chunk]) : chunk;
    const end = pending.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = pending.toString('latin1', 0, end);
    const length = headerValue(head, 'content-length');
    if (length === undefined) {
      socket.destroy();
      failAll(`an answer without Content-Length: ${JSON.stringify(head)}`);
      return;
    }
    const total = end + 4 + Number(length);
    if (pending.length < total) return;
    const extra = pending.length - total;
    pending = undefined;
    waiting.shift()!.resolve(extra > 0 ? `${extra} bytes after the answer` : { status: Number(head.slice(9, 12)), head });
    if (waiting.length > 0) socket.write(waiting[0]!.request);
  });
  socket.on('error', (err) => failAll(String(err)));
  socket.on('close', () => failAll('the server closed the connection'));
  return {
    socket,
    send: (request) =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve('the connection is closed');
        waiting.push({ request, resolve });
        if (waiting.length === 1) socket.write(request);
      }),
  };
}
