/**
 * The remote-write exporter: translate → queue → shards → requests.
 *
 * `consume` translates a batch into Prometheus series, splits them by shard (the hash of their
 * labels) and appends them to the queue, then resolves: the data is accepted, not yet sent. A
 * full memory queue refuses with a retryable error; a full persistent queue drops its oldest
 * entries instead. Each shard takes its entries in order, cuts them into requests of at most
 * `max_samples_per_send` samples and `max_bytes_per_send` bytes (waiting up to
 * `batch_send_deadline` for a request to fill), and sends one request at a time, retrying 5xx,
 * 429, timeouts and network errors with backoff until it is delivered. Any other 4xx drops the
 * request: its samples are counted and the answer logged.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  countDataPoints,
  DURATION_BUCKETS,
  exporterDeliveryCounters,
  parseDuration,
  parseSize,
  permanentError,
  retryableError,
  type CreateSettings,
  type Exporter,
  type MetricsBatch,
} from '@skein/core';
import snappy from 'snappyjs';
import { RemoteWriteClient, type PostResult } from './client.ts';
import type { RemoteWriteConfig } from './config.ts';
import { requestBuilder, type Protocol, type RequestBuilder } from './encode.ts';
import { PersistentQueue } from './persistent-queue.ts';
import { MemoryQueue, QueueFullError, type EntryInput, type QueueEntry, type SeriesQueue } from './queue.ts';
import { backoffMs, isRetryableStatus, parseRetryAfter } from './retry.ts';
import { sampleCount, type RemoteSeries } from './series.ts';
import { apportion, conformSeries, seriesHash } from './shard.ts';

/** What the exporter needs from `@skein/prometheus-translation`. */
export type TranslateFn = (
  batch: MetricsBatch,
  opts: { addMetricSuffixes?: boolean; resourceToTelemetryConversion?: boolean; externalLabels?: Record<string, string>; targetInfo?: boolean },
) => { series: RemoteSeries[]; dropped: Record<string, number> };

/** Request durations from 10 ms to 10 s: the range a remote store answers in. */
export const PUSH_DURATION_BUCKETS = DURATION_BUCKETS.filter((b) => b >= 0.01);

export const RemoteWriteMetricNames = {
  requests: 'skein_remote_write_requests_total',
  requestDuration: 'skein_remote_write_request_duration_seconds',
  lastSuccess: 'skein_remote_write_last_success_timestamp_seconds',
  seriesLastPush: 'skein_remote_write_series_last_push',
  samplesSent: 'skein_remote_write_samples_sent_total',
  samplesRetried: 'skein_remote_write_samples_retried_total',
  samplesDropped: 'skein_remote_write_samples_dropped_total',
  shards: 'skein_remote_write_shards',
  queueSize: 'skein_exporter_queue_size',
  queueCapacity: 'skein_exporter_queue_capacity',
} as const;

export interface RemoteWriteExporter extends Exporter {
  /** The protocol in use: the configured one, or `v1` after a 2.0 fallback. */
  readonly protocol: Protocol;
  /** The queue, once started. */
  readonly queue: SeriesQueue | undefined;
}

/** One queue entry being sent, with what has been counted of it so far. */
interface InFlight {
  entry: QueueEntry;
  done: number;
  credited: number;
}

/** A request's worth of one series (a series with more samples than a request holds is cut). */
interface Piece {
  series: RemoteSeries;
  samples: number;
  owner: InFlight;
}

type Outcome = { sent: number; dropped: number; reason: string } | 'stopped';

export function createRemoteWriteExporter(settings: CreateSettings<RemoteWriteConfig>, translate: TranslateFn): RemoteWriteExporter {
  const { config, logger, telemetry } = settings;
  const sending = config.sending;
  const maxSamples = sending.max_samples_per_send;
  const maxBytes = parseSize(sending.max_bytes_per_send);
  const deadlineMs = parseDuration(sending.batch_send_deadline);
  const minBackoffMs = parseDuration(sending.min_backoff);
  const maxBackoffMs = parseDuration(sending.max_backoff);
  const maxElapsedMs = parseDuration(sending.max_elapsed_time);
  const drainMs = parseDuration(config.queue.drain_timeout);
  const translateOpts = {
    addMetricSuffixes: config.add_metric_suffixes,
    resourceToTelemetryConversion: config.resource_to_telemetry_conversion,
    externalLabels: config.external_labels,
    targetInfo: config.target_info.enabled,
  };

  const delivery = exporterDeliveryCounters(telemetry);
  const m = {
    requests: telemetry.counter({
      name: RemoteWriteMetricNames.requests,
      help: 'Remote-write requests, by HTTP status code (`timeout` and `error` when no answer came).',
      labelNames: ['status_code'],
    }),
    duration: telemetry.histogram({
      name: RemoteWriteMetricNames.requestDuration,
      help: 'Duration of remote-write requests, each attempt on its own.',
      buckets: PUSH_DURATION_BUCKETS,
    }),
    lastSuccess: telemetry.gauge({
      name: RemoteWriteMetricNames.lastSuccess,
      help: 'Unix time of the last request the store accepted (0: none yet).',
    }),
    seriesLastPush: telemetry.gauge({ name: RemoteWriteMetricNames.seriesLastPush, help: 'Series in the last request the store accepted.' }),
    sent: telemetry.counter({ name: RemoteWriteMetricNames.samplesSent, help: 'Samples (native histograms count one) the store accepted.' }),
    retried: telemetry.counter({
      name: RemoteWriteMetricNames.samplesRetried,
      help: 'Samples in requests that failed and were tried again, by reason.',
      labelNames: ['reason'],
    }),
    dropped: telemetry.counter({
      name: RemoteWriteMetricNames.samplesDropped,
      help: 'Samples accepted by the exporter and then lost for good, by reason.',
      labelNames: ['reason'],
    }),
    shards: telemetry.gauge({ name: RemoteWriteMetricNames.shards, help: 'Shards sending in parallel.' }),
    queueSize: telemetry.gauge({ name: RemoteWriteMetricNames.queueSize, help: "Samples in the exporter's queue, being sent included." }),
    queueCapacity: telemetry.gauge({ name: RemoteWriteMetricNames.queueCapacity, help: "Most samples the exporter's queue holds." }),
  };
  m.lastSuccess.set(0);
  m.seriesLastPush.set(0);
  m.sent.inc(0);

  let protocol: Protocol = config.protocol;
  let queue: SeriesQueue | undefined;
  let client: RemoteWriteClient | undefined;
  let state: 'created' | 'running' | 'draining' | 'stopped' = 'created';
  let loops: Promise<void>[] = [];
  let stopping: Promise<void> | undefined;
  const stop = new AbortController();
  /** Resolvers of shards waiting for entries. */
  const waiters: ((() => void) | undefined)[] = [];
  const builders = new Map<string, RequestBuilder>();

  const updateQueueGauge = () => m.queueSize.set(queue?.size() ?? 0);

  const wake = (shard: number) => {
    const w = waiters[shard];
    waiters[shard] = undefined;
    w?.();
  };

  /** Resolves when woken, after `ms` (if given), or on stop. */
  const waitForWork = (shard: number, ms?: number) =>
    new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        stop.signal.removeEventListener('abort', done);
        resolve();
      };
      waiters[shard] = done;
      if (ms !== undefined) timer = setTimeout(done, ms);
      stop.signal.addEventListener('abort', done, { once: true });
    });

  const builderFor = (shard: number): RequestBuilder => {
    const key = `${shard}/${protocol}`;
    let b = builders.get(key);
    if (!b) {
      b = requestBuilder(protocol, { sendMetadata: config.send_metadata });
      builders.set(key, b);
    }
    return b;
  };

  /** Counts what a finished request means in data points, per entry, so the totals add up. */
  const credit = (pieces: readonly Piece[], outcome: { sent: number; dropped: number; reason: string }) => {
    let points = 0;
    for (const p of pieces) {
      const f = p.owner;
      f.done += p.samples;
      const target = f.done >= f.entry.samples ? f.entry.points : Math.floor((f.entry.points * f.done) / f.entry.samples);
      points += target - f.credited;
      f.credited = target;
    }
    const total = outcome.sent + outcome.dropped;
    const failedPoints = total === 0 ? 0 : Math.round((points * outcome.dropped) / total);
    if (points - failedPoints > 0) delivery.sent.inc(points - failedPoints);
    if (failedPoints > 0) delivery.failed.inc(failedPoints, { reason: outcome.reason });
  };

  const fallBackToV1 = (why: string) => {
    if (protocol === 'v1') return;
    protocol = 'v1';
    logger.warn('the store does not take remote write 2.0; falling back to 1.0 for the rest of this run', { endpoint: config.endpoint, why });
  };

  /** The number of elements a 2.0 store says it wrote, or undefined when it sent no `*-Written` header. */
  const written = (headers: PostResult['headers']): number | undefined => {
    let any = false;
    let n = 0;
    for (const kind of ['samples', 'histograms']) {
      const v = headers[`x-prometheus-remote-write-${kind}-written`];
      if (v === undefined) continue;
      any = true;
      n += Number(Array.isArray(v) ? v[0] : v) || 0;
    }
    if (headers['x-prometheus-remote-write-exemplars-written'] !== undefined) any = true;
    return any ? n : undefined;
  };

  /** Sends one request until it is delivered, dropped, or the exporter stops. */
  const sendRequest = async (shard: number, pieces: readonly Piece[], samples: number): Promise<Outcome> => {
    let builder = builderFor(shard);
    let body = snappy.compress(builder.finish());
    const started = Date.now();
    for (let attempt = 0; ; ) {
      const t0 = performance.now();
      let res: PostResult | undefined;
      let failure: unknown;
      try {
        res = await client!.post(body, builder.protocol, stop.signal);
      } catch (err) {
        failure = err;
      }
      m.duration.observe((performance.now() - t0) / 1000);
      if (stop.signal.aborted) return 'stopped';

      let reason: string;
      let retryAfterMs: number | undefined;
      if (res) {
        m.requests.inc(1, { status_code: String(res.status) });
        const ok = res.status >= 200 && res.status < 300;
        const v2Refused = builder.protocol === 'v2' && (res.status === 415 || (ok && written(res.headers) === undefined));
        if (v2Refused) {
          // A 1.0 store answers 415, or decodes the 2.0 body as an empty 1.0 request and says 2xx
          // without the *-Written headers (the 2.0 spec says to treat that as a 415).
          fallBackToV1(res.status === 415 ? '415 Unsupported Media Type' : `${res.status} without X-Prometheus-Remote-Write-*-Written headers`);
          builder.reset();
          builder = builderFor(shard);
          builder.reset();
          for (const p of pieces) builder.add(p.series);
          body = snappy.compress(builder.finish());
          continue;
        }
        if (ok) {
          const w = builder.protocol === 'v2' ? written(res.headers)! : samples;
          const notWritten = Math.max(0, samples - w);
          m.sent.inc(samples - notWritten);
          m.lastSuccess.set(Date.now() / 1000);
          m.seriesLastPush.set(builder.series);
          if (notWritten > 0) {
            m.dropped.inc(notWritten, { reason: 'not_written' });
            logger.warn('the store accepted the request but wrote fewer samples than sent', { shard, samples, written: w });
          }
          return { sent: samples - notWritten, dropped: notWritten, reason: 'not_written' };
        }
        if (!isRetryableStatus(res.status)) {
          const reasonDropped = `http_${res.status}`;
          m.dropped.inc(samples, { reason: reasonDropped });
          logger.error('the store refused a request; its samples are dropped (a 4xx other than 429 is not retried)', {
            shard,
            status_code: res.status,
            samples,
            series: builder.series,
            body: res.errorBody,
          });
          return { sent: 0, dropped: samples, reason: reasonDropped };
        }
        reason = `http_${res.status}`;
        retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      } else {
        const timedOut = isTimeout(failure);
        m.requests.inc(1, { status_code: timedOut ? 'timeout' : 'error' });
        reason = timedOut ? 'timeout' : 'network';
      }

      m.retried.inc(samples, { reason });
      const delayMs = retryAfterMs ?? backoffMs(attempt, minBackoffMs, maxBackoffMs);
      if (maxElapsedMs > 0 && Date.now() + delayMs - started > maxElapsedMs) {
        m.dropped.inc(samples, { reason: 'retries_exhausted' });
        logger.error('gave up on a request after max_elapsed_time; its samples are dropped', { shard, samples, reason, max_elapsed_time: sending.max_elapsed_time });
        return { sent: 0, dropped: samples, reason: 'retries_exhausted' };
      }
      attempt++;
      logger.warn('remote write failed; retrying', {
        shard,
        attempt,
        reason,
        delay_ms: Math.round(delayMs),
        retry_after_ms: retryAfterMs,
        samples,
        ...(res ? { body: res.errorBody } : { err: failure }),
      });
      try {
        await sleepFor(delayMs, undefined, { signal: stop.signal });
      } catch {
        return 'stopped';
      }
    }
  };

  /** Sends entries a shard took, in order; false when the exporter stopped part-way. */
  const sendEntries = async (shard: number, entries: readonly QueueEntry[]): Promise<boolean> => {
    const pieces: Piece[] = [];
    for (const entry of entries) {
      const owner: InFlight = { entry, done: 0, credited: 0 };
      for (const s of entry.series) cut(s, owner, maxSamples, pieces);
    }
    let i = 0;
    while (i < pieces.length) {
      const builder = builderFor(shard);
      builder.reset();
      const included: Piece[] = [];
      let samples = 0;
      while (i < pieces.length) {
        const p = pieces[i]!;
        if (included.length > 0 && samples + p.samples > maxSamples) break;
        builder.add(p.series);
        if (included.length > 0 && builder.size() > maxBytes) {
          builder.undo();
          break;
        }
        included.push(p);
        samples += p.samples;
        i++;
      }
      const outcome = await sendRequest(shard, included, samples);
      if (outcome === 'stopped') {
        if (queue!.kind === 'memory') {
          // Lost with the process: count what was not counted yet, and forget the entries.
          let lostSamples = 0;
          let lostPoints = 0;
          for (const f of new Set(pieces.map((p) => p.owner))) {
            lostSamples += f.entry.samples - f.done;
            lostPoints += f.entry.points - f.credited;
          }
          m.dropped.inc(lostSamples, { reason: 'shutdown' });
          if (lostPoints > 0) delivery.failed.inc(lostPoints, { reason: 'shutdown' });
          queue!.ack(shard, entries.at(-1)!.id);
        }
        return false;
      }
      credit(included, outcome);
    }
    return true;
  };

  const runShard = async (shard: number): Promise<void> => {
    let deadline: number | undefined;
    while (!stop.signal.aborted) {
      const q = queue!;
      const pending = q.pending(shard);
      if (pending === 0) {
        deadline = undefined;
        if (state !== 'running') return;
        await waitForWork(shard);
        continue;
      }
      if (pending < maxSamples && state === 'running') {
        deadline ??= Date.now() + deadlineMs;
        const left = deadline - Date.now();
        if (left > 0) {
          await waitForWork(shard, left);
          continue;
        }
      }
      deadline = undefined;
      const entries = q.take(shard, maxSamples);
      if (!(await sendEntries(shard, entries))) return;
      q.ack(shard, entries.at(-1)!.id);
      updateQueueGauge();
    }
  };

  return {
    mutatesData: false,
    reportsDelivery: true,

    get protocol() {
      return protocol;
    },
    get queue() {
      return queue;
    },

    start() {
      if (state !== 'created') return;
      const shards = sending.shards;
      if (config.queue.directory) {
        const pq = new PersistentQueue({ directory: config.queue.directory, capacity: config.queue.capacity, shards, sync: config.queue.sync });
        if (pq.shardsFromFile) {
          logger.warn('the persistent queue holds entries split for another shard count; using it until restarted with an empty queue', {
            configured: shards,
            used: pq.shards,
          });
        }
        if (pq.size() > 0) logger.info('sending what the persistent queue kept from the last run', { samples: pq.size(), file: pq.file });
        queue = pq;
      } else {
        queue = new MemoryQueue(config.queue.capacity, shards);
      }
      client = new RemoteWriteClient(config, { connections: queue.shards, timeoutMs: parseDuration(config.timeout) });
      m.shards.set(queue.shards);
      m.queueCapacity.set(queue.capacity);
      updateQueueGauge();
      state = 'running';
      loops = Array.from({ length: queue.shards }, (_, s) =>
        runShard(s).catch((err) => {
          logger.error('a remote-write shard stopped on an unexpected error', { shard: s, err });
        }),
      );
    },

    async consume(batch) {
      if (state !== 'running') throw retryableError('the remote-write exporter is not running', { reason: 'not_running' });
      const q = queue!;
      const points = countDataPoints(batch);
      const { series, dropped } = translate(batch, translateOpts);
      let droppedPoints = 0;
      for (const [reason, n] of Object.entries(dropped)) {
        if (n > 0) delivery.failed.inc(n, { reason });
        droppedPoints += n;
      }
      const byShard: RemoteSeries[][] = Array.from({ length: q.shards }, () => []);
      for (const raw of series) {
        if (raw.samples.length === 0 && raw.histograms.length === 0) continue;
        const s = conformSeries(raw);
        if ('invalid' in s) {
          m.dropped.inc(raw.samples.length + raw.histograms.length, { reason: s.invalid });
          logger.warn('a series cannot be sent and is dropped', { reason: s.invalid, labels: raw.labels });
          continue;
        }
        byShard[seriesHash(s) % q.shards]!.push(s);
      }
      const parts: EntryInput[] = [];
      for (let shard = 0; shard < byShard.length; shard++) {
        const list = byShard[shard]!;
        if (list.length > 0) parts.push({ shard, series: list, samples: sampleCount(list), points: 0 });
      }
      if (parts.length === 0) return;
      const shares = apportion(Math.max(0, points - droppedPoints), parts.map((p) => p.samples));
      parts.forEach((p, i) => (p.points = shares[i]!));
      const accepted = shares.reduce((a, b) => a + b, 0);
      let displaced;
      try {
        displaced = q.push(parts);
      } catch (err) {
        if (!(err instanceof QueueFullError)) throw err;
        const tooBig = parts.reduce((a, p) => a + p.samples, 0) > q.capacity;
        delivery.failed.inc(accepted, { reason: tooBig ? 'too_large' : 'queue_full' });
        if (tooBig) throw permanentError(`a batch of ${parts.reduce((a, p) => a + p.samples, 0)} samples is larger than the queue (capacity ${q.capacity})`, { reason: 'too_large' });
        throw retryableError(`the remote-write queue is full (${q.size()} of ${q.capacity} samples)`, { reason: 'queue_full', retryAfterMs: 1000 });
      }
      if (displaced.samples > 0) {
        m.dropped.inc(displaced.samples, { reason: 'queue_overflow' });
        delivery.failed.inc(displaced.points, { reason: 'queue_overflow' });
        logger.warn('the persistent queue is full; dropped its oldest samples', { samples: displaced.samples, capacity: q.capacity });
      }
      updateQueueGauge();
      for (const p of parts) if (q.pending(p.shard) >= maxSamples || waiters[p.shard]) wake(p.shard);
    },

    shutdown() {
      stopping ??= (async () => {
        if (state === 'created') {
          state = 'stopped';
          return;
        }
        state = 'draining';
        for (let s = 0; s < waiters.length; s++) wake(s);
        const timer = setTimeout(() => stop.abort(), drainMs);
        await Promise.all(loops);
        clearTimeout(timer);
        stop.abort();
        const q = queue!;
        if (q instanceof MemoryQueue) {
          const left = q.remaining();
          if (left.samples > 0) {
            m.dropped.inc(left.samples, { reason: 'shutdown' });
            delivery.failed.inc(left.points, { reason: 'shutdown' });
            logger.warn('shutdown: samples still queued in memory are dropped', { samples: left.samples, drain_timeout: config.queue.drain_timeout });
          }
        } else if (q.size() > 0) {
          logger.info('shutdown: samples stay in the persistent queue for the next start', { samples: q.size() });
        }
        q.close();
        updateQueueGauge();
        await client!.close();
        state = 'stopped';
      })();
      return stopping;
    },
  };
}

/** A series with more samples than fit in one request is cut into several, in order. */
function cut(series: RemoteSeries, owner: InFlight, limit: number, into: Piece[]): void {
  const n = series.samples.length + series.histograms.length;
  if (n === 0) return;
  if (n <= limit) {
    into.push({ series, samples: n, owner });
    return;
  }
  for (let i = 0; i < series.samples.length; i += limit) {
    const samples = series.samples.slice(i, i + limit);
    into.push({ series: { ...series, samples, histograms: [] }, samples: samples.length, owner });
  }
  for (let i = 0; i < series.histograms.length; i += limit) {
    const histograms = series.histograms.slice(i, i + limit);
    into.push({ series: { ...series, samples: [], histograms }, samples: histograms.length, owner });
  }
}

function isTimeout(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e.name === 'TimeoutError' || (e as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' || (e as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') return true;
  }
  return false;
}
