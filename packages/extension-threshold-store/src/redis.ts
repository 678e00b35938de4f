/**
 * The Redis side of `backend: redis`. Each replica keeps the whole fleet in its FleetState and
 * answers from it; Redis is where replicas meet:
 *
 * - a push updates the local state at once and puts the node in the state's write log; logged
 *   nodes are written soon after (one per node however often it pushed, several clusters per round
 *   trip) by a Lua script that keeps whichever score of a node was seen last, so the order
 *   writes arrive in is moot. Each script call takes the cluster's next version and files the
 *   nodes it wrote under it;
 * - every refresh the replica reads each cluster back with a script that first expires nodes
 *   older than `ttl`: whole the first time (and after every reconnect), then only the nodes
 *   written after the version it read last. Its own unconfirmed scores are laid on top, and
 *   thresholds are computed locally, so replicas holding the same scores agree exactly;
 * - when Redis is unreachable nothing waits for it: pushes are answered from local state, the
 *   write log is bounded (the oldest node is dropped past it), errors are counted, and the
 *   client reconnects with backoff. After every reconnect the replica writes its whole view
 *   back (older scores never win), so a Redis that restarted empty is refilled at once.
 *
 * Keys: `<prefix>clusters` (set of cluster IDs); per cluster `<prefix>c:<id>:scores` (hash
 * node → "score lastSeenMs"), `<prefix>c:<id>:seen` (sorted set node → lastSeenMs, for
 * expiry), `<prefix>c:<id>:version` (counter) and `<prefix>c:<id>:changed` (sorted set node →
 * version of its last write). Every write extends the keys' own expiry to max(2·ttl, ttl + 1m),
 * so a fleet that stopped leaves nothing behind. Needs Redis 6.2 or later (ZMSCORE).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@skein/core';
import { createClient } from 'redis';
import type { ClusterRead, FleetState, ScoreRecord } from './store.ts';

/**
 * KEYS: scores, seen, clusters, version, changed. ARGV: cluster, key ttl ms, then node, score,
 * seenMs triples. Each call takes the next version of the cluster and files the nodes it wrote
 * under it, so readers can ask for what changed since the version they last read.
 */
const WRITE = `
local version = redis.call('INCR', KEYS[4])
local nodes = {}
for i = 3, #ARGV, 3 do nodes[#nodes + 1] = ARGV[i] end
local current = redis.call('ZMSCORE', KEYS[2], unpack(nodes))
local fields, seen, changed = {}, {}, {}
for j = 1, #nodes do
  local at = 3 * j + 2
  if (not current[j]) or tonumber(current[j]) <= tonumber(ARGV[at]) then
    fields[#fields + 1] = nodes[j]
    fields[#fields + 1] = ARGV[at - 1] .. ' ' .. ARGV[at]
    seen[#seen + 1] = ARGV[at]
    seen[#seen + 1] = nodes[j]
    changed[#changed + 1] = version
    changed[#changed + 1] = nodes[j]
  end
end
if #fields > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('ZADD', KEYS[2], unpack(seen))
  redis.call('ZADD', KEYS[5], unpack(changed))
end
redis.call('SADD', KEYS[3], ARGV[1])
for k = 1, 5 do redis.call('PEXPIRE', KEYS[k], ARGV[2]) end
return #fields / 2
`;

/**
 * KEYS: as WRITE. ARGV: cluster, cutoff ms, since (the version last read, 0 for none).
 * Expires nodes last seen at or before the cutoff, then answers {version, full, {node, value,
 * ...}}: every node (full = 1) when since is 0 or ahead of the cluster's version (Redis lost
 * its data), else (full = 0) the nodes written after since.
 */
const READ = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
  redis.call('ZREM', KEYS[5], gone[i])
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2]) end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
  return {0, 1, {}}
end
local version = tonumber(redis.call('GET', KEYS[4]) or '0')
local since = tonumber(ARGV[3])
if since == 0 or since > version then return {version, 1, redis.call('HGETALL', KEYS[1])} end
local nodes = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. since, '+inf')
local changed = {}
for i = 1, #nodes, 1000 do
  local part = {unpack(nodes, i, math.min(i + 999, #nodes))}
  local values = redis.call('HMGET', KEYS[1], unpack(part))
  for j = 1, #part do
    if values[j] then
      changed[#changed + 1] = part[j]
      changed[#changed + 1] = values[j]
    end
  end
end
return {version, 0, changed}
`;

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const WRITE_SCRIPT = script(WRITE);
const READ_SCRIPT = script(READ);

/** Nodes per write script call, so that one call never holds Redis for long (and Lua's unpack stays within its limit). */
const WRITE_CHUNK = 1000;
const RECONNECT_MAX_MS = 2000;

export interface RedisSyncOptions {
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  ttlMs: number;
  state: FleetState;
  now: () => number;
  logger: Logger;
  onError(op: 'connect' | 'write' | 'read'): void;
  onUp(up: boolean): void;
  onSynced(atMs: number): void;
}

export class RedisSync {
  readonly #o: RedisSyncOptions;
  readonly #client;
  readonly #keyTtl: string;
  /** Scores sent and not yet confirmed (what is still to be sent is the state's write log). */
  #inFlight: ScoreRecord[] = [];
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  #syncing: Promise<void> | undefined;
  #writeFailed = false;
  #ready = false;
  #reseed = false;
  #closed = false;
  #connecting: Promise<unknown> | undefined;
  /** Per cluster, the version read last: the next read asks only for what changed since. */
  #versions = new Map<string, number>();

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
      // Whatever this replica knows goes back in, and every cluster is read whole again: Redis
      // may have restarted, empty or with versions that mean nothing to this replica any more.
      this.#reseed = true;
      this.#versions.clear();
      this.#writeFailed = false;
      this.#setReady(true);
      this.scheduleFlush();
    });
  }

  get pendingWrites(): number {
    return this.#o.state.logged + this.#inFlight.length;
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

  /** Writes the write log soon, batching whatever else arrives in the meantime. The state calls it when a node enters the log. */
  scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing || !this.#ready || this.#writeFailed || this.#closed) return;
    if (this.#o.state.logged === 0) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush().then(
        () => this.scheduleFlush(),
        () => undefined,
      );
    });
  }

  /** Sends the write log; on failure puts it back (in front of newer scores) and rejects. */
  #flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    // Taken before sending: a node that pushes while the write is out enters the log again.
    const batch = this.#o.state.takeLogged();
    if (batch.length === 0) return Promise.resolve();
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
          this.#o.state.restoreLogged(batch);
          throw err;
        },
      )
      .finally(() => {
        this.#inFlight = [];
        this.#flushing = undefined;
      });
    return this.#flushing;
  }

  /** Writes scores (copies: later pushes go out with the next write). */
  async #writeScores(scores: Iterable<ScoreRecord>): Promise<void> {
    // One entry per node and call, the one seen last: a script call compares each node with
    // Redis, not with the other nodes of the same call.
    const byCluster = new Map<string, Map<string, ScoreRecord>>();
    for (const e of scores) {
      let nodes = byCluster.get(e.clusterId);
      if (nodes === undefined) byCluster.set(e.clusterId, (nodes = new Map()));
      const other = nodes.get(e.nodeId);
      if (other === undefined || other.seenMs <= e.seenMs) nodes.set(e.nodeId, e);
    }
    const calls: Promise<unknown>[] = [];
    for (const [clusterId, nodes] of byCluster) {
      let args: string[] = [];
      for (const e of nodes.values()) {
        args.push(e.nodeId, String(e.score), String(e.seenMs));
        if (args.length === 3 * WRITE_CHUNK) {
          calls.push(this.#eval(WRITE_SCRIPT, this.#keys(clusterId), [clusterId, this.#keyTtl, ...args]));
          args = [];
        }
      }
      if (args.length > 0) calls.push(this.#eval(WRITE_SCRIPT, this.#keys(clusterId), [clusterId, this.#keyTtl, ...args]));
    }
    await Promise.all(calls);
  }

  /** Every node this replica holds, as write-script arguments (older scores never win). */
  async #writeBack(): Promise<void> {
    await this.#writeScores(this.#o.state.entries());
  }

  /**
   * One refresh: write the write log (and, after a reconnect, everything), read each cluster
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
    let read: { clusters: Map<string, ClusterRead>; versions: Map<string, number> };
    try {
      read = await this.#read();
    } catch (err) {
      this.#o.onError('read');
      throw err;
    }
    const state = this.#o.state;
    state.replace(read.clusters, this.#inFlight);
    // A cluster the state left out (past max_clusters) is read whole if it ever comes back.
    for (const id of read.versions.keys()) if (!state.holds(id)) read.versions.delete(id);
    this.#versions = read.versions;
    this.#o.onSynced(this.#o.now());
  }

  /** Every cluster: whole the first time (and after a reconnect), then what changed since. */
  async #read(): Promise<{ clusters: Map<string, ClusterRead>; versions: Map<string, number> }> {
    const ids = await this.#client.sMembers(this.#o.keyPrefix + 'clusters');
    const cutoff = String(this.#o.now() - this.#o.ttlMs);
    const replies = await Promise.all(
      ids.map((id) => this.#eval(READ_SCRIPT, this.#keys(id), [id, cutoff, String(this.#o.state.holds(id) ? (this.#versions.get(id) ?? 0) : 0)])),
    );
    const clusters = new Map<string, ClusterRead>();
    const versions = new Map<string, number>();
    for (let c = 0; c < ids.length; c++) {
      const clusterId = ids[c]!;
      const [version, full, flat] = replies[c] as [number, number, (string | null)[]];
      if (version === 0) continue;
      const entries: ScoreRecord[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const value = flat[i + 1];
        const space = value?.indexOf(' ') ?? -1;
        if (space <= 0) continue;
        // + 0 turns a -0 written by anything else into 0, as record() does.
        const score = Number(value!.slice(0, space)) + 0;
        const seenMs = Number(value!.slice(space + 1));
        if (Number.isFinite(score) && Number.isFinite(seenMs)) entries.push({ clusterId, nodeId: flat[i]!, score, seenMs });
      }
      clusters.set(clusterId, { full: full === 1, entries });
      versions.set(clusterId, version);
    }
    return { clusters, versions };
  }

  #keys(clusterId: string): string[] {
    const p = this.#o.keyPrefix;
    const c = `${p}c:${clusterId}:`;
    return [`${c}scores`, `${c}seen`, `${p}clusters`, `${c}version`, `${c}changed`];
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

  /** Writes the write log (waiting at most `timeout`), then disconnects. Safe twice. */
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
