/**
 * Strings off the wire. OTLP repeats the same short strings in every point (attribute keys,
 * their values, metric names, units), and making each one anew costs a call into Node's UTF-8
 * decoder and then a string-table lookup when it becomes a property key. A small cache of
 * recently seen short strings hands back the same string instead: bench/receiver-otlp/
 * decode.bench.ts measures the decoder with it.
 *
 * The cache is a fixed direct-mapped table (a slot is overwritten on collision), so it is
 * bounded whatever the input: SLOTS × MAX_CACHED_BYTES bytes plus the strings themselves.
 */
import type protobuf from 'protobufjs/minimal.js';

const SLOTS = 4096; // a power of two
const MAX_CACHED_BYTES = 32;

const cachedBytes = new Uint8Array(SLOTS * MAX_CACHED_BYTES);
const cachedLength = new Int32Array(SLOTS).fill(-1);
const cachedString: string[] = new Array<string>(SLOTS).fill('');

/** The length-delimited UTF-8 string at the reader's position (invalid sequences become U+FFFD). */
export function readString(r: protobuf.Reader): string {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len) throw new RangeError(`index out of range: ${start} + ${len} > ${r.len}`);
  r.pos = end;
  if (len === 0) return '';
  // The decoder always reads a Buffer (see decodeMetricsRequestProto).
  const buf = r.buf as Buffer;
  if (len > MAX_CACHED_BYTES) return buf.toString('utf8', start, end);

  let hash = len;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i], 0x0100_0193);
  const slot = (hash ^ (hash >>> 15)) & (SLOTS - 1);
  const at = slot * MAX_CACHED_BYTES;
  if (cachedLength[slot] === len) {
    let i = 0;
    while (i < len && cachedBytes[at + i] === buf[start + i]) i++;
    if (i === len) return cachedString[slot];
  }
  const s = buf.toString('utf8', start, end);
  cachedBytes.set(buf.subarray(start, end), at);
  cachedLength[slot] = len;
  cachedString[slot] = s;
  return s;
}
