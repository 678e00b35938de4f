/**
 * Writes a queue file as the exporter wrote it before the queue stored requests: one row per
 * consume and shard in an `entries` table, its body a record of series (1.0's TimeSeries fields
 * labels=1, samples=2, histograms=4, plus type=16, help=17, unit=18, family=19, created=20;
 * each series at field 1), `user_version` left at 0. The schema and the record encoder are the
 * previous version's, so the tests can check such a file is taken over.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { writeHistograms, writeLabels, writeSamples } from '../../src/encode.ts';
import { LEN, ProtoWriter, VARINT } from '../../src/proto-writer.ts';
import { PROM_TYPE_NUMBER, type RemoteSeries } from '../../src/series.ts';

export function encodeRecord(series: readonly RemoteSeries[]): Uint8Array {
  const w = new ProtoWriter();
  for (const s of series) {
    w.tag(1, LEN);
    const m = w.fork(2);
    writeLabels(w, s);
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

/** `<directory>/queue.db` in the previous format, holding `entries` in order. */
export function writePreviousFormatQueue(directory: string, shards: number, entries: readonly { shard: number; points: number; series: RemoteSeries[] }[]): void {
  mkdirSync(directory, { recursive: true });
  const db = new DatabaseSync(join(directory, 'queue.db'));
  db.exec(`
    PRAGMA journal_mode = WAL;
    CREATE TABLE entries (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      shard INTEGER NOT NULL,
      samples INTEGER NOT NULL,
      points INTEGER NOT NULL,
      body BLOB NOT NULL
    );
    CREATE INDEX entries_by_shard ON entries (shard, id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  db.prepare("INSERT INTO meta (key, value) VALUES ('shards', ?)").run(String(shards));
  const insert = db.prepare('INSERT INTO entries (shard, samples, points, body) VALUES (?, ?, ?, ?)');
  for (const e of entries) {
    const samples = e.series.reduce((n, s) => n + s.samples.length + s.histograms.length, 0);
    insert.run(e.shard, samples, e.points, encodeRecord(e.series));
  }
  db.close();
}
