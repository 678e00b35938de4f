/**
 * The persistent queue: SQLite (node:sqlite) in WAL mode, in `<directory>/queue.db`, one row
 * per request ready to send (encoded and snappy-compressed when its batch was queued). Each
 * push is one transaction, so a crash (kill -9) loses no request whose push returned, and never
 * leaves half of one. An acknowledged request is deleted. When full, a push deletes the oldest
 * requests no shard has taken yet, in the same transaction.
 *
 * A file of the previous format (a row of series per consume and shard) has its rows formed
 * into requests when it is opened, in one transaction and in order, so they are sent first.
 *
 * Chosen over an append-only segment log by bench/exporter-prometheusremotewrite/queue.bench.ts
 * and the crash test (see the package README for the figures).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { decodeRecord } from './queue-codec.ts';
import { QueueFullError, type Displaced, type Queue } from './queue.ts';
import type { FormedRequest } from './requests.ts';
import type { RemoteSeries } from './series.ts';
import { apportion } from './shard.ts';

/** `PRAGMA user_version` of this format. The previous format (series records) left it at 0. */
const FORMAT = 2;

export interface PersistentQueueOptions {
  directory: string;
  capacity: number;
  shards: number;
  /**
   * `normal` survives a process crash; `full` also a power loss or kernel crash, at the cost of
   * an fsync per push.
   */
  sync?: 'normal' | 'full';
  /** Forms requests from the series of a previous-format row; without it such a file is refused. */
  form?: (series: RemoteSeries[]) => FormedRequest[];
  /** Most bytes of pushed bodies kept in memory until taken (see `#fresh`); default 8 MiB. */
  freshBytes?: number;
}

/** A request as queued: what one shard sends as it is. */
export interface StoredRequest extends FormedRequest {
  id: number;
  shard: number;
  /** The OTLP data points its samples stand for (for the exporter's sent/failed counters). */
  points: number;
}

export type RequestInput = Omit<StoredRequest, 'id'>;

/** What dropping the oldest requests reads of each. */
type Victim = Pick<StoredRequest, 'id' | 'shard' | 'samples' | 'histograms' | 'points'>;

/** Samples in the queue's unit: native histograms count one each. */
const sizeOf = (r: { samples: number; histograms: number }) => r.samples + r.histograms;

export class PersistentQueue implements Queue {
  readonly kind = 'persistent';
  readonly capacity: number;
  /** From the queue file when it holds requests split for another shard count. */
  readonly shards: number;
  /** Set when the file's shard count won over the configured one. */
  readonly shardsFromFile: boolean;
  /** What opening the file converted from the previous format, if it was one. */
  readonly migrated: { rows: number; requests: number; samples: number } | undefined;
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #next: StatementSync;
  readonly #delete: StatementSync;
  readonly #oldest: StatementSync;
  readonly #pending: number[];
  /** The highest id each shard has taken (0: none). */
  readonly #cursor: number[];
  /** Samples of each taken, unacknowledged request, by id. */
  readonly #taken = new Map<number, number>();
  /**
   * Requests this process pushed, per shard in id order, not taken yet: a shard takes them from
   * here instead of reading them back. A shard's kept requests are always older than its rows that
   * are not kept (`#unkept`): past `freshBytes`, a shard keeps none until it has taken those rows.
   */
  readonly #fresh: StoredRequest[][];
  readonly #unkept: number[];
  readonly #freshLimit: number;
  #freshBytes = 0;
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
      // on the same directory fails here instead of sending the same requests.
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      db.close();
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(/locked|busy/i.test(msg) ? `queue ${this.file} is in use by another process` : `cannot open queue ${this.file}: ${msg}`, { cause: err });
    }
    try {
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (version > FORMAT) throw new Error(`it was written by a newer version of the exporter (format ${version}, this one reads up to ${FORMAT}); move it away or upgrade`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS requests (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          shard INTEGER NOT NULL,
          protocol TEXT NOT NULL,
          samples INTEGER NOT NULL,
          histograms INTEGER NOT NULL,
          series INTEGER NOT NULL,
          points INTEGER NOT NULL,
          body BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS requests_by_shard ON requests (shard, id);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      `);
      this.#insert = db.prepare('INSERT INTO requests (shard, protocol, samples, histograms, series, points, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
      this.migrated = this.#migrate(opts.form);
      db.exec(`PRAGMA user_version = ${FORMAT}`);
      const count = (db.prepare('SELECT COUNT(*) AS n FROM requests').get() as { n: number }).n;
      const stored = db.prepare("SELECT value FROM meta WHERE key = 'shards'").get() as { value: string } | undefined;
      // Requests were split by the stored shard count; re-splitting them could reorder a series.
      const useStored = count > 0 && stored !== undefined && Number(stored.value) !== opts.shards;
      this.shards = useStored ? Number(stored.value) : opts.shards;
      this.shardsFromFile = useStored;
      db.prepare("INSERT INTO meta (key, value) VALUES ('shards', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(this.shards));
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      db.close();
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`cannot open queue ${this.file}: ${msg}`, { cause: err });
    }
    this.#next = db.prepare('SELECT id, shard, protocol, samples, histograms, series, points, body FROM requests WHERE shard = ? AND id > ? ORDER BY id LIMIT 1');
    this.#delete = db.prepare('DELETE FROM requests WHERE id = ?');
    this.#oldest = db.prepare('SELECT id, shard, samples, histograms, points FROM requests ORDER BY id');
    this.#pending = new Array<number>(this.shards).fill(0);
    this.#cursor = new Array<number>(this.shards).fill(0);
    this.#fresh = Array.from({ length: this.shards }, () => []);
    this.#unkept = new Array<number>(this.shards).fill(0);
    this.#freshLimit = opts.freshBytes ?? 8 * 1024 * 1024;
    for (const row of db.prepare('SELECT shard, SUM(samples + histograms) AS n, COUNT(*) AS rows FROM requests GROUP BY shard').all() as { shard: number; n: number; rows: number }[]) {
      if (row.shard < this.shards) {
        this.#pending[row.shard] = row.n;
        this.#unkept[row.shard] = row.rows;
      }
      this.#size += row.n;
    }
  }

  /** Forms the rows of a previous-format `entries` table into requests, in order, and drops it. */
  #migrate(form: PersistentQueueOptions['form']): PersistentQueue['migrated'] {
    const db = this.#db;
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").get() === undefined) return undefined;
    const done = { rows: 0, requests: 0, samples: 0 };
    for (const row of db.prepare('SELECT shard, points, body FROM entries ORDER BY id').iterate() as Iterable<{ shard: number; points: number; body: Uint8Array }>) {
      if (form === undefined) throw new Error('it holds requests in the previous format, and nothing was given to convert them');
      const requests = form(decodeRecord(row.body));
      const points = apportion(row.points, requests.map(sizeOf));
      requests.forEach((r, i) => {
        this.#insert.run(row.shard, r.protocol, r.samples, r.histograms, r.series, points[i]!, r.body);
        done.samples += sizeOf(r);
      });
      done.rows++;
      done.requests += requests.length;
    }
    db.exec('DROP TABLE entries');
    return done;
  }

  /** Samples held, taken-but-unacknowledged included. */
  size(): number {
    return this.#size;
  }

  /** Requests held (tests and the crash check read it). */
  requests(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM requests').get() as { n: number }).n;
  }

  /** Samples in `shard`'s partition that it has not taken yet. */
  pending(shard: number): number {
    return this.#pending[shard]!;
  }

  /**
   * Appends the requests of one consume, all or nothing, dropping the oldest untaken ones when
   * they do not fit; throws QueueFullError when they are more than the whole capacity.
   */
  push(requests: readonly RequestInput[]): Displaced {
    let need = 0;
    for (const r of requests) need += sizeOf(r);
    if (need > this.capacity) throw new QueueFullError(need, this.capacity);
    const displaced = { samples: 0, points: 0 };
    const db = this.#db;
    const ids: number[] = [];
    db.exec('BEGIN');
    try {
      if (this.#size + need > this.capacity) this.#dropOldest(this.#size + need - this.capacity, displaced);
      for (const r of requests) ids.push(Number(this.#insert.run(r.shard, r.protocol, r.samples, r.histograms, r.series, r.points, r.body).lastInsertRowid));
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    requests.forEach((r, i) => {
      this.#pending[r.shard]! += sizeOf(r);
      if (this.#unkept[r.shard] === 0 && this.#freshBytes + r.body.length <= this.#freshLimit) {
        this.#fresh[r.shard]!.push({ ...r, id: ids[i]! });
        this.#freshBytes += r.body.length;
      } else {
        this.#unkept[r.shard]!++;
      }
    });
    this.#size += need;
    return displaced;
  }

  /** Deletes the oldest untaken requests until `free` samples are freed (or none is left to drop). */
  #dropOldest(free: number, displaced: Displaced): void {
    const victims: Victim[] = [];
    let freed = 0;
    for (const row of this.#oldest.iterate() as Iterable<Victim>) {
      // A taken request is being sent; dropping it would count it twice.
      if (row.id <= this.#cursor[row.shard]!) continue;
      victims.push(row);
      freed += sizeOf(row);
      if (freed >= free) break;
    }
    for (const v of victims) {
      this.#delete.run(v.id);
      // A shard's oldest untaken request is the first it keeps, if it keeps any.
      const kept = this.#fresh[v.shard]!;
      if (kept.length > 0 && kept[0]!.id === v.id) this.#freshBytes -= kept.shift()!.body.length;
      else this.#unkept[v.shard]!--;
      this.#pending[v.shard]! -= sizeOf(v);
      this.#size -= sizeOf(v);
      displaced.samples += sizeOf(v);
      displaced.points += v.points;
    }
  }

  /** The oldest request of `shard` it has not taken yet, now taken. */
  take(shard: number): StoredRequest | undefined {
    const kept = this.#fresh[shard]!;
    let row: StoredRequest | undefined;
    if (kept.length > 0) {
      row = kept.shift()!;
      this.#freshBytes -= row.body.length;
    } else {
      row = this.#next.get(shard, this.#cursor[shard]!) as StoredRequest | undefined;
      if (row === undefined) return undefined;
      this.#unkept[shard]!--;
    }
    this.#cursor[shard] = row.id;
    this.#taken.set(row.id, sizeOf(row));
    this.#pending[shard]! -= sizeOf(row);
    return row;
  }

  /** Deletes a request `shard` took and has finished with (sent, or dropped for good). */
  ack(shard: number, id: number): void {
    const samples = this.#taken.get(id);
    if (samples === undefined || id > this.#cursor[shard]!) throw new Error(`request ${id} was not taken by shard ${shard}`);
    this.#delete.run(id);
    this.#taken.delete(id);
    this.#size -= samples;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const kept of this.#fresh) kept.length = 0;
    this.#freshBytes = 0;
    this.#db.close();
  }
}
