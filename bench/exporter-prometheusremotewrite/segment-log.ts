/**
 * The alternative the persistent queue was measured against (queue.bench.ts): an append-only
 * segment log. Records are `[length u32][crc32 u32][body]` appended to 8 MiB segment files;
 * acknowledging writes the highest acknowledged sequence number to an `ack` file and deletes
 * segments whose records are all acknowledged; opening scans the segments and cuts a torn tail.
 * It keeps the bodies of unacknowledged records in memory, so reading them back costs nothing
 * here: the comparison favours the log.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const SEGMENT_BYTES = 8 * 2 ** 20;

export class SegmentLog {
  readonly #dir: string;
  readonly #sync: boolean;
  #fd = -1;
  #segment = 0;
  #segmentBytes = 0;
  #nextSeq = 1;
  readonly #ackFd: number;
  /** Unacknowledged records: seq → body, and which segment each lives in. */
  readonly #bodies = new Map<number, Uint8Array>();
  readonly #segmentOf = new Map<number, number>();
  readonly #header = Buffer.alloc(8);
  readonly #ackBuf = Buffer.alloc(8);

  constructor(dir: string, opts: { sync?: boolean } = {}) {
    this.#dir = dir;
    this.#sync = opts.sync ?? false;
    mkdirSync(dir, { recursive: true });
    closeSync(openSync(join(dir, 'ack'), 'a'));
    this.#ackFd = openSync(join(dir, 'ack'), 'r+');
    const segments = readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .sort();
    let acked = 0;
    try {
      acked = Number(readFileSync(join(dir, 'ack')).readBigUInt64LE(0));
    } catch {
      acked = 0;
    }
    for (const f of segments) {
      const n = Number(f.slice(0, -4));
      const buf = readFileSync(join(dir, f));
      let at = 0;
      while (at + 8 <= buf.length) {
        const len = buf.readUInt32LE(at);
        const sum = buf.readUInt32LE(at + 4);
        if (at + 8 + len > buf.length || crc32(buf.subarray(at + 8, at + 8 + len)) !== sum) break; // torn tail
        const seq = this.#nextSeq++;
        if (seq > acked) {
          this.#bodies.set(seq, buf.subarray(at + 8, at + 8 + len));
          this.#segmentOf.set(seq, n);
        }
        at += 8 + len;
      }
      this.#segment = n;
    }
    this.#open(this.#segment + 1);
  }

  #open(n: number): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#segment = n;
    this.#segmentBytes = 0;
    this.#fd = openSync(join(this.#dir, `${String(n).padStart(12, '0')}.seg`), 'a');
  }

  append(body: Uint8Array): number {
    if (this.#segmentBytes > SEGMENT_BYTES) this.#open(this.#segment + 1);
    this.#header.writeUInt32LE(body.length, 0);
    this.#header.writeUInt32LE(crc32(body), 4);
    writeSync(this.#fd, this.#header);
    writeSync(this.#fd, body);
    if (this.#sync) fsyncSync(this.#fd);
    this.#segmentBytes += 8 + body.length;
    const seq = this.#nextSeq++;
    this.#bodies.set(seq, body);
    this.#segmentOf.set(seq, this.#segment);
    return seq;
  }

  read(seq: number): Uint8Array | undefined {
    return this.#bodies.get(seq);
  }

  ack(seq: number): void {
    const segment = this.#segmentOf.get(seq);
    this.#bodies.delete(seq);
    this.#segmentOf.delete(seq);
    this.#ackBuf.writeBigUInt64LE(BigInt(seq));
    writeSync(this.#ackFd, this.#ackBuf, 0, 8, 0);
    if (this.#sync) fsyncSync(this.#ackFd);
    // A finished segment with no unacknowledged record left goes.
    if (segment !== undefined && segment < this.#segment && ![...this.#segmentOf.values()].includes(segment)) {
      unlinkSync(join(this.#dir, `${String(segment).padStart(12, '0')}.seg`));
    }
  }

  close(): void {
    closeSync(this.#fd);
    closeSync(this.#ackFd);
  }
}
