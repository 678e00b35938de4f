import type { ProbeResult } from './result.ts';

/** A stored result with what the store adds for triage. */
export interface StoredProbeResult extends ProbeResult {
  /** Failed probes in a row up to this one; 0 when this one succeeded. */
  consecutive_failures: number;
  /** When the target last answered successfully (ISO 8601), or null if never since it was added. */
  last_success: string | null;
}

export interface ProbeResultFilter {
  receiver?: string;
  route?: string;
  unreachableOnly?: boolean;
}

/**
 * Where probe receivers put their latest result per target: the `probes` extension implements
 * it, and receivers find it by the ID in their `probes:` key.
 */
export interface ProbeStore {
  /** Keeps `result` as the latest for its receiver and target. */
  record(result: ProbeResult): void;
  /** Drops a receiver's results for targets not in `targets` (they were removed). */
  retainTargets(receiver: string, targets: ReadonlySet<string>): void;
  /** Drops every result of a receiver (it shut down). */
  forgetReceiver(receiver: string): void;
  /** The latest results, sorted by receiver then target. */
  results(filter?: ProbeResultFilter): StoredProbeResult[];
}

export function isProbeStore(ext: unknown): ext is ProbeStore {
  if (typeof ext !== 'object' || ext === null) return false;
  const s = ext as Record<string, unknown>;
  return ['record', 'retainTargets', 'forgetReceiver', 'results'].every((m) => typeof s[m] === 'function');
}
