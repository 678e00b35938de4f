/**
 * The persistent queue: SQLite (node:sqlite) in WAL mode, one row per queue entry, in
 * `<directory>/queue.db`. Each push is one transaction, so a crash (kill -9) loses no entry
 * whose push returned, and never leaves half of one. An acknowledged entry is deleted. When
 * full, a push deletes the oldest entries no shard has taken yet, in the same transaction.
 *
 * Chosen over an append-only segment log by bench/exporter-prometheusremotewrite/queue.bench.ts
 * and the crash test (see the package README for the figures).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { decodeRecord, encodeRecord } from './queue-codec.ts';
import { QueueFullError, type Displaced, type EntryInput, type QueueEntry, type SeriesQueue } from './queue.ts';
import type { RemoteSeries } from './series.ts';

/**
 * Samples of entries this process pushed that are also kept in memory, as pushed, until taken:
 * in the usual case a shard takes an entry within seconds, and decoding it back from the file
 * would cost more than encoding it did. The file stays the record (a crash or restart reads it
 * back); past this bound, entries are read from the file only.
 */
const LIVE_SAMPLES = 100_000;

export interface PersistentQueueOptions {
  directory: string;
  capacity: number;
  shards: number;
  /**
   * `normal` survives a process crash; `full` also a power loss or kernel crash, at the cost of
   * an fsync per push.
   */
  sync?: 'normal' | 'full';
}

/** Taken entries of one shard, oldest first, until acknowledged. */
interface Taken {
  id: number;
  samples: number;
}

export class PersistentQueue implements SeriesQueue {
  readonly kind = 'persistent';
  readonly capacity: number;
  /** From the queue file when it holds entries written with another shard count. */
  readonly shards: number;
  /** Set when the file's shard count won over the configured one. */
  readonly shardsFromFile: boolean;
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #takeStmt: StatementSync;
  readonly #ackStmt: StatementSync;
  readonly #oldest: StatementSync;
  readonly #deleteOne: StatementSync;
  readonly #pending: number[];
  /** The highest id each shard has taken (0: none). */
  readonly #cursor: number[];
  readonly #taken: Taken[][];
  /** Untaken entries pushed by this process, by id (see LIVE_SAMPLES). */
  readonly #live = new Map<number, { series: RemoteSeries[]; samples: number }>();
  #liveSamples = 0;
  readonly #bodyStmt: StatementSync;
  #size = 0;
  #closed = false;

  constructor(opts: PersistentQueueOptions) {
    this.capacity = opts.capacity;
    mkdirSync(opts.directory, { recursive: true });
    this.file = join(opts.directory, 'queue.db');
    const db = new DatabaseSync(this.file, { timeout: 0 });
    this.#db = db;
    try {
      db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}; PRAGMA locking_mode = EXCLUSIVE;`);
      // The first write takes the exclusive lock and keeps it until close: a second process
      // on the same directory fails here instead of sending the same entries.
      db.exec('BEGIN IMMEDIATE');
      db.exec(`
        CREATE TABLE IF NOT EXISTS entries (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          shard INTEGER NOT NULL,
          samples INTEGER NOT NULL,
          points INTEGER NOT NULL,
          body BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS entries_by_shard ON entries (shard, id);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      `);
      const count = (db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
      const stored = db.prepare("SELECT value FROM meta WHERE key = 'shards'").get() as { value: string } | undefined;
      // Entries were split by the stored shard count; re-splitting them could reorder a series.
      const useStored = count > 0 && stored !== undefined && Number(stored.value) !== opts.shards;
      this.shards = useStored ? Number(stored.value) : opts.shards;
      this.shardsFromFile = useStored;
      db.prepare("INSERT INTO meta (key, value) VALUES ('shards', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(this.shards));
      db.exec('COMMIT');
    } catch (err) {
      db.close();
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(/locked|busy/i.test(msg) ? `queue ${this.file} is in use by another process` : `cannot open queue ${this.file}: ${msg}`, { cause: err });
    }
    this.#insert = db.prepare('INSERT INTO entries (shard, samples, points, body) VALUES (?, ?, ?, ?)');
    this.#takeStmt = db.prepare('SELECT id, samples, points FROM entries WHERE shard = ? AND id > ? ORDER BY id LIMIT 256');
    this.#bodyStmt = db.prepare('SELECT body FROM entries WHERE id = ?');
    this.#ackStmt = db.prepare('DELETE FROM entries WHERE shard = ? AND id <= ?');
    this.#oldest = db.prepare('SELECT id, shard, samples, points FROM entries ORDER BY id');
    this.#deleteOne = db.prepare('DELETE FROM entries WHERE id = ?');
    this.#pending = new Array<number>(this.shards).fill(0);
    this.#cursor = new Array<number>(this.shards).fill(0);
    this.#taken = Array.from({ length: this.shards }, () => []);
    for (const row of db.prepare('SELECT shard, SUM(samples) AS n FROM entries GROUP BY shard').all() as { shard: number; n: number }[]) {
      if (row.shard < this.shards) this.#pending[row.shard] = row.n;
      this.#size += row.n;
    }
  }

  size(): number {
    return this.#size;
  }

  /** Entries held (tests and the crash check read it). */
  entries(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
  }

  pending(shard: number): number {
    return this.#pending[shard]!;
  }

  push(parts: readonly EntryInput[]): Displaced {
    let need = 0;
    for (const p of parts) need += p.samples;
    if (need > this.capacity) throw new QueueFullError(need, this.capacity);
    const displaced = { samples: 0, points: 0 };
    const db = this.#db;
    db.exec('BEGIN');
    try {
      if (this.#size + need > this.capacity) this.#dropOldest(this.#size + need - this.capacity, displaced);
      const live: [number, { series: RemoteSeries[]; samples: number }][] = [];
      for (const p of parts) {
        const { lastInsertRowid } = this.#insert.run(p.shard, p.samples, p.points, encodeRecord(p.series));
        this.#pending[p.shard]! += p.samples;
        live.push([Number(lastInsertRowid), { series: p.series as RemoteSeries[], samples: p.samples }]);
      }
      db.exec('COMMIT');
      for (const [id, entry] of live) {
        if (this.#liveSamples + entry.samples > LIVE_SAMPLES) break;
        this.#live.set(id, entry);
        this.#liveSamples += entry.samples;
      }
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    this.#size += need;
    return displaced;
  }

  /** Deletes the oldest untaken entries until `free` samples are freed (or none is left to drop). */
  #dropOldest(free: number, displaced: Displaced): void {
    const victims: { id: number; shard: number; samples: number; points: number }[] = [];
    let freed = 0;
    for (const row of this.#oldest.iterate() as Iterable<{ id: number; shard: number; samples: number; points: number }>) {
      // A taken entry is being sent; dropping it would count it twice.
      if (row.id <= this.#cursor[row.shard]!) continue;
      victims.push(row);
      freed += row.samples;
      if (freed >= free) break;
    }
    for (const v of victims) {
      this.#deleteOne.run(v.id);
      this.#forgetLive(v.id);
      this.#pending[v.shard]! -= v.samples;
      this.#size -= v.samples;
      displaced.samples += v.samples;
      displaced.points += v.points;
    }
  }

  take(shard: number, maxSamples: number): QueueEntry[] {
    const out: QueueEntry[] = [];
    let samples = 0;
    let more = true;
    while (more && samples < maxSamples) {
      more = false;
      for (const row of this.#takeStmt.iterate(shard, this.#cursor[shard]!) as Iterable<{ id: number; samples: number; points: number }>) {
        more = true;
        const live = this.#forgetLive(row.id);
        const series = live ?? decodeRecord((this.#bodyStmt.get(row.id) as { body: Uint8Array }).body);
        out.push({ id: row.id, samples: row.samples, points: row.points, series });
        samples += row.samples;
        this.#cursor[shard] = row.id;
        this.#taken[shard]!.push({ id: row.id, samples: row.samples });
        if (samples >= maxSamples) break;
      }
    }
    this.#pending[shard]! -= samples;
    return out;
  }

  /** Takes an entry's in-memory copy out, if it has one. */
  #forgetLive(id: number): RemoteSeries[] | undefined {
    const live = this.#live.get(id);
    if (live === undefined) return undefined;
    this.#live.delete(id);
    this.#liveSamples -= live.samples;
    return live.series;
  }

  ack(shard: number, id: number): void {
    this.#ackStmt.run(shard, id);
    const taken = this.#taken[shard]!;
    let n = 0;
    while (n < taken.length && taken[n]!.id <= id) this.#size -= taken[n++]!.samples;
    taken.splice(0, n);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#live.clear();
    this.#liveSamples = 0;
    this.#db.close();
  }
}
