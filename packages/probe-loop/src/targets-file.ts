/**
 * A targets file: a YAML (or JSON) list of target entries, reloaded when it changes. Changes
 * are seen by fs.watch on the file's directory (which also sees a file replaced by a rename,
 * as editors and Kubernetes ConfigMap updates do), and, as a fallback where watching misses
 * events, by a stat before every probe cycle. A file that cannot be read or parsed, or that
 * `build` rejects, is logged and counted and the previous targets stay in force.
 */
import { watch, type FSWatcher, readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import type { ComponentTelemetry, Counter, Logger } from '@skein/core';

export interface TargetsFileOptions<T> {
  path: string;
  /** Turns the file's entries into targets; throws (with a message for the log) to reject the whole file. */
  build(entries: unknown[]): T[];
  /** Called with the new targets after each successful reload (not after the first load). */
  onReload(targets: T[]): void;
  logger: Logger;
  telemetry: ComponentTelemetry;
}

/** How long to wait after a change event for the writer to finish. */
const SETTLE_MS = 50;

/** The list in a targets file's text; throws with the reason when it is not one. */
export function parseTargetsText(text: string): unknown[] {
  if (text.trim() === '') throw new Error('the file is empty; write [] for no targets');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // The yaml package's messages go on with the offending line and a caret: keep the first line.
    throw new Error(`not valid YAML: ${(err as Error).message.split('\n', 1)[0]!.replace(/:$/, '')}`, { cause: err });
  }
  if (!Array.isArray(doc)) throw new Error(`must be a list of targets, got ${doc === null ? 'null' : typeof doc}`);
  return doc;
}

function signatureOf(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

export class TargetsFile<T> {
  readonly path: string;
  readonly #opts: TargetsFileOptions<T>;
  readonly #reloads: Counter;
  readonly #errors: Counter;
  /** The signature of the version last tried, good or bad: an unchanged bad file is not retried. */
  #signature = '';
  #text = '';
  #watcher: FSWatcher | undefined;
  #settle: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(opts: TargetsFileOptions<T>) {
    this.#opts = opts;
    this.path = resolve(opts.path);
    this.#reloads = opts.telemetry.counter({ name: 'skein_probe_targets_file_reloads_total', help: 'Times a changed targets file was loaded.' });
    this.#errors = opts.telemetry.counter({
      name: 'skein_probe_targets_file_errors_total',
      help: 'Times a changed targets file was rejected; the previous targets stayed in force.',
    });
  }

  /** The first load, at start: throws with the reason, as a config error would. */
  load(): T[] {
    let text: string;
    let signature: string;
    try {
      signature = signatureOf(statSync(this.path));
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read targets_file ${this.#opts.path}: ${(err as Error).message}`, { cause: err });
    }
    let targets: T[];
    try {
      targets = this.#opts.build(parseTargetsText(text));
    } catch (err) {
      throw new Error(`targets_file ${this.#opts.path}: ${(err as Error).message}`, { cause: err });
    }
    this.#signature = signature;
    this.#text = text;
    return targets;
  }

  /** Starts watching the file's directory. */
  watch(): void {
    if (this.#watcher || this.#closed) return;
    const dir = dirname(this.path);
    try {
      this.#watcher = watch(dir, { persistent: false }, () => {
        clearTimeout(this.#settle);
        this.#settle = setTimeout(() => void this.check(), SETTLE_MS);
        this.#settle.unref();
      });
      this.#watcher.on('error', (err) => {
        this.#opts.logger.warn('watching the targets file failed; changes are seen at each probe cycle', { err, file: this.path });
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#opts.logger.warn('cannot watch the targets file; changes are seen at each probe cycle', { err, file: this.path });
    }
  }

  /** Reloads the file if it changed since the version last tried. Never throws. */
  check(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = this.#check().finally(() => {
      this.#checking = undefined;
      if (this.#again) {
        this.#again = false;
        void this.check();
      }
    });
    return this.#checking;
  }

  async #check(): Promise<void> {
    let signature: string;
    let text: string;
    try {
      signature = signatureOf(await stat(this.path));
      if (signature === this.#signature) return;
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      const failed = `missing:${(err as NodeJS.ErrnoException).code}`;
      if (failed === this.#signature) return;
      this.#signature = failed;
      return this.#reject(`cannot read it: ${(err as Error).message}`);
    }
    this.#signature = signature;
    if (text === this.#text || this.#closed) return;
    let targets: T[];
    try {
      targets = this.#opts.build(parseTargetsText(text));
    } catch (err) {
      return this.#reject((err as Error).message);
    }
    this.#text = text;
    this.#reloads.inc();
    this.#opts.logger.info('targets file reloaded', { file: this.path, targets: targets.length });
    this.#opts.onReload(targets);
  }

  #reject(reason: string): void {
    this.#errors.inc();
    this.#opts.logger.error('targets file rejected; keeping the previous targets', { file: this.path, reason });
  }

  /** Stops watching and waits for a reload in progress. Safe twice. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#settle);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#checking;
  }
}
