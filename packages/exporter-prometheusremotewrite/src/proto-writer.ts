/**
 * A protobuf writer for the remote-write hot path: one growable buffer reused for every
 * request, ASCII strings copied without an encoder, and nested messages written in place (a
 * length is reserved, then fixed up, moving the body only when the guess was wrong). The
 * encode benchmark compares it with protobufjs's Writer (bench/exporter-prometheusremotewrite).
 */

const utf8 = new TextEncoder();

/** Wire types. */
export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;

export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  for (let x = Math.floor(v / 0x800000000); x > 0; x = Math.floor(x / 0x80)) n++;
  return n;
}

/** Prometheus's stale marker, 0x7ff0000000000002, as two 32-bit words; QUIET_HIGH is the quiet bit. */
const STALE_HIGH = 0x7ff00000;
const STALE_LOW = 0x00000002;
const QUIET_HIGH = 0x00080000;

export class ProtoWriter {
  buf: Uint8Array;
  pos = 0;
  #view: DataView;

  constructor(initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far: a view into the writer's buffer, valid until the next write. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.#view = new DataView(next.buffer);
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** A non-negative integer up to 2^53. */
  varint(v: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    if (v < 0x80000000) {
      while (v >= 0x80) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else {
      while (v >= 0x80) {
        buf[pos++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** int64: negative values take ten bytes (two's complement), as protobuf requires. */
  int64(v: number): void {
    if (v >= 0) return this.varint(v);
    let x = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }

  /** sint32/sint64 (zigzag), for integers within ±2^52. */
  sint(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /**
   * A double. V8 may set the quiet bit of a NaN on its way here, which would turn Prometheus's
   * stale marker (0x7ff0000000000002) into an ordinary NaN, so a quieted marker is written back
   * as the marker itself.
   */
  double(v: number): void {
    this.ensure(8);
    const view = this.#view;
    const at = this.pos;
    view.setFloat64(at, v, true);
    this.pos += 8;
    if (v === v) return;
    if (view.getUint32(at, true) === STALE_LOW && (view.getUint32(at + 4, true) & ~QUIET_HIGH) === STALE_HIGH) {
      view.setUint32(at + 4, STALE_HIGH, true);
    }
  }

  /** A length-prefixed UTF-8 string (the tag is the caller's). */
  string(s: string): void {
    const n = s.length;
    this.ensure(n + 5);
    const start = this.pos;
    if (n < 0x80) {
      // Likely ASCII, whose byte length is its character count: copy without an encoder.
      const buf = this.buf;
      let pos = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === n) {
        buf[start] = n;
        this.pos = pos;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    utf8.encodeInto(s, this.buf.subarray(this.pos, this.pos + bytes));
    this.pos += bytes;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Starts a length-delimited body, reserving `reserve` bytes for its length; pass the result to `join`. */
  fork(reserve = 1): number {
    this.ensure(reserve);
    const at = this.pos;
    this.pos += reserve;
    return at * 8 + reserve;
  }

  /** Writes the length of the body begun by `fork`, moving the body if the reserve was wrong. */
  join(mark: number): void {
    const at = Math.floor(mark / 8);
    const reserve = mark % 8;
    const bodyStart = at + reserve;
    const len = this.pos - bodyStart;
    const need = varintSize(len);
    if (need !== reserve) {
      this.ensure(need - reserve);
      this.buf.copyWithin(at + need, bodyStart, this.pos);
      this.pos += need - reserve;
    }
    let v = len;
    let p = at;
    while (v >= 0x80) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
  }
}
