/**
 * The threshold store contract that the threshold processor, the `threshold_headers`
 * middleware, the threshold API and the fleet gauges share, and the per-cluster score map
 * behind both backends.
 */
import { DEFAULT_PARAMS, THRESHOLD_METHODS, thresholdOf, type ThresholdMethod, type ThresholdParams } from './math.ts';

/** What `record` did with a score. Anything but `accepted` left the store unchanged. */
export type RecordOutcome = 'accepted' | 'cap_clusters' | 'cap_nodes' | 'cap_total_nodes' | 'invalid_score' | 'invalid_id';

/** Longest cluster or node ID taken, in UTF-16 units: host names are at most 253. */
export const MAX_ID_LENGTH = 256;

/** One cluster's threshold as an agent or the API sees it. Frozen; never mutated after it is returned. */
export interface ThresholdView {
  readonly clusterId: string;
  /** 0 while the quorum is not met. */
  readonly threshold: number;
  /** `activeNodes >= statisticalMin`. */
  readonly quorumMet: boolean;
  /** Nodes whose last score is younger than `ttl`, this push's node included. */
  readonly activeNodes: number;
  readonly statisticalMin: number;
  readonly method: ThresholdMethod;
  /** When the threshold was computed (ms since the epoch); 0 when it never was. */
  readonly computedAtMs: number;
  /**
   * True while the Redis backend cannot reach Redis: the view is this replica's last known
   * state plus its own pushes since. Always false with the memory backend.
   */
  readonly stale: boolean;
}

/**
 * A per-cluster map of node → latest health score, with a threshold per cluster.
 *
 * - `record` and `get` are synchronous and O(1) (no I/O, whatever the backend): they run on
 *   every push. Thresholds are recomputed off that path, every `refresh_interval`, and at once
 *   when a cluster reaches its quorum.
 * - `get` never throws; an unknown cluster answers threshold 0, quorum not met, 0 nodes.
 */
export interface ThresholdStore {
  /**
   * Folds one score in: the node's score and last-seen time (`atMs`, default now) are
   * replaced. Refuses non-finite scores, empty IDs and what the caps do not allow.
   */
  record(clusterId: string, nodeId: string, score: number, atMs?: number): RecordOutcome;
  /** The cluster's threshold as of the last recompute, with its active node count as of now. */
  get(clusterId: string): ThresholdView;
  /** The IDs of the clusters that have at least one active node, sorted. */
  clusters(): string[];
  /**
   * Sets how thresholds are computed; the threshold processor calls it in `start()`. Every
   * reader of the store then computes alike. Throws when another owner set other parameters.
   */
  configure(owner: string, params: ThresholdParams): void;
  /** The parameters in force (the defaults until a processor configures the store). */
  params(): Readonly<ThresholdParams>;
}

export function isThresholdStore(ext: unknown): ext is ThresholdStore {
  if (typeof ext !== 'object' || ext === null) return false;
  const s = ext as Record<string, unknown>;
  return ['record', 'get', 'clusters', 'configure', 'params'].every((m) => typeof s[m] === 'function');
}

/**
 * One node's latest score. Made once per node and updated in place by every push, so the
 * Redis write queue can hold the entry itself: a queued node that pushes again costs nothing.
 */
export interface ScoreEntry {
  readonly clusterId: string;
  readonly nodeId: string;
  score: number;
  seenMs: number;
  /** In the Redis write queue (always false with the memory backend). */
  queued: boolean;
}

export function scoreEntry(clusterId: string, nodeId: string, score: number, seenMs: number): ScoreEntry {
  return { clusterId, nodeId, score, seenMs, queued: false };
}

interface ClusterState {
  readonly id: string;
  nodes: Map<string, ScoreEntry>;
  /** A score changed since the last compute. */
  dirty: boolean;
  threshold: number;
  computedAtMs: number;
  /** The last compute had the quorum, so `threshold` may be served. */
  withQuorum: boolean;
  /** Bumped by every compute; a cached view of an older version is rebuilt. */
  version: number;
  view: ThresholdView | undefined;
  viewVersion: number;
}

/** One cluster as read from Redis: all its nodes, or those changed since the last read. */
export interface ClusterRead {
  full: boolean;
  entries: ScoreEntry[];
}

export interface FleetLimits {
  ttlMs: number;
  maxClusters: number;
  maxNodesPerCluster: number;
  /** Most nodes over all clusters together. */
  maxNodes: number;
}

function sameParams(a: ThresholdParams, b: ThresholdParams): boolean {
  return a.method === b.method && a.k === b.k && a.p === b.p && a.statisticalMin === b.statisticalMin;
}

function describeParams(p: ThresholdParams): string {
  const knob = p.method === 'percentile' ? `p ${p.p}` : `k ${p.k}`;
  return `method ${p.method}, ${knob}, statistical_min ${p.statisticalMin}`;
}

function checkParams(p: ThresholdParams): void {
  if (!THRESHOLD_METHODS.includes(p.method)) throw new RangeError(`unknown threshold method "${p.method}"; use ${THRESHOLD_METHODS.join(', ')}`);
  if (!(p.k >= 0) || !Number.isFinite(p.k)) throw new RangeError(`k must be a finite number >= 0, got ${p.k}`);
  if (!(p.p >= 0 && p.p <= 100)) throw new RangeError(`p must be between 0 and 100, got ${p.p}`);
  if (!Number.isSafeInteger(p.statisticalMin) || p.statisticalMin < 1) throw new RangeError(`statistical_min must be an integer >= 1, got ${p.statisticalMin}`);
}

const validId = (id: string) => id !== '' && id.length <= MAX_ID_LENGTH;

/**
 * The score map both backends hold locally, and the only place thresholds are computed.
 * Pure: no timers and no I/O; the clock is passed in.
 */
export class FleetState {
  readonly limits: FleetLimits;
  readonly #clusters = new Map<string, ClusterState>();
  /** Nodes over all clusters, kept for the `maxNodes` cap. */
  #nodes = 0;
  #params: ThresholdParams = { ...DEFAULT_PARAMS };
  #owner: string | undefined;
  #stale = false;
  /** Reused by every compute; grows to the largest cluster seen. */
  #scratch = new Float64Array(64);
  readonly #now: () => number;
  readonly #onAccepted: ((e: ScoreEntry) => void) | undefined;

  /** `onAccepted` sees the entry of every score accepted, after it was updated. */
  constructor(limits: FleetLimits, now: () => number = Date.now, onAccepted?: (e: ScoreEntry) => void) {
    this.limits = limits;
    this.#now = now;
    this.#onAccepted = onAccepted;
  }

  get params(): Readonly<ThresholdParams> {
    return this.#params;
  }

  configure(owner: string, params: ThresholdParams): void {
    checkParams(params);
    if (this.#owner !== undefined) {
      if (sameParams(this.#params, params)) return;
      throw new Error(
        `threshold settings (${describeParams(params)}) differ from those processor "${this.#owner}" set on the same store (${describeParams(this.#params)}); thresholds must be computed one way for every reader`,
      );
    }
    this.#owner = owner;
    this.#params = { ...params };
    for (const c of this.#clusters.values()) {
      c.dirty = true;
      c.withQuorum = false;
      c.version++;
    }
  }

  /** Marks every view as stale (or fresh again); views are rebuilt on their next `get`. */
  setStale(stale: boolean): void {
    this.#stale = stale;
  }

  record(clusterId: string, nodeId: string, score: number, atMs: number): RecordOutcome {
    if (typeof score !== 'number' || !Number.isFinite(score)) return 'invalid_score';
    if (typeof clusterId !== 'string' || typeof nodeId !== 'string' || !validId(clusterId) || !validId(nodeId)) return 'invalid_id';
    let c = this.#clusters.get(clusterId);
    if (c === undefined) {
      if (this.#clusters.size >= this.limits.maxClusters) return 'cap_clusters';
      if (this.#nodes >= this.limits.maxNodes) return 'cap_total_nodes';
      c = this.#newCluster(clusterId);
    }
    let e = c.nodes.get(nodeId);
    if (e === undefined) {
      if (c.nodes.size >= this.limits.maxNodesPerCluster) return 'cap_nodes';
      if (this.#nodes >= this.limits.maxNodes) return 'cap_total_nodes';
      e = scoreEntry(clusterId, nodeId, score, atMs);
      c.nodes.set(nodeId, e);
      this.#nodes++;
      c.dirty = true;
    } else {
      if (e.score !== score) c.dirty = true;
      e.score = score;
      e.seenMs = atMs;
    }
    this.#onAccepted?.(e);
    return 'accepted';
  }

  get(clusterId: string): ThresholdView {
    const c = this.#clusters.get(clusterId);
    if (c === undefined) return this.#emptyView(clusterId);
    const n = c.nodes.size;
    const quorum = n >= this.#params.statisticalMin;
    // The push that reached the quorum is answered with a threshold, not with 0.
    if (quorum && !c.withQuorum) this.#compute(c);
    const v = c.view;
    if (v !== undefined && c.viewVersion === c.version && v.activeNodes === n && v.stale === this.#stale) return v;
    c.viewVersion = c.version;
    c.view = Object.freeze({
      clusterId: c.id,
      threshold: quorum ? c.threshold : 0,
      quorumMet: quorum,
      activeNodes: n,
      statisticalMin: this.#params.statisticalMin,
      method: this.#params.method,
      computedAtMs: c.computedAtMs,
      stale: this.#stale,
    });
    return c.view;
  }

  clusters(): string[] {
    return [...this.#clusters.keys()].sort();
  }

  /** Every node's entry, for writing the whole view back to Redis. */
  *entries(): Generator<ScoreEntry> {
    for (const c of this.#clusters.values()) yield* c.nodes.values();
  }

  /** Drops nodes last seen `ttl` or longer ago, and clusters left empty. Returns the nodes dropped. */
  sweep(): number {
    const cutoff = this.#now() - this.limits.ttlMs;
    let expired = 0;
    for (const c of this.#clusters.values()) {
      const before = c.nodes.size;
      for (const [node, e] of c.nodes) if (e.seenMs <= cutoff) c.nodes.delete(node);
      if (c.nodes.size === before) continue;
      expired += before - c.nodes.size;
      this.#nodes -= before - c.nodes.size;
      c.dirty = true;
      if (c.nodes.size === 0) this.#clusters.delete(c.id);
    }
    return expired;
  }

  /** Recomputes the threshold of every cluster whose scores changed. Returns how many were computed. */
  recompute(): number {
    let computed = 0;
    for (const c of this.#clusters.values()) {
      if (!c.dirty) continue;
      this.#compute(c);
      computed++;
    }
    return computed;
  }

  holds(clusterId: string): boolean {
    return this.#clusters.has(clusterId);
  }

  /**
   * Takes the fleet as read from Redis: a cluster read whole replaces the local one, a cluster
   * read as changes is updated (a score seen later wins), and a cluster Redis no longer has is
   * dropped. Then the entries of `overlay` (scores not yet confirmed by Redis) are put back
   * where they are newer. Clusters whose scores did not change keep their computed threshold;
   * clusters past `maxClusters` in sorted order are left out.
   */
  replace(clusters: Map<string, ClusterRead>, overlay: Iterable<ScoreEntry>): void {
    const ids = [...clusters.keys()].sort().slice(0, this.limits.maxClusters);
    const next = new Map<string, ClusterState>();
    const old = new Map(this.#clusters);
    for (const id of ids) {
      const read = clusters.get(id)!;
      const held = old.get(id);
      const c = held ?? this.#newCluster(id, false);
      if (read.full || held === undefined) {
        const nodes = new Map<string, ScoreEntry>();
        for (const e of read.entries) nodes.set(e.nodeId, e);
        c.dirty ||= !sameScores(c.nodes, nodes);
        c.nodes = nodes;
      } else {
        for (const e of read.entries) {
          const cur = c.nodes.get(e.nodeId);
          if (cur === undefined) {
            c.nodes.set(e.nodeId, e);
            c.dirty = true;
          } else if (e.seenMs >= cur.seenMs) {
            if (cur.score !== e.score) c.dirty = true;
            cur.score = e.score;
            cur.seenMs = e.seenMs;
          }
        }
      }
      next.set(id, c);
    }
    for (const e of overlay) {
      let c = next.get(e.clusterId);
      if (c === undefined) {
        if (next.size >= this.limits.maxClusters) continue;
        c = old.get(e.clusterId) ?? this.#newCluster(e.clusterId, false);
        c.nodes = new Map();
        c.dirty = true;
        next.set(e.clusterId, c);
      }
      const cur = c.nodes.get(e.nodeId);
      if (cur === e || (cur !== undefined && cur.seenMs > e.seenMs)) continue;
      if (cur === undefined || cur.score !== e.score) c.dirty = true;
      // The queued entry itself goes back, so later pushes keep updating what is queued.
      c.nodes.set(e.nodeId, e);
    }
    this.#clusters.clear();
    this.#nodes = 0;
    for (const [id, c] of next) {
      if (c.nodes.size === 0) continue;
      if (c.nodes.size < this.#params.statisticalMin) c.withQuorum = false;
      this.#clusters.set(id, c);
      this.#nodes += c.nodes.size;
    }
  }

  #newCluster(id: string, register = true): ClusterState {
    const c: ClusterState = {
      id,
      nodes: new Map(),
      dirty: true,
      threshold: 0,
      computedAtMs: 0,
      withQuorum: false,
      version: 0,
      view: undefined,
      viewVersion: -1,
    };
    if (register) this.#clusters.set(id, c);
    return c;
  }

  #compute(c: ClusterState): void {
    c.dirty = false;
    const n = c.nodes.size;
    if (n < this.#params.statisticalMin || n === 0) {
      if (c.withQuorum || c.threshold !== 0) c.version++;
      c.withQuorum = false;
      c.threshold = 0;
      return;
    }
    if (this.#scratch.length < n) this.#scratch = new Float64Array(Math.max(n, this.#scratch.length * 2));
    let i = 0;
    for (const e of c.nodes.values()) this.#scratch[i++] = e.score;
    const sorted = this.#scratch.subarray(0, n).sort();
    c.threshold = thresholdOf(sorted, this.#params);
    c.computedAtMs = this.#now();
    c.withQuorum = true;
    c.version++;
  }

  #emptyView(clusterId: string): ThresholdView {
    return Object.freeze({
      clusterId,
      threshold: 0,
      quorumMet: false,
      activeNodes: 0,
      statisticalMin: this.#params.statisticalMin,
      method: this.#params.method,
      computedAtMs: 0,
      stale: this.#stale,
    });
  }
}

function sameScores(a: ReadonlyMap<string, ScoreEntry>, b: ReadonlyMap<string, ScoreEntry>): boolean {
  if (a.size !== b.size) return false;
  for (const [node, e] of a) if (b.get(node)?.score !== e.score) return false;
  return true;
}
