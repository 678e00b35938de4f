import type { ConfigIssue, ErrorCode } from '../errors.ts';

/** Where a key or value was written: 1-based line and column. */
export interface Position {
  file: string;
  line: number;
  col: number;
}

export type PathSegment = string | number;

/** Joins a key path the way every message shows it: `receivers::otlp::protocols`. */
export function joinPath(path: readonly PathSegment[]): string {
  return path.map(String).join('::');
}

/**
 * Source positions of every key (and list item) of a loaded config, by key path. A lookup
 * falls back to the nearest ancestor, so an error about a missing key points at its parent.
 */
export class PositionIndex {
  readonly #map = new Map<string, Position>();

  set(path: readonly PathSegment[], pos: Position): void {
    this.#map.set(joinPath(path), pos);
  }

  /** Removes the positions recorded under `path` (a later file replaced that subtree). */
  deleteUnder(path: readonly PathSegment[]): void {
    const prefix = joinPath(path);
    for (const k of [...this.#map.keys()]) {
      if (k === prefix || k.startsWith(prefix + '::')) this.#map.delete(k);
    }
  }

  get(path: readonly PathSegment[]): Position | undefined {
    for (let n = path.length; n >= 0; n--) {
      const p = this.#map.get(joinPath(path.slice(0, n)));
      if (p) return p;
    }
    return undefined;
  }
}

/** Builds the issue for `path`, in the one format every config error uses. */
export function configIssue(
  positions: PositionIndex | undefined,
  path: readonly PathSegment[],
  code: ErrorCode,
  what: string,
): ConfigIssue {
  const pos = positions?.get(path);
  const where = pos ? `${pos.file}:${pos.line}:${pos.col}: ` : '';
  const p = joinPath(path);
  return {
    code,
    message: `${where}${p ? p + ': ' : ''}${what}`,
    path: p,
    file: pos?.file,
    line: pos?.line,
    col: pos?.col,
  };
}

/** A config after reading, substitution and merging, before validation. */
export interface LoadedConfig {
  /** Plain data: objects, arrays, strings, numbers, booleans, null. */
  raw: Record<string, unknown>;
  positions: PositionIndex;
  /** The files it came from, in merge order. */
  files: string[];
}
