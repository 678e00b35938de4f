/**
 * Remote-write request bodies, before compression: 1.0's `prometheus.WriteRequest` and 2.0's
 * `io.prometheus.write.v2.Request` (field numbers in ../proto/). A builder adds series one at
 * a time and can take the last one back, so a request is cut exactly at the byte limit.
 */
import { labelFacts } from './label-facts.ts';
import { FIXED64, LEN, ProtoWriter, VARINT } from './proto-writer.ts';
import { PROM_TYPE_NUMBER, type NativeHistogram, type RemoteSeries } from './series.ts';

export type Protocol = 'v1' | 'v2';

/** A request under construction. */
export interface RequestBuilder {
  readonly protocol: Protocol;
  /** Series added so far. */
  readonly series: number;
  /** Bytes of the encoded request so far (uncompressed). */
  size(): number;
  add(series: RemoteSeries): void;
  /** Takes back the series added last (only the last one). */
  undo(): void;
  /** The encoded request: a view valid until the next `reset`. */
  finish(): Uint8Array;
  reset(): void;
}

export function requestBuilder(protocol: Protocol, opts: { sendMetadata?: boolean } = {}): RequestBuilder {
  return protocol === 'v1' ? new V1Builder(opts.sendMetadata ?? false) : new V2Builder();
}

/** Encodes `series` as one request (tests and benchmarks; the exporter uses a builder). */
export function encodeRequest(protocol: Protocol, series: readonly RemoteSeries[], opts: { sendMetadata?: boolean } = {}): Uint8Array {
  const b = requestBuilder(protocol, opts);
  for (const s of series) b.add(s);
  return b.finish().slice();
}

// Fields shared by both versions' Histogram and BucketSpan messages.
function writeHistogram(w: ProtoWriter, h: NativeHistogram): void {
  w.tag(1, VARINT); // count_int
  w.varint(h.count);
  w.tag(3, FIXED64);
  w.double(h.sum);
  w.tag(4, VARINT); // schema, sint32
  w.sint(h.schema);
  w.tag(5, FIXED64);
  w.double(h.zeroThreshold);
  w.tag(6, VARINT); // zero_count_int
  w.varint(h.zeroCount);
  writeSpans(w, 8, h.negativeSpans);
  writeDeltas(w, 9, h.negativeDeltas);
  writeSpans(w, 11, h.positiveSpans);
  writeDeltas(w, 12, h.positiveDeltas);
  if (h.resetHint !== 0) {
    w.tag(14, VARINT);
    w.varint(h.resetHint);
  }
  w.tag(15, VARINT);
  w.int64(h.timestampMs);
}

function writeSpans(w: ProtoWriter, field: number, spans: readonly { offset: number; length: number }[]): void {
  for (const span of spans) {
    w.tag(field, LEN);
    const m = w.fork();
    w.tag(1, VARINT);
    w.sint(span.offset);
    w.tag(2, VARINT);
    w.varint(span.length);
    w.join(m);
  }
}

function writeDeltas(w: ProtoWriter, field: number, deltas: readonly number[]): void {
  if (deltas.length === 0) return;
  w.tag(field, LEN); // packed sint64
  const m = w.fork();
  for (const d of deltas) w.sint(d);
  w.join(m);
}

const labelScratch = new ProtoWriter(4096);
/** Encoded labels are views into shared slabs, not an ArrayBuffer each. */
const SLAB_BYTES = 256 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function keep(bytes: Uint8Array): Uint8Array {
  if (bytes.length > SLAB_BYTES / 8) return bytes.slice();
  if (slabUsed + bytes.length > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const view = slab.subarray(slabUsed, slabUsed + bytes.length);
  view.set(bytes);
  slabUsed += bytes.length;
  return view;
}

/**
 * The series' labels as TimeSeries `labels` fields (field 1). They are encoded once per label
 * array (see label-facts.ts) and copied into every later request.
 */
export function writeLabels(w: ProtoWriter, series: RemoteSeries): void {
  const facts = labelFacts(series.labels);
  let raw = facts.encoded;
  if (raw === undefined) {
    const l = labelScratch;
    l.reset();
    for (const { name, value } of series.labels) {
      l.tag(1, LEN);
      const m = l.fork();
      l.tag(1, LEN);
      l.string(name);
      l.tag(2, LEN);
      l.string(value);
      l.join(m);
    }
    raw = keep(l.bytes());
    facts.encoded = raw;
  }
  w.raw(raw);
}

export function writeSamples(w: ProtoWriter, field: number, series: RemoteSeries): void {
  for (const s of series.samples) {
    w.tag(field, LEN);
    const m = w.fork();
    w.tag(1, FIXED64);
    w.double(s.value);
    w.tag(2, VARINT);
    w.int64(s.timestampMs);
    w.join(m);
  }
}

export function writeHistograms(w: ProtoWriter, field: number, series: RemoteSeries): void {
  for (const h of series.histograms) {
    w.tag(field, LEN);
    const m = w.fork(2);
    writeHistogram(w, h);
    w.join(m);
  }
}

/** 1.0: TimeSeries{labels=1, samples=2, histograms=4} at WriteRequest.timeseries=1, metadata=3. */
class V1Builder implements RequestBuilder {
  readonly protocol = 'v1';
  readonly #w = new ProtoWriter();
  readonly #sendMetadata: boolean;
  readonly #families = new Map<string, RemoteSeries>();
  #series = 0;
  #lastStart = 0;
  #lastFamilyAdded: string | undefined;

  constructor(sendMetadata: boolean) {
    this.#sendMetadata = sendMetadata;
  }

  get series(): number {
    return this.#series;
  }

  size(): number {
    return this.#w.pos;
  }

  add(series: RemoteSeries): void {
    const w = this.#w;
    this.#lastStart = w.pos;
    w.tag(1, LEN);
    const m = w.fork(2);
    writeLabels(w, series);
    writeSamples(w, 2, series);
    writeHistograms(w, 4, series);
    w.join(m);
    this.#series++;
    this.#lastFamilyAdded = undefined;
    if (this.#sendMetadata && !this.#families.has(series.familyName)) {
      this.#families.set(series.familyName, series);
      this.#lastFamilyAdded = series.familyName;
    }
  }

  undo(): void {
    this.#w.pos = this.#lastStart;
    this.#series--;
    if (this.#lastFamilyAdded !== undefined) this.#families.delete(this.#lastFamilyAdded);
    this.#lastFamilyAdded = undefined;
  }

  finish(): Uint8Array {
    const w = this.#w;
    for (const [family, s] of this.#families) {
      w.tag(3, LEN);
      const m = w.fork();
      w.tag(1, VARINT);
      w.varint(PROM_TYPE_NUMBER[s.type]);
      w.tag(2, LEN);
      w.string(family);
      w.tag(4, LEN);
      w.string(s.help);
      w.tag(5, LEN);
      w.string(s.unit);
      w.join(m);
    }
    this.#families.clear();
    return w.bytes();
  }

  reset(): void {
    this.#w.reset();
    this.#series = 0;
    this.#families.clear();
  }
}

/**
 * 2.0: the series are written to one buffer while their strings go into the symbol table;
 * `finish` writes the symbols (field 4) first and the series (field 5) after them.
 */
class V2Builder implements RequestBuilder {
  readonly protocol = 'v2';
  readonly #out = new ProtoWriter();
  readonly #body = new ProtoWriter();
  readonly #refs = new Map<string, number>();
  #symbols: string[] = [''];
  #symbolBytes = 0;
  #series = 0;
  #lastStart = 0;
  #lastSymbols = 1;

  constructor() {
    this.#refs.set('', 0);
  }

  get series(): number {
    return this.#series;
  }

  size(): number {
    return this.#body.pos + this.#symbolBytes + 2;
  }

  #ref(s: string): number {
    let r = this.#refs.get(s);
    if (r === undefined) {
      r = this.#symbols.length;
      this.#symbols.push(s);
      this.#refs.set(s, r);
      this.#symbolBytes += s.length + 2;
    }
    return r;
  }

  add(series: RemoteSeries): void {
    const w = this.#body;
    this.#lastStart = w.pos;
    this.#lastSymbols = this.#symbols.length;
    w.tag(5, LEN);
    const m = w.fork(2);
    w.tag(1, LEN); // labels_refs, packed uint32
    const lm = w.fork();
    for (const l of series.labels) {
      w.varint(this.#ref(l.name));
      w.varint(this.#ref(l.value));
    }
    w.join(lm);
    writeSamples(w, 2, series);
    writeHistograms(w, 3, series);
    w.tag(5, LEN); // metadata
    const mm = w.fork();
    w.tag(1, VARINT);
    w.varint(PROM_TYPE_NUMBER[series.type]);
    w.tag(3, VARINT);
    w.varint(this.#ref(series.help));
    w.tag(4, VARINT);
    w.varint(this.#ref(series.unit));
    w.join(mm);
    if (series.createdTimestampMs !== undefined && series.createdTimestampMs !== 0) {
      w.tag(6, VARINT);
      w.int64(series.createdTimestampMs);
    }
    w.join(m);
    this.#series++;
  }

  undo(): void {
    this.#body.pos = this.#lastStart;
    this.#series--;
    for (let i = this.#lastSymbols; i < this.#symbols.length; i++) {
      this.#refs.delete(this.#symbols[i]!);
      this.#symbolBytes -= this.#symbols[i]!.length + 2;
    }
    this.#symbols.length = this.#lastSymbols;
  }

  finish(): Uint8Array {
    const out = this.#out;
    out.reset();
    for (const s of this.#symbols) {
      out.tag(4, LEN);
      out.string(s);
    }
    out.raw(this.#body.bytes());
    return out.bytes();
  }

  reset(): void {
    this.#body.reset();
    this.#out.reset();
    this.#refs.clear();
    this.#refs.set('', 0);
    this.#symbols = [''];
    this.#symbolBytes = 0;
    this.#series = 0;
  }
}
