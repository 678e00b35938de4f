/**
 * Reads an HTTP request body with a byte limit counted twice: on the wire, and on what the
 * decompressor produces. The decompressor is destroyed as soon as its output passes the limit,
 * so a gzip bomb costs at most the limit plus one zlib chunk, never its inflated size.
 */
import type { IncomingMessage } from 'node:http';
import { constants, createGunzip, createInflate, createZstdDecompress, gunzip, inflate, type Gunzip, type Inflate, type ZstdDecompress } from 'node:zlib';

export type ContentEncoding = 'identity' | 'gzip' | 'deflate' | 'zstd';

export const SUPPORTED_ENCODINGS = 'gzip, deflate, zstd or none';

/** The encoding named by a `Content-Encoding` header, or undefined when it is not supported. */
export function parseContentEncoding(header: string | undefined): ContentEncoding | undefined {
  const value = (header ?? '').trim().toLowerCase();
  switch (value) {
    case '':
    case 'identity':
      return 'identity';
    case 'gzip':
    case 'x-gzip':
      return 'gzip';
    case 'deflate':
      return 'deflate';
    case 'zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

/** The body is larger than the limit, as sent (`wire`) or once decompressed. */
export class BodyTooLargeError extends Error {
  readonly stage: 'wire' | 'decompressed';
  constructor(limit: number, stage: 'wire' | 'decompressed') {
    super(`request body exceeds max_request_body_size (${limit} bytes)${stage === 'decompressed' ? ' after decompression' : ''}`);
    this.stage = stage;
  }
}

/** The body does not decompress with the encoding its header names. */
export class BadCompressionError extends Error {}

/** The client went away (or its request timed out) before the body was complete. */
export class BodyAbortedError extends Error {}

const ZSTD_WINDOW_LOG_MAX = 23;

function decompressor(encoding: Exclude<ContentEncoding, 'identity'>): Gunzip | Inflate | ZstdDecompress {
  switch (encoding) {
    case 'gzip':
      return createGunzip();
    case 'deflate':
      // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), as Go's and Node's clients send it.
      return createInflate();
    case 'zstd':
      // RFC 9659 §2: the zstd content coding uses windows of at most 8 MiB, and decoders may
      // refuse larger ones; a larger window would let a tiny frame claim a large buffer.
      return createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX } });
  }
}

/**
 * The whole body, decompressed. Rejects with BodyTooLargeError, BadCompressionError or
 * BodyAbortedError; after a rejection the rest of the body is read and discarded.
 */
export function readBody(req: IncomingMessage, encoding: ContentEncoding, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let outBytes = 0;
    let settled = false;
    const inflater = encoding === 'identity' ? undefined : decompressor(encoding);

    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      if (inflater) {
        inflater.removeAllListeners('data');
        inflater.removeAllListeners('end');
        inflater.on('error', () => {});
        if (err) inflater.destroy();
      }
      if (err) {
        chunks.length = 0;
        // Discard the rest as it comes, so a keep-alive connection stays usable; the reply closes
        // the connection instead when much is left (http.ts).
        req.resume();
        reject(err);
      } else {
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, outBytes));
      }
    };

    const collect = (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > limit) return finish(new BodyTooLargeError(limit, inflater ? 'decompressed' : 'wire'));
      chunks.push(chunk);
    };

    const onData = (chunk: Buffer) => {
      wireBytes += chunk.length;
      if (wireBytes > limit) return finish(new BodyTooLargeError(limit, 'wire'));
      if (!inflater) return collect(chunk);
      if (!inflater.write(chunk)) {
        req.pause();
        inflater.once('drain', () => {
          if (!settled) req.resume();
        });
      }
    };
    const onEnd = () => {
      if (inflater) inflater.end();
      else finish();
    };
    const onAbort = () => finish(new BodyAbortedError('the client closed the connection before sending the whole body'));
    const onClose = () => {
      if (!req.complete) onAbort();
    };

    if (inflater) {
      inflater.on('data', collect);
      inflater.on('end', () => finish());
      inflater.on('error', (err) => finish(new BadCompressionError(`request body is not valid ${encoding}: ${err.message}`)));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

/**
 * A gRPC message compressed with `grpc-encoding` gzip or deflate (the zlib format), inflated to
 * at most `limit` bytes: zlib stops at the limit. Rejects with BodyTooLargeError or
 * BadCompressionError.
 */
export function inflateMessage(message: Buffer, encoding: 'gzip' | 'deflate', limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: (Error & { code?: string }) | null, out: Buffer) => {
      if (!err) return resolve(out);
      if (err.code === 'ERR_BUFFER_TOO_LARGE') return reject(new BodyTooLargeError(limit, 'decompressed'));
      reject(new BadCompressionError(`message is not valid ${encoding}: ${err.message}`));
    };
    // maxOutputLength must be at least 1; an empty message inflates to nothing anyway.
    const options = { maxOutputLength: Math.max(1, limit) };
    if (encoding === 'gzip') gunzip(message, options, done);
    else inflate(message, options, done);
  });
}
