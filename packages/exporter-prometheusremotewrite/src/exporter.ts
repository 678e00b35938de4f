/**
 * The remote-write exporter: translate → queue → shards → requests.
 *
 * `consume` translates a batch into Prometheus series, splits them by shard (the hash of their
 * labels) and appends them to the queue, then resolves: the data is accepted, not yet sent.
 * Requests hold at most `max_samples_per_send` samples and `max_bytes_per_send` bytes. With the
 * memory queue, a shard takes its series in order and cuts them into requests when it sends
 * (waiting up to `batch_send_deadline` for a request to fill); a full memory queue refuses with
 * a retryable error. With the persistent queue, `consume` cuts each shard's series into
 * requests, encodes and compresses them, and stores those; a shard sends them as stored (a
 * retry resends the same bytes); a full persistent queue drops its oldest requests. Each shard
 * sends one request at a time, retrying 5xx, 429, timeouts and network errors with backoff
 * until it is delivered. Any other 4xx drops the request: its samples are counted and the
 * answer logged.
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
import { PersistentQueue, type RequestInput } from './persistent-queue.ts';
import { decodeV2Request } from './queue-codec.ts';
import { MemoryQueue, QueueFullError, type Displaced, type EntryInput, type QueueEntry } from './queue.ts';
import { cut, fill, formRequests, type RequestLimits } from './requests.ts';
import { backoffMs, isRetryableStatus, parseRetryAfter } from './retry.ts';
import { sampleCount, type RemoteSeries } from './series.ts';
import { apportion, conformSeries, seriesHash } from './shard.ts';
import { snappyCompress } from './snappy.ts';

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
  readonly queue: MemoryQueue | PersistentQueue | undefined;
}

/** One memory-queue entry being sent, with what has been counted of it so far. */
interface InFlight {
  entry: QueueEntry;
  done: number;
  credited: number;
}

/** A request about to be sent. */
interface Outgoing {
  protocol: Protocol;
  /** Snappy-compressed. */
  body: Uint8Array;
  /** Samples, native histograms included. */
  samples: number;
  series: number;
  /** The same series as a compressed 1.0 body, for a store that does not take 2.0. */
  asV1: () => Uint8Array;
}

type Outcome = { sent: number; dropped: number; reason: string } | 'stopped';

export function createRemoteWriteExporter(settings: CreateSettings<RemoteWriteConfig>, translate: TranslateFn): RemoteWriteExporter {
  const { config, logger, telemetry } = settings;
  const sending = config.sending;
  const maxSamples = sending.max_samples_per_send;
  const limits: RequestLimits = { maxSamples, maxBytes: parseSize(sending.max_bytes_per_send) };
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
  let queue: MemoryQueue | PersistentQueue | undefined;
  let client: RemoteWriteClient | undefined;
  let state: 'created' | 'running' | 'draining' | 'stopped' = 'created';
  let loops: Promise<void>[] = [];
  let stopping: Promise<void> | undefined;
  const stop = new AbortController();
  /** Resolvers of shards waiting for entries. */
  const waiters: ((() => void) | undefined)[] = [];
  /** Builders are filled and compressed without an await in between, so one per protocol serves every shard. */
  const builders = new Map<Protocol, RequestBuilder>();

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

  const builderFor = (p: Protocol = protocol): RequestBuilder => {
    let b = builders.get(p);
    if (!b) {
      b = requestBuilder(p, { sendMetadata: config.send_metadata });
      builders.set(p, b);
    }
    return b;
  };

  /** `series` as one compressed 1.0 request. */
  const v1Body = (series: readonly RemoteSeries[]): Uint8Array => {
    const b = builderFor('v1');
    b.reset();
    for (const s of series) b.add(s);
    const body = snappyCompress(b.finish());
    b.reset();
    return body;
  };

  /** Counts a finished request's data points as sent or failed, in proportion to its samples. */
  const creditPoints = (points: number, outcome: { sent: number; dropped: number; reason: string }) => {
    const total = outcome.sent + outcome.dropped;
    const failedPoints = total === 0 ? 0 : Math.round((points * outcome.dropped) / total);
    if (points - failedPoints > 0) delivery.sent.inc(points - failedPoints);
    if (failedPoints > 0) delivery.failed.inc(failedPoints, { reason: outcome.reason });
  };

  /** Credits the memory-queue entries that `pieces[from..to)` came from, so their totals add up. */
  const creditEntries = (
    pieces: readonly RemoteSeries[],
    owners: readonly InFlight[],
    from: number,
    to: number,
    outcome: { sent: number; dropped: number; reason: string },
  ) => {
    let points = 0;
    for (let k = from; k < to; k++) {
      const f = owners[k]!;
      f.done += pieces[k]!.samples.length + pieces[k]!.histograms.length;
      const target = f.done >= f.entry.samples ? f.entry.points : Math.floor((f.entry.points * f.done) / f.entry.samples);
      points += target - f.credited;
      f.credited = target;
    }
    creditPoints(points, outcome);
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
  const sendRequest = async (shard: number, req: Outgoing): Promise<Outcome> => {
    const { samples, series } = req;
    let { protocol: sentAs, body } = req;
    if (sentAs === 'v2' && protocol === 'v1') {
      // Queued before this run fell back to 1.0 (or by a run configured for 2.0).
      body = req.asV1();
      sentAs = 'v1';
    }
    const started = Date.now();
    for (let attempt = 0; ; ) {
      const t0 = performance.now();
      let res: PostResult | undefined;
      let failure: unknown;
      try {
        res = await client!.post(body, sentAs, stop.signal);
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
        const v2Refused = sentAs === 'v2' && (res.status === 415 || (ok && written(res.headers) === undefined));
        if (v2Refused) {
          // A 1.0 store answers 415, or decodes the 2.0 body as an empty 1.0 request and says 2xx
          // without the *-Written headers (the 2.0 spec says to treat that as a 415).
          fallBackToV1(res.status === 415 ? '415 Unsupported Media Type' : `${res.status} without X-Prometheus-Remote-Write-*-Written headers`);
          body = req.asV1();
          sentAs = 'v1';
          continue;
        }
        if (ok) {
          const w = sentAs === 'v2' ? written(res.headers)! : samples;
          const notWritten = Math.max(0, samples - w);
          m.sent.inc(samples - notWritten);
          m.lastSuccess.set(Date.now() / 1000);
          m.seriesLastPush.set(series);
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
            series,
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

  /** Sends entries a memory-queue shard took, in order; false when the exporter stopped part-way. */
  const sendEntries = async (shard: number, q: MemoryQueue, entries: readonly QueueEntry[]): Promise<boolean> => {
    const pieces: RemoteSeries[] = [];
    /** The entry each piece came from. */
    const owners: InFlight[] = [];
    for (const entry of entries) {
      const owner: InFlight = { entry, done: 0, credited: 0 };
      for (const s of entry.series) cut(s, maxSamples, pieces);
      while (owners.length < pieces.length) owners.push(owner);
    }
    for (let i = 0; i < pieces.length; ) {
      const builder = builderFor();
      builder.reset();
      const end = fill(builder, pieces, i, limits);
      const included = pieces.slice(i, end);
      const body = snappyCompress(builder.finish());
      const outcome = await sendRequest(shard, { protocol: builder.protocol, body, samples: sampleCount(included), series: included.length, asV1: () => v1Body(included) });
      if (outcome === 'stopped') {
        // Lost with the process: count what was not counted yet, and forget the entries.
        let lostSamples = 0;
        let lostPoints = 0;
        for (const f of new Set(owners)) {
          lostSamples += f.entry.samples - f.done;
          lostPoints += f.entry.points - f.credited;
        }
        m.dropped.inc(lostSamples, { reason: 'shutdown' });
        if (lostPoints > 0) delivery.failed.inc(lostPoints, { reason: 'shutdown' });
        q.ack(shard, entries.at(-1)!.id);
        return false;
      }
      creditEntries(pieces, owners, i, end, outcome);
      i = end;
    }
    return true;
  };

  const runMemoryShard = async (shard: number, q: MemoryQueue): Promise<void> => {
    let deadline: number | undefined;
    while (!stop.signal.aborted) {
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
      if (!(await sendEntries(shard, q, entries))) return;
      q.ack(shard, entries.at(-1)!.id);
      updateQueueGauge();
    }
  };

  /** Sends the persistent queue's requests of `shard` as they were stored, oldest first. */
  const runStoredShard = async (shard: number, q: PersistentQueue): Promise<void> => {
    while (!stop.signal.aborted) {
      const req = q.take(shard);
      if (req === undefined) {
        if (state !== 'running') return;
        await waitForWork(shard);
        continue;
      }
      const outcome = await sendRequest(shard, {
        protocol: req.protocol,
        body: req.body,
        samples: req.samples + req.histograms,
        series: req.series,
        asV1: () => v1Body(decodeV2Request(snappy.uncompress(req.body))),
      });
      // Stopped: the request stays on disk for the next start.
      if (outcome === 'stopped') return;
      creditPoints(req.points, outcome);
      q.ack(shard, req.id);
      updateQueueGauge();
    }
  };

  /** Each part's series as compressed requests, its points apportioned over them by samples. */
  const toRequests = (parts: readonly EntryInput[]): RequestInput[] => {
    const out: RequestInput[] = [];
    for (const p of parts) {
      const formed = formRequests(builderFor(), p.series, limits);
      const points = apportion(p.points, formed.map((r) => r.samples + r.histograms));
      formed.forEach((r, i) => out.push({ ...r, shard: p.shard, points: points[i]! }));
    }
    return out;
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
        const pq = new PersistentQueue({
          directory: config.queue.directory,
          capacity: config.queue.capacity,
          shards,
          sync: config.queue.sync,
          form: (series) => formRequests(builderFor(), series, limits),
        });
        if (pq.migrated && pq.migrated.rows > 0) {
          logger.info('converted the persistent queue from the previous format (series) to requests', { file: pq.file, ...pq.migrated });
        }
        if (pq.shardsFromFile) {
          logger.warn('the persistent queue holds requests split for another shard count; using it until restarted with an empty queue', {
            configured: shards,
            used: pq.shards,
          });
        }
        if (pq.size() > 0) logger.info('sending what the persistent queue kept from the last run', { samples: pq.size(), file: pq.file });
        queue = pq;
      } else {
        queue = new MemoryQueue(config.queue.capacity, shards);
      }
      const q = queue;
      client = new RemoteWriteClient(config, { connections: q.shards, timeoutMs: parseDuration(config.timeout) });
      m.shards.set(q.shards);
      m.queueCapacity.set(q.capacity);
      updateQueueGauge();
      state = 'running';
      loops = Array.from({ length: q.shards }, (_, s) =>
        (q.kind === 'memory' ? runMemoryShard(s, q) : runStoredShard(s, q)).catch((err) => {
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
      let displaced: Displaced;
      try {
        displaced = q.kind === 'memory' ? q.push(parts) : q.push(toRequests(parts));
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
      for (const p of parts) wake(p.shard);
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
        if (q.kind === 'memory') {
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

function isTimeout(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e.name === 'TimeoutError' || (e as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' || (e as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') return true;
  }
  return false;
}
