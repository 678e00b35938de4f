/**
 * Cutting series into requests: at most `maxSamples` samples (native histograms count one) and
 * `maxBytes` encoded bytes (before compression) each, in the order given. The memory queue's
 * shards cut when they send; the persistent queue's requests are cut when a batch is queued.
 */
import type { Protocol, RequestBuilder } from './encode.ts';
import type { RemoteSeries } from './series.ts';
import { snappyCompress } from './snappy.ts';

export interface RequestLimits {
  maxSamples: number;
  maxBytes: number;
}

/** A request ready to send: encoded and snappy-compressed once. */
export interface FormedRequest {
  protocol: Protocol;
  /** Snappy-compressed request body. */
  body: Uint8Array;
  samples: number;
  histograms: number;
  series: number;
}

/** Appends `series` to `into`, cut in several (samples first, then histograms) when it holds more than `limit`. */
export function cut(series: RemoteSeries, limit: number, into: RemoteSeries[]): void {
  const n = series.samples.length + series.histograms.length;
  if (n === 0) return;
  if (n <= limit) {
    into.push(series);
    return;
  }
  for (let i = 0; i < series.samples.length; i += limit) {
    into.push({ ...series, samples: series.samples.slice(i, i + limit), histograms: [] });
  }
  for (let i = 0; i < series.histograms.length; i += limit) {
    into.push({ ...series, samples: [], histograms: series.histograms.slice(i, i + limit) });
  }
}

/**
 * Adds `series[start]`, `series[start + 1]`, … to `builder` until the next one would pass a
 * limit (the first always goes in, however big), and returns the index after the last added.
 * Each series must already be cut to `maxSamples`.
 */
export function fill(builder: RequestBuilder, series: readonly RemoteSeries[], start: number, limits: RequestLimits): number {
  let samples = 0;
  let i = start;
  while (i < series.length) {
    const s = series[i]!;
    const n = s.samples.length + s.histograms.length;
    if (i > start && samples + n > limits.maxSamples) break;
    builder.add(s);
    if (i > start && builder.size() > limits.maxBytes) {
      builder.undo();
      break;
    }
    samples += n;
    i++;
  }
  return i;
}

/** Encodes `series` (in order) as requests within `limits`, each compressed. */
export function formRequests(builder: RequestBuilder, series: readonly RemoteSeries[], limits: RequestLimits): FormedRequest[] {
  const pieces: RemoteSeries[] = [];
  for (const s of series) cut(s, limits.maxSamples, pieces);
  const out: FormedRequest[] = [];
  for (let i = 0; i < pieces.length; ) {
    builder.reset();
    const end = fill(builder, pieces, i, limits);
    let samples = 0;
    let histograms = 0;
    for (let k = i; k < end; k++) {
      samples += pieces[k]!.samples.length;
      histograms += pieces[k]!.histograms.length;
    }
    out.push({ protocol: builder.protocol, body: snappyCompress(builder.finish()), samples, histograms, series: end - i });
    i = end;
  }
  builder.reset();
  return out;
}
