/**
 * The Redis side of `backend: redis`. Each replica keeps the whole fleet in its FleetState and
 * answers from it; Redis is where replicas meet:
 *
 * - a push updates the local state at once and queues the score; queued scores are written
 *   soon after (coalesced per node, several clusters per round trip) by a Lua script that
 *   keeps whichever score of a node was seen last, so the order writes arrive in is moot;
 * - every refresh the replica reads every cluster back (a script that first expires nodes
 *   older than `ttl`) and replaces its state with it, its own unwritten scores laid on top;
 *   thresholds are then computed locally, so replicas holding the same scores agree exactly;
 * - when Redis is unreachable nothing waits for it: pushes are answered from local state, the
 *   queue is bounded (the oldest score is dropped past it), errors are counted, and the
 *   client reconnects with backoff. After every reconnect the replica writes its whole view
 *   back (older scores never win), so a Redis that restarted empty is refilled at once.
 *
 * Keys: `<prefix>clusters` (set of cluster IDs); per cluster `<prefix>c:<id>:scores` (hash
 * node → "score lastSeenMs") and `<prefix>c:<id>:seen` (sorted set node → lastSeenMs, for
 * expiry). Every write extends the keys' own expiry to max(2·ttl, ttl + 1m), so a fleet that
 * stopped leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@skein/core';
import { createClient } from 'redis';
import { scoreEntry, type FleetState, type ScoreEntry } from './store.ts';

/** KEYS: scores, seen, clusters. ARGV: cluster, key ttl ms, then node, score, seenMs triples. */
const WRITE = `
local written = 0
for i = 3, #ARGV, 3 do
  local seen = tonumber(ARGV[i + 2])
  local current = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if (not current) or tonumber(current) <= seen then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. ' ' .. ARGV[i + 2])
    redis.call('ZADD', KEYS[2], seen, ARGV[i])
    written = written + 1
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return written
`;

/** KEYS: scores, seen, clusters. ARGV: cluster, cutoff ms. Expires, then answers HGETALL. */
const READ = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for i = 1, #gone do redis.call('HDEL', KEYS[1], gone[i]) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2]) end
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
end
return all
`;

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const WRITE_SCRIPT = script(WRITE);
const READ_SCRIPT = script(READ);

/** Nodes per write script call, so that one call never holds Redis for long. */
const WRITE_CHUNK = 1000;
const RECONNECT_MAX_MS = 2000;

export interface RedisSyncOptions {
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  maxPendingWrites: number;
  ttlMs: number;
  state: FleetState;
  now: () => number;
  logger: Logger;
  onError(op: 'connect' | 'write' | 'read'): void;
  onDropped(n: number): void;
  onUp(up: boolean): void;
  onSynced(atMs: number): void;
}

export class RedisSync {
  readonly #o: RedisSyncOptions;
  readonly #client;
  readonly #keyTtl: string;
  /**
   * Entries whose score is to be written, oldest first, from `#head` on. An entry is queued
   * once however often its node pushes meanwhile: it is updated in place.
   */
  #queue: ScoreEntry[] = [];
  #head = 0;
  /** Entries sent and not yet confirmed. */
  #inFlight: ScoreEntry[] = [];
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  #syncing: Promise<void> | undefined;
  #writeFailed = false;
  #ready = false;
  #reseed = false;
  #closed = false;
  #connecting: Promise<unknown> | undefined;

  constructor(o: RedisSyncOptions) {
    this.#o = o;
    this.#keyTtl = String(Math.max(2 * o.ttlMs, o.ttlMs + 60_000));
    this.#client = createClient({
      url: o.url,
      // Commands fail at once while disconnected instead of queueing behind the outage.
      disableOfflineQueue: true,
      commandOptions: { timeout: o.timeoutMs },
      socket: {
        connectTimeout: o.timeoutMs,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, RECONNECT_MAX_MS),
      },
    });
    this.#client.on('error', (err: Error) => {
      o.onError('connect');
      if (this.#ready || this.#connecting === undefined) o.logger.warn('redis unreachable; answering from the last known scores', { err: err.message });
      this.#setReady(false);
    });
    this.#client.on('ready', () => {
      if (!this.#ready) o.logger.info('connected to redis', { url: redactUrl(o.url) });
      // Whatever this replica knows goes back in: Redis may have restarted empty.
      this.#reseed = true;
      this.#writeFailed = false;
      this.#setReady(true);
      this.#scheduleFlush();
    });
  }

  get pendingWrites(): number {
    return this.#queued + this.#inFlight.length;
  }

  get #queued(): number {
    return this.#queue.length - this.#head;
  }

  get ready(): boolean {
    return this.#ready;
  }

  #setReady(up: boolean): void {
    if (this.#ready === up) return;
    this.#ready = up;
    this.#o.onUp(up);
  }

  /** Connects, waiting at most `timeout`; then reads the fleet once if Redis answered. */
  async start(): Promise<void> {
    if (this.#connecting) return;
    this.#connecting = this.#client.connect().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#o.timeoutMs);
    });
    await Promise.race([this.#connecting, gaveUp]);
    clearTimeout(timer);
    if (this.#ready) await this.sync();
    else this.#o.logger.warn('redis did not answer at start; answering from local scores until it does', { url: redactUrl(this.#o.url) });
  }

  /** Called for every accepted score: queues its entry, dropping the oldest past the bound. */
  onRecord(e: ScoreEntry): void {
    if (e.queued) return;
    if (this.#queued >= this.#o.maxPendingWrites) {
      this.#queue[this.#head]!.queued = false;
      this.#queue[this.#head++] = undefined!;
      this.#o.onDropped(1);
      if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    }
    e.queued = true;
    this.#queue.push(e);
    this.#scheduleFlush();
  }

  /** Writes what is queued soon, batching whatever else arrives in the meantime. */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing || !this.#ready || this.#writeFailed || this.#closed) return;
    if (this.#queued === 0) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush().then(
        () => this.#scheduleFlush(),
        () => undefined,
      );
    });
  }

  /** Takes the queue, oldest first, leaving it empty. */
  #takeQueue(): ScoreEntry[] {
    const taken = this.#head === 0 ? this.#queue : this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    return taken;
  }

  /** Sends the queue; on failure puts it back (in front of newer scores) and rejects. */
  #flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#queued === 0) return Promise.resolve();
    const batch = this.#takeQueue();
    // Unmarked before sending: a push while the write is out queues the entry again.
    for (const e of batch) e.queued = false;
    this.#inFlight = batch;
    this.#flushing = this.#writeScores(batch)
      .then(
        () => {
          this.#writeFailed = false;
        },
        (err: unknown) => {
          this.#o.onError('write');
          // Retried by the next refresh rather than at once, so an outage is not a busy loop.
          this.#writeFailed = true;
          this.#requeue(batch);
          throw err;
        },
      )
      .finally(() => {
        this.#inFlight = [];
        this.#flushing = undefined;
      });
    return this.#flushing;
  }

  /** Puts failed writes back in front of newer ones, then drops the oldest past the bound. */
  #requeue(failed: ScoreEntry[]): void {
    const newer = this.#takeQueue();
    const back = failed.filter((e) => !e.queued);
    for (const e of back) e.queued = true;
    const all = back.concat(newer);
    const drop = all.length - this.#o.maxPendingWrites;
    if (drop > 0) {
      for (let i = 0; i < drop; i++) all[i]!.queued = false;
      this.#o.onDropped(drop);
    }
    this.#queue = drop > 0 ? all.slice(drop) : all;
  }

  /** Writes scores; the values are read now, so later pushes go out with the next write. */
  async #writeScores(scores: Iterable<ScoreEntry>): Promise<void> {
    const byCluster = new Map<string, string[]>();
    for (const w of scores) {
      let args = byCluster.get(w.clusterId);
      if (args === undefined) byCluster.set(w.clusterId, (args = []));
      args.push(w.nodeId, String(w.score), String(w.seenMs));
    }
    const calls: Promise<unknown>[] = [];
    for (const [clusterId, args] of byCluster) {
      for (let i = 0; i < args.length; i += 3 * WRITE_CHUNK) {
        calls.push(this.#eval(WRITE_SCRIPT, this.#keys(clusterId), [clusterId, this.#keyTtl, ...args.slice(i, i + 3 * WRITE_CHUNK)]));
      }
    }
    await Promise.all(calls);
  }

  /** Every node this replica holds, as write-script arguments (older scores never win). */
  async #writeBack(): Promise<void> {
    await this.#writeScores(this.#o.state.entries());
  }

  /**
   * One refresh: write what is queued (and, after a reconnect, everything), read every cluster
   * back and replace the local state with it. Rejects when Redis could not be read; the local
   * state is then left as it was.
   */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    if (!this.#ready) throw new Error('redis is not connected');
    if (this.#flushing) await this.#flushing.catch(() => undefined);
    if (this.#reseed) {
      try {
        await this.#writeBack();
      } catch (err) {
        this.#o.onError('write');
        throw err;
      }
      this.#reseed = false;
    }
    this.#writeFailed = false;
    await this.#flush();
    let clusters: Map<string, Map<string, ScoreEntry>>;
    try {
      clusters = await this.#read();
    } catch (err) {
      this.#o.onError('read');
      throw err;
    }
    this.#o.state.replace(clusters, [...this.#inFlight, ...this.#queue.slice(this.#head)]);
    this.#o.onSynced(this.#o.now());
  }

  async #read(): Promise<Map<string, Map<string, ScoreEntry>>> {
    const ids = await this.#client.sMembers(this.#o.keyPrefix + 'clusters');
    const cutoff = String(this.#o.now() - this.#o.ttlMs);
    const replies = await Promise.all(ids.map((id) => this.#eval(READ_SCRIPT, this.#keys(id), [id, cutoff])));
    const clusters = new Map<string, Map<string, ScoreEntry>>();
    for (let c = 0; c < ids.length; c++) {
      const flat = replies[c] as string[];
      if (flat.length === 0) continue;
      const nodes = new Map<string, ScoreEntry>();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const value = flat[i + 1]!;
        const space = value.indexOf(' ');
        const score = Number(value.slice(0, space));
        const seenMs = Number(value.slice(space + 1));
        if (space > 0 && Number.isFinite(score) && Number.isFinite(seenMs)) nodes.set(flat[i]!, scoreEntry(ids[c]!, flat[i]!, score, seenMs));
      }
      clusters.set(ids[c]!, nodes);
    }
    return clusters;
  }

  #keys(clusterId: string): string[] {
    const p = this.#o.keyPrefix;
    return [`${p}c:${clusterId}:scores`, `${p}c:${clusterId}:seen`, `${p}clusters`];
  }

  /** EVALSHA, falling back to EVAL when Redis does not have the script (it restarted). */
  async #eval(s: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalSha(s.sha, { keys, arguments: args });
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.#client.eval(s.source, { keys, arguments: args });
    }
  }

  /** Writes what is queued (waiting at most `timeout`), then disconnects. Safe twice. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#connecting === undefined) return;
    if (this.#ready) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#o.timeoutMs);
      });
      const drained = (async () => {
        await this.#syncing?.catch(() => undefined);
        await this.#flushing?.catch(() => undefined);
        await this.#flush().catch(() => undefined);
      })();
      await Promise.race([drained, gaveUp]);
      clearTimeout(timer);
    }
    this.#setReady(false);
    this.#client.destroy();
    await this.#connecting;
  }
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}
