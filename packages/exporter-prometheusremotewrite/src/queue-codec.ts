/**
 * Reading what the persistent queue stored back into series, for the two cases that need it:
 * - rows of the previous queue format (one record of series per consume and shard: 1.0's
 *   TimeSeries fields labels=1, samples=2, histograms=4, plus type=16, help=17, unit=18,
 *   family=19, created=20, each series at field 1), formed into requests when such a file is
 *   opened;
 * - a stored 2.0 request, re-encoded as 1.0 when the store turns out not to take 2.0.
 */
import { ProtoReader } from './proto-reader.ts';
import { LEN } from './proto-writer.ts';
import { PROM_TYPE_NUMBER, type BucketSpan, type NativeHistogram, type Label, type PromType, type RemoteSeries, type Sample } from './series.ts';

const TYPE_BY_NUMBER = Object.fromEntries(Object.entries(PROM_TYPE_NUMBER).map(([k, v]) => [v, k])) as Record<number, PromType>;

/** The series of one row of the previous queue format. */
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

/** A series of the previous format: labels as 1.0 Label messages, metadata in fields 16 to 20. */
function readSeries(r: ProtoReader): RemoteSeries {
  return readTimeSeries(r, 4, (field, s) => {
    switch (field) {
      case 1:
        s.labels.push(readLabel(r.sub()));
        return true;
      case 16:
        s.type = TYPE_BY_NUMBER[r.varint()] ?? 'unknown';
        return true;
      case 17:
        s.help = r.string();
        return true;
      case 18:
        s.unit = r.string();
        return true;
      case 19:
        s.familyName = r.string();
        return true;
      case 20:
        s.createdTimestampMs = r.int64();
        return true;
      default:
        return false;
    }
  });
}

/**
 * The fields both versions' TimeSeries share: samples (2) and histograms (`histogramsField`);
 * `other` reads the rest into the series and says whether it knew the field.
 */
function readTimeSeries(r: ProtoReader, histogramsField: number, other: (field: number, s: RemoteSeries) => boolean): RemoteSeries {
  const s: RemoteSeries = { labels: [], samples: [], histograms: [], type: 'unknown', help: '', unit: '', familyName: '' };
  while (!r.done()) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 2) s.samples.push(readSample(r.sub()));
    else if (field === histogramsField) s.histograms.push(readHistogram(r.sub()));
    else if (!other(field, s)) r.skip(tag & 7);
  }
  return s;
}

function readLabel(r: ProtoReader): Label {
  let name = '';
  let value = '';
  while (!r.done()) {
    const t = r.varint();
    if (t >>> 3 === 1) name = r.string();
    else if (t >>> 3 === 2) value = r.string();
    else r.skip(t & 7);
  }
  return { name, value };
}

/**
 * The series of a 2.0 request (uncompressed). 2.0 carries no family name, which 1.0's metadata
 * needs: it is the metric name without the suffix a classic histogram or summary adds.
 */
export function decodeV2Request(buf: Uint8Array): RemoteSeries[] {
  const r = new ProtoReader(buf);
  const symbols: string[] = [];
  const raw: ProtoReader[] = [];
  while (!r.done()) {
    const tag = r.varint();
    if (tag === ((4 << 3) | LEN)) symbols.push(r.string());
    else if (tag === ((5 << 3) | LEN)) raw.push(r.sub());
    else r.skip(tag & 7);
  }
  const sym = (i: number) => {
    const v = symbols[i];
    if (v === undefined) throw new RangeError(`symbol reference ${i} out of range (${symbols.length} symbols)`);
    return v;
  };
  return raw.map((sr) => readV2Series(sr, sym));
}

function readV2Series(r: ProtoReader, sym: (i: number) => string): RemoteSeries {
  const s = readTimeSeries(r, 3, (field, s) => {
    switch (field) {
      case 1: {
        const lr = r.sub();
        while (!lr.done()) s.labels.push({ name: sym(lr.varint()), value: sym(lr.varint()) });
        return true;
      }
      case 5: {
        const mr = r.sub();
        while (!mr.done()) {
          const t = mr.varint();
          if (t >>> 3 === 1) s.type = TYPE_BY_NUMBER[mr.varint()] ?? 'unknown';
          else if (t >>> 3 === 3) s.help = sym(mr.varint());
          else if (t >>> 3 === 4) s.unit = sym(mr.varint());
          else mr.skip(t & 7);
        }
        return true;
      }
      case 6: {
        const created = r.int64();
        if (created !== 0) s.createdTimestampMs = created;
        return true;
      }
      default:
        return false;
    }
  });
  const name = s.labels.find((l) => l.name === '__name__')?.value ?? '';
  s.familyName = s.histograms.length === 0 && CLASSIC_SUFFIXED.has(s.type) ? name.replace(/_(bucket|count|sum)$/, '') : name;
  return s;
}

/** Types whose classic series add `_bucket`, `_count` or `_sum` to the family name. */
const CLASSIC_SUFFIXED = new Set<PromType>(['histogram', 'gaugehistogram', 'summary']);

function readSample(r: ProtoReader): Sample {
  let value = 0;
  let timestampMs = 0;
  while (!r.done()) {
    const t = r.varint();
    if (t >>> 3 === 1) value = r.double();
    else if (t >>> 3 === 2) timestampMs = r.int64();
    else r.skip(t & 7);
  }
  return { value, timestampMs };
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
