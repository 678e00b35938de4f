/**
 * How the persistent queue stores series: 1.0's TimeSeries fields (labels=1, samples=2,
 * histograms=4, so doubles keep every bit, stale markers included) plus the metadata the 2.0
 * protocol needs (type=16, help=17, unit=18, family=19, created=20). A record is a list of
 * such series at field 1.
 */
import { writeHistograms, writeLabels, writeSamples } from './encode.ts';
import { ProtoReader } from './proto-reader.ts';
import { LEN, ProtoWriter, VARINT } from './proto-writer.ts';
import { PROM_TYPE_NUMBER, type BucketSpan, type NativeHistogram, type PromType, type RemoteSeries } from './series.ts';

const TYPE_BY_NUMBER = Object.fromEntries(Object.entries(PROM_TYPE_NUMBER).map(([k, v]) => [v, k])) as Record<number, PromType>;

const writer = new ProtoWriter();

export function encodeRecord(series: readonly RemoteSeries[]): Uint8Array {
  const w = writer;
  w.reset();
  for (const s of series) {
    w.tag(1, LEN);
    const m = w.fork(2);
    writeLabels(w, 1, s);
    writeSamples(w, 2, s);
    writeHistograms(w, 4, s);
    w.tag(16, VARINT);
    w.varint(PROM_TYPE_NUMBER[s.type]);
    w.tag(17, LEN);
    w.string(s.help);
    w.tag(18, LEN);
    w.string(s.unit);
    w.tag(19, LEN);
    w.string(s.familyName);
    if (s.createdTimestampMs !== undefined) {
      w.tag(20, VARINT);
      w.int64(s.createdTimestampMs);
    }
    w.join(m);
  }
  return w.bytes().slice();
}

export function decodeRecord(buf: Uint8Array): RemoteSeries[] {
  const r = new ProtoReader(buf);
  const out: RemoteSeries[] = [];
  while (!r.done()) {
    const tag = r.varint();
    if (tag >>> 3 !== 1 || (tag & 7) !== LEN) {
      r.skip(tag & 7);
      continue;
    }
    out.push(readSeries(r.sub()));
  }
  return out;
}

function readSeries(r: ProtoReader): RemoteSeries {
  const s: RemoteSeries = { labels: [], samples: [], histograms: [], type: 'unknown', help: '', unit: '', familyName: '' };
  while (!r.done()) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1: {
        const lr = r.sub();
        let name = '';
        let value = '';
        while (!lr.done()) {
          const t = lr.varint();
          if (t >>> 3 === 1) name = lr.string();
          else if (t >>> 3 === 2) value = lr.string();
          else lr.skip(t & 7);
        }
        s.labels.push({ name, value });
        break;
      }
      case 2: {
        const sr = r.sub();
        let value = 0;
        let timestampMs = 0;
        while (!sr.done()) {
          const t = sr.varint();
          if (t >>> 3 === 1) value = sr.double();
          else if (t >>> 3 === 2) timestampMs = sr.int64();
          else sr.skip(t & 7);
        }
        s.samples.push({ value, timestampMs });
        break;
      }
      case 4: {
        s.histograms.push(readHistogram(r.sub()));
        break;
      }
      case 16:
        s.type = TYPE_BY_NUMBER[r.varint()] ?? 'unknown';
        break;
      case 17:
        s.help = r.string();
        break;
      case 18:
        s.unit = r.string();
        break;
      case 19:
        s.familyName = r.string();
        break;
      case 20:
        s.createdTimestampMs = r.int64();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return s;
}

function readHistogram(r: ProtoReader): NativeHistogram {
  const h: NativeHistogram = {
    timestampMs: 0,
    count: 0,
    sum: 0,
    schema: 0,
    zeroThreshold: 0,
    zeroCount: 0,
    negativeSpans: [],
    negativeDeltas: [],
    positiveSpans: [],
    positiveDeltas: [],
    resetHint: 0,
  };
  while (!r.done()) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        h.count = r.varint();
        break;
      case 3:
        h.sum = r.double();
        break;
      case 4:
        h.schema = r.sint();
        break;
      case 5:
        h.zeroThreshold = r.double();
        break;
      case 6:
        h.zeroCount = r.varint();
        break;
      case 8:
        h.negativeSpans.push(readSpan(r));
        break;
      case 9:
        readDeltas(r, h.negativeDeltas);
        break;
      case 11:
        h.positiveSpans.push(readSpan(r));
        break;
      case 12:
        readDeltas(r, h.positiveDeltas);
        break;
      case 14:
        h.resetHint = r.varint() as NativeHistogram['resetHint'];
        break;
      case 15:
        h.timestampMs = r.int64();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return h;
}

function readSpan(r: ProtoReader): BucketSpan {
  const sr = r.sub();
  const span = { offset: 0, length: 0 };
  while (!sr.done()) {
    const t = sr.varint();
    if (t >>> 3 === 1) span.offset = sr.sint();
    else if (t >>> 3 === 2) span.length = sr.varint();
    else sr.skip(t & 7);
  }
  return span;
}

function readDeltas(r: ProtoReader, into: number[]): void {
  const dr = r.sub();
  while (!dr.done()) into.push(dr.sint());
}
