/**
 * Prometheus' stale marker: a NaN with one particular payload, which ends a series.
 *
 * V8 keeps the payload in a variable or an object property, but sets the quiet bit (making it
 * 0x7ff8000000000002) when the value goes through a plain number array or arithmetic, and loses
 * it in structuredClone. Encoders therefore test with isStaleNaN, which accepts the quieted
 * form, and write STALE_NAN itself: `view.setFloat64(offset, isStaleNaN(v) ? STALE_NAN : v, true)`.
 */

const STALE_BITS = 0x7ff0000000000002n;
const QUIET_BIT = 0x0008000000000000n;

const scratch = new DataView(new ArrayBuffer(8));

function staleNaN(): number {
  scratch.setBigUint64(0, STALE_BITS);
  return scratch.getFloat64(0);
}

/** The float64 with bits 0x7ff0000000000002. */
export const STALE_NAN: number = staleNaN();

/** Whether `v` is the stale marker (its bits, or those bits with the quiet bit set). */
export function isStaleNaN(v: number): boolean {
  if (v === v) return false; // not NaN: the common case, without touching the DataView
  scratch.setFloat64(0, v);
  return (scratch.getBigUint64(0) & ~QUIET_BIT) === STALE_BITS;
}
