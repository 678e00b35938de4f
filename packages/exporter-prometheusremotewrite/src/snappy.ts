/**
 * Snappy compression (the block format remote write requires) for request bodies. snappyjs
 * does the same job; this one reads four bytes at a time, keeps one hash table and one output
 * buffer for every call and allocates only the result, which the bridge bench showed to matter:
 * every request of every scrape goes through here. Decompression stays with snappyjs.
 *
 * The format: the uncompressed length as a varint, then literals and back-references (copies)
 * of at most 64 bytes. The input is compressed in blocks of 64 KiB, as the reference
 * implementation does, so every copy's offset fits in two bytes.
 */

const BLOCK = 1 << 16;
const HASH_BITS = 14;
const HASH_SHIFT = 32 - HASH_BITS;
/** Positions closer than this to a block's end start no match: the reference's margin. */
const MARGIN = 15;
/** After this many misses in a row the step between probes grows by one (incompressible runs go fast). */
const SKIP_LOG = 5;

/**
 * The last position of each hash: entries of an earlier block or call are only candidates, each
 * checked against the bytes before use, so the table is never cleared.
 */
const table = new Int32Array(1 << HASH_BITS);
let out = new Uint8Array(256 * 1024);
let outView = new DataView(out.buffer);

/** Room for the worst case, as the reference bounds it. */
function reserve(inputLength: number): void {
  const need = 32 + inputLength + Math.floor(inputLength / 6);
  if (out.length >= need) return;
  out = new Uint8Array(Math.max(need, out.length * 2));
  outView = new DataView(out.buffer);
}

/** `input`, snappy-compressed, in a new array of its own. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  reserve(input.length);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  let op = 0;
  for (let v = input.length; ; v >>>= 7) {
    if (v < 0x80) {
      out[op++] = v;
      break;
    }
    out[op++] = (v & 0x7f) | 0x80;
  }
  for (let start = 0; start < input.length; start += BLOCK) {
    op = compressBlock(input, view, start, Math.min(input.length, start + BLOCK), op);
  }
  return out.slice(0, op);
}

function compressBlock(src: Uint8Array, view: DataView, start: number, end: number, op: number): number {
  let pending = start;
  const last = end - MARGIN;
  let ip = start + 1;
  let misses = 1 << SKIP_LOG;
  while (ip <= last) {
    const word = view.getUint32(ip, true);
    const h = Math.imul(word, 0x1e35a7bd) >>> HASH_SHIFT;
    const candidate = table[h]!;
    table[h] = ip;
    if (candidate < start || candidate >= ip || view.getUint32(candidate, true) !== word) {
      ip += misses++ >>> SKIP_LOG;
      continue;
    }
    misses = 1 << SKIP_LOG;
    if (pending < ip) op = literal(src, pending, ip, op);
    let len = 4;
    while (ip + len + 4 <= end && view.getUint32(ip + len, true) === view.getUint32(candidate + len, true)) len += 4;
    while (ip + len < end && src[ip + len] === src[candidate + len]) len++;
    op = copies(ip - candidate, len, op);
    ip += len;
    pending = ip;
    // The position just before the next probe goes in the table too: runs that repeat with a
    // one-byte shift are found again.
    if (ip <= last) table[Math.imul(view.getUint32(ip - 1, true), 0x1e35a7bd) >>> HASH_SHIFT] = ip - 1;
  }
  if (pending < end) op = literal(src, pending, end, op);
  return op;
}

/** src[from, to) as a literal (at most a block, so its length fits in two bytes). */
function literal(src: Uint8Array, from: number, to: number, op: number): number {
  const n = to - from - 1;
  if (n < 60) {
    out[op++] = n << 2;
  } else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  }
  if (n < 16) {
    for (let i = from; i < to; i++) out[op++] = src[i]!;
    return op;
  }
  out.set(src.subarray(from, to), op);
  return op + n + 1;
}

/** A back-reference of `len` bytes at `offset` as copies of at most 64 bytes, the last one at least 4. */
function copies(offset: number, len: number, op: number): number {
  while (len >= 68) {
    op = copy(offset, 64, op);
    len -= 64;
  }
  if (len > 64) {
    op = copy(offset, 60, op);
    len -= 60;
  }
  return copy(offset, len, op);
}

function copy(offset: number, len: number, op: number): number {
  if (len < 12 && offset < 2048) {
    // One-byte offset form: 3 bits of length, 11 of offset.
    out[op] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[op + 1] = offset & 0xff;
    return op + 2;
  }
  out[op] = 2 | ((len - 1) << 2);
  outView.setUint16(op + 1, offset, true);
  return op + 3;
}
