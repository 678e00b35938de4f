/**
 * Where targets come from: `static_configs`, and `file_sd_configs` (JSON or YAML files of
 * target groups, watched for changes and re-read every `refresh_interval`).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Logger } from '@skein/core';

/** A group of targets that share labels, as `static_configs` and file SD give them. */
export interface TargetGroup {
  targets: readonly string[];
  labels: Readonly<Record<string, string>>;
  /** Where the group came from (`static/0`, `<file>:2`). */
  source: string;
}

export function staticGroups(configs: readonly { targets: string[]; labels: Record<string, string> }[]): TargetGroup[] {
  return configs.map((g, i) => ({ targets: g.targets, labels: g.labels, source: `static/${i}` }));
}

/** Go's filepath.Match syntax (`*`, `?`, `[…]`) for one path element, as a RegExp. */
export function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) throw new SyntaxError(`unterminated [ in ${JSON.stringify(pattern)}`);
      let cls = pattern.slice(i + 1, close);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/[\\\]]/g, '\\$&');
      else cls = cls.replace(/[\\\]^]/g, '\\$&');
      re += `[${cls}]`;
      i = close;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const hasMagic = (s: string) => /[*?[]/.test(s);

/** The files a pattern names now, sorted; a glob is allowed in the last path element only. */
export async function expandPattern(pattern: string): Promise<string[]> {
  const abs = resolve(pattern);
  if (!hasMagic(basename(abs))) return [abs];
  const dir = dirname(abs);
  const re = globRegex(basename(abs));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => resolve(dir, n));
}

/** The target groups in one file SD file; throws an Error saying what is wrong. */
export function parseTargetFile(file: string, text: string): TargetGroup[] {
  const ext = extname(file).toLowerCase();
  let data: unknown;
  if (ext === '.json') data = JSON.parse(text);
  else if (ext === '.yml' || ext === '.yaml') data = parseYaml(text);
  else throw new Error(`unknown file extension ${JSON.stringify(ext)}; use .json, .yml or .yaml`);
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data)) throw new Error('must be a list of target groups ({targets: [...], labels: {...}})');
  return data.map((g: unknown, i) => {
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new Error(`group ${i}: must be a mapping with targets and labels`);
    const { targets, labels, ...rest } = g as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new Error(`group ${i}: unknown key ${JSON.stringify(extra[0])} (allowed: targets, labels)`);
    if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string' && t !== '')) {
      throw new Error(`group ${i}: targets must be a list of addresses`);
    }
    const own: Record<string, string> = {};
    if (labels !== undefined && labels !== null) {
      if (typeof labels !== 'object' || Array.isArray(labels)) throw new Error(`group ${i}: labels must be a mapping of strings`);
      for (const [k, v] of Object.entries(labels)) {
        if (typeof v !== 'string') throw new Error(`group ${i}: label ${k} must be a string`);
        own[k] = v;
      }
    }
    own.__meta_filepath = file;
    return { targets: targets as string[], labels: own, source: `${file}:${i}` };
  });
}

/**
 * Watches the files of one `file_sd_configs` entry. `onChange` gets every group from every
 * file each time something changed. A file that cannot be read or parsed keeps the groups it
 * had (the error is logged); a file that is gone loses them.
 */
export class FileDiscovery {
  readonly #patterns: readonly string[];
  readonly #refreshMs: number;
  readonly #logger: Logger;
  readonly #onChange: (groups: TargetGroup[]) => void;
  readonly #byFile = new Map<string, TargetGroup[]>();
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(opts: { files: readonly string[]; refreshMs: number; logger: Logger; onChange: (groups: TargetGroup[]) => void }) {
    this.#patterns = opts.files;
    this.#refreshMs = opts.refreshMs;
    this.#logger = opts.logger;
    this.#onChange = opts.onChange;
  }

  /** Reads the files once (so the first targets are known), then watches them. */
  async start(): Promise<void> {
    await this.refresh();
    for (const dir of new Set(this.#patterns.map((p) => dirname(resolve(p))))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.#soon());
        w.on('error', (err) => this.#logger.warn('file_sd: watching a directory failed; relying on refresh_interval', { dir, err }));
        this.#watchers.push(w);
      } catch (err) {
        this.#logger.warn('file_sd: cannot watch a directory; relying on refresh_interval', { dir, err });
      }
    }
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
    this.#timer.unref();
  }

  /** Editors write in several steps: wait for the burst to end. */
  #soon(): void {
    if (this.#stopped) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.refresh(), 50);
    this.#debounce.unref();
  }

  /** Re-reads every file; one refresh at a time, a request during one runs another after it. */
  refresh(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#readAll();
      } while (this.#again && !this.#stopped);
      this.#running = undefined;
    })();
    return this.#running;
  }

  async #readAll(): Promise<void> {
    const files = new Set<string>();
    for (const p of this.#patterns) for (const f of await expandPattern(p)) files.add(f);
    let changed = false;
    for (const file of [...this.#byFile.keys()]) {
      if (!files.has(file)) {
        this.#byFile.delete(file);
        changed = true;
      }
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          changed = this.#byFile.delete(file) || changed;
        } else {
          this.#logger.error('file_sd: cannot read a targets file; keeping its last targets', { file, err });
        }
        continue;
      }
      let groups: TargetGroup[];
      try {
        groups = parseTargetFile(file, text);
      } catch (err) {
        this.#logger.error('file_sd: invalid targets file; keeping its last targets', { file, reason: (err as Error).message });
        continue;
      }
      const before = this.#byFile.get(file);
      if (before === undefined || JSON.stringify(before) !== JSON.stringify(groups)) {
        this.#byFile.set(file, groups);
        changed = true;
      }
    }
    if (changed && !this.#stopped) this.#onChange([...this.#byFile.values()].flat());
  }

  /** The groups read so far. */
  groups(): TargetGroup[] {
    return [...this.#byFile.values()].flat();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    for (const w of this.#watchers) w.close();
    this.#watchers.length = 0;
  }
}
