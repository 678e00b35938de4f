/**
 * Where accepted series wait to be sent. A queue is split into one FIFO partition per shard:
 * a series always goes to the same shard (by the hash of its labels), and each shard sends its
 * partition in order, one request at a time, so a series' samples arrive in order while the
 * shards send in parallel.
 *
 * Two kinds share that shape. The memory queue (here) holds series, which a shard cuts into
 * requests when it sends them (waiting up to `batch_send_deadline` for a request to fill). The
 * persistent queue (persistent-queue.ts) holds requests, formed when a batch is queued.
 *
 * Size and capacity are counted in samples (native histograms count one each). What a shard
 * has taken stays in the queue until it acknowledges it.
 */
import type { RemoteSeries } from './series.ts';

/** What the exporter reads of either kind of queue. */
export interface Queue {
  readonly kind: 'memory' | 'persistent';
  readonly capacity: number;
  /** Partitions, one per shard. */
  readonly shards: number;
  /** Samples held, taken-but-unacknowledged included. */
  size(): number;
  /** Samples in `shard`'s partition that it has not taken yet. */
  pending(shard: number): number;
  close(): void;
}

/** One consume's series for one shard. */
export interface QueueEntry {
  id: number;
  series: RemoteSeries[];
  samples: number;
  /** The OTLP data points these samples stand for (for the exporter's sent/failed counters). */
  points: number;
}

export type EntryInput = Omit<QueueEntry, 'id'> & { shard: number };

/** What a push displaced (the persistent queue drops its oldest requests when full). */
export interface Displaced {
  samples: number;
  points: number;
}

export class QueueFullError extends Error {
  constructor(need: number, free: number) {
    super(`the queue is full: ${need} samples do not fit in the ${free} free`);
    this.name = 'QueueFullError';
  }
}

/** Bounded in memory; refuses what does not fit, so the sender retries (429/503 upstream). */
export class MemoryQueue implements Queue {
  readonly kind = 'memory';
  readonly capacity: number;
  readonly shards: number;
  readonly #parts: QueueEntry[][];
  /** Index of the first untaken entry in each partition. */
  readonly #taken: number[];
  readonly #pending: number[];
  #size = 0;
  #nextId = 1;

  constructor(capacity: number, shards: number) {
    this.capacity = capacity;
    this.shards = shards;
    this.#parts = Array.from({ length: shards }, () => []);
    this.#taken = new Array<number>(shards).fill(0);
    this.#pending = new Array<number>(shards).fill(0);
  }

  size(): number {
    return this.#size;
  }

  pending(shard: number): number {
    return this.#pending[shard]!;
  }

  /** Appends the parts of one consume, all or nothing; throws QueueFullError without room. */
  push(parts: readonly EntryInput[]): Displaced {
    let need = 0;
    for (const p of parts) need += p.samples;
    if (this.#size + need > this.capacity) throw new QueueFullError(need, this.capacity - this.#size);
    for (const { shard, ...entry } of parts) {
      this.#parts[shard]!.push({ id: this.#nextId++, ...entry });
      this.#pending[shard]! += entry.samples;
    }
    this.#size += need;
    return { samples: 0, points: 0 };
  }

  /** The oldest untaken entries of `shard`: whole entries, until `maxSamples` is reached. */
  take(shard: number, maxSamples: number): QueueEntry[] {
    const part = this.#parts[shard]!;
    const out: QueueEntry[] = [];
    let samples = 0;
    let i = this.#taken[shard]!;
    while (i < part.length && samples < maxSamples) {
      const e = part[i++]!;
      out.push(e);
      samples += e.samples;
    }
    this.#taken[shard] = i;
    this.#pending[shard]! -= samples;
    return out;
  }

  /** Removes every entry of `shard` up to `id`, which it took and has finished with. */
  ack(shard: number, id: number): void {
    const part = this.#parts[shard]!;
    let n = 0;
    while (n < part.length && part[n]!.id <= id) this.#size -= part[n++]!.samples;
    part.splice(0, n);
    this.#taken[shard] = Math.max(0, this.#taken[shard]! - n);
  }

  /** What is still held: the memory queue loses it at shutdown. */
  remaining(): Displaced {
    let samples = 0;
    let points = 0;
    for (const part of this.#parts) {
      for (const e of part) {
        samples += e.samples;
        points += e.points;
      }
    }
    return { samples, points };
  }

  close(): void {
    for (const part of this.#parts) part.length = 0;
    this.#size = 0;
  }
}
