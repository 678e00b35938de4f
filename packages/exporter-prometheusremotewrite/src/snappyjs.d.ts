// snappyjs ships no types. Its two functions work on Uint8Array (and Buffer, ArrayBuffer).
declare module 'snappyjs' {
  const snappy: {
    /** Snappy block format, which remote write requires (not the framed format). */
    compress(input: Uint8Array): Uint8Array;
    uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
  };
  export default snappy;
}
