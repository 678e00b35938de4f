/**
 * The probe loop: one timer per receiver, cycles started on a fixed grid (start time + k ×
 * interval, so they do not drift), and in each cycle every target probed once with at most
 * `maxConcurrency` probes in flight. Each probe has its own timeout, clamped to
 * `maxTimeoutMs`; when it passes, the probe is aborted and recorded as a timeout whether or
 * not the probe function cooperates, so a stuck backend cannot stall a cycle.
 *
 * A tick that finds the previous cycle still running is skipped, counted in
 * `skein_probe_cycles_overrun_total` and logged: cycles never stack.
 */
import { DURATION_BUCKETS, formatDuration, nowUnixNano, type ComponentTelemetry, type Counter, type Histogram, type Logger } from '@skein/core';
import { errorText, type ProbeOutcome, type ProbePhase } from './result.ts';

/** What the loop needs of a target. */
export interface LoopTarget {
  /** Unique within one loop. */
  readonly key: string;
  /** This target's timeout; the loop's default when absent. Clamped to the maximum either way. */
  readonly timeoutMs?: number;
}

/** The abort reason a probe sees when its timeout passed (rather than the loop shutting down). */
export class ProbeTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no result within ${formatDuration(timeoutMs)}`);
    this.name = 'ProbeTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

const PHASE_WORDS: Record<ProbePhase, string> = {
  dns: 'resolving the name',
  connect: 'connecting',
  tls: 'in the TLS handshake',
  request: 'sending the request',
  response: 'waiting for the response',
  body: 'reading the body',
  done: 'finishing',
};

/**
 * The outcome of a probe aborted in `phase`: a timeout while resolving `host` is a `dns`
 * failure, any other timeout a `timeout`; an abort for shutdown is never recorded.
 */
export function abortedOutcome(reason: unknown, phase: ProbePhase, host: string, timeoutMs: number): ProbeOutcome {
  if (!(reason instanceof ProbeTimeoutError)) return { reachable: false, error_class: 'other', error: 'aborted: shutting down', phase };
  const within = formatDuration(timeoutMs);
  if (phase === 'dns') return { reachable: false, error_class: 'dns', error: `resolving ${host} did not finish within ${within}`, phase };
  return { reachable: false, error_class: 'timeout', error: `no answer within ${within} while ${PHASE_WORDS[phase]}`, phase };
}

/**
 * A probe: resolves with what it found. It must give up promptly when `signal` aborts (its
 * reason is a ProbeTimeoutError when the timeout passed) and may never reject; a rejection is
 * recorded as error class `other`.
 */
export type ProbeFunction<T> = (target: T, signal: AbortSignal, timeoutMs: number) => Promise<ProbeOutcome>;

export interface CycleResult<T> {
  target: T;
  outcome: ProbeOutcome;
  /** When the probe ended. */
  timeUnixNano: bigint;
}

export interface ProbeLoopOptions<T extends LoopTarget> {
  intervalMs: number;
  /** The default per-probe timeout. */
  timeoutMs: number;
  /** The hard ceiling on every probe's timeout. */
  maxTimeoutMs: number;
  /** Probes in flight at once; 1 probes the targets one after another. */
  maxConcurrency: number;
  probe: ProbeFunction<T>;
  /** Runs before each cycle takes its snapshot of the targets (a targets file is checked there). */
  beforeCycle?(): Promise<void> | void;
  /** Each probe's result as it ends (the probes extension gets it here). */
  onResult?(result: CycleResult<T>): void;
  /** Every result of a finished cycle, in target order; a cycle cut short by shutdown has none. */
  onCycle?(results: CycleResult<T>[]): Promise<void> | void;
  logger: Logger;
  telemetry: ComponentTelemetry;
}

/** Cycle durations run from milliseconds to minutes (many targets, one at a time). */
const CYCLE_BUCKETS = [...DURATION_BUCKETS, 30, 60, 120, 300];

export class ProbeLoop<T extends LoopTarget> {
  readonly #opts: ProbeLoopOptions<T>;
  readonly #stop = new AbortController();
  readonly #cycles: Counter;
  readonly #overruns: Counter;
  readonly #cycleSeconds: Histogram;
  readonly #checks: Counter;
  #targets: readonly T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #origin = 0;
  #inFlight: Promise<void> | undefined;
  #cycleStartedAt = 0;
  #started = false;

  constructor(opts: ProbeLoopOptions<T>) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`interval must be more than 0, got ${opts.intervalMs}`);
    if (!(opts.maxConcurrency >= 1)) throw new RangeError(`max concurrency must be at least 1, got ${opts.maxConcurrency}`);
    this.#opts = opts;
    const t = opts.telemetry;
    this.#cycles = t.counter({ name: 'skein_probe_cycles_total', help: 'Probe cycles that ran to the end.' });
    this.#overruns = t.counter({
      name: 'skein_probe_cycles_overrun_total',
      help: 'Ticks skipped because the previous probe cycle was still running.',
    });
    this.#cycleSeconds = t.histogram({
      name: 'skein_probe_cycle_duration_seconds',
      help: 'How long a probe cycle took, from its first probe to its batch being accepted.',
      buckets: CYCLE_BUCKETS,
    });
    this.#checks = t.counter({
      name: 'skein_probe_checks_total',
      help: 'Probes made, by result: success or the error class.',
      labelNames: ['result'],
    });
  }

  get targets(): readonly T[] {
    return this.#targets;
  }

  /** Replaces the targets; a cycle already running keeps the list it started with. */
  setTargets(targets: readonly T[]): void {
    this.#targets = targets;
  }

  /** The effective timeout of a target. */
  timeoutOf(target: T): number {
    return Math.min(target.timeoutMs ?? this.#opts.timeoutMs, this.#opts.maxTimeoutMs);
  }

  /** Starts the timer and the first cycle at once. Calling it again does nothing. */
  start(): void {
    if (this.#started || this.#stop.signal.aborted) return;
    this.#started = true;
    this.#origin = performance.now();
    this.#schedule(1);
    this.#tick();
  }

  /**
   * Runs one cycle now, outside the schedule (tests and benchmarks). Resolves false, without
   * probing, when a cycle is already running.
   */
  async runCycle(): Promise<boolean> {
    if (this.#inFlight || this.#stop.signal.aborted) return false;
    this.#inFlight = this.#cycle().finally(() => (this.#inFlight = undefined));
    await this.#inFlight;
    return true;
  }

  /** Stops the timer, aborts the probes in flight and waits for the cycle to end. Safe twice and without start. */
  async shutdown(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#stop.signal.aborted) this.#stop.abort(new Error('the probe loop is shutting down'));
    await this.#inFlight;
  }

  /** Arms the timer for grid point `k` (origin + k × interval), or the next one still ahead. */
  #schedule(k: number): void {
    const interval = this.#opts.intervalMs;
    const now = performance.now();
    let due = this.#origin + k * interval;
    // Late by a whole interval (the event loop was blocked): go on from the next point ahead.
    if (due <= now) {
      k = Math.floor((now - this.#origin) / interval) + 1;
      due = this.#origin + k * interval;
    }
    // Timers may fire a fraction of a millisecond early, so the grid point is counted, not re-derived from the clock.
    this.#timer = setTimeout(() => {
      this.#schedule(k + 1);
      this.#tick();
    }, due - now);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#stop.signal.aborted) return;
    if (this.#inFlight) {
      this.#overruns.inc();
      this.#opts.logger.warn('probe cycle still running at the next tick; tick skipped', {
        interval: formatDuration(this.#opts.intervalMs),
        running_for: formatDuration(performance.now() - this.#cycleStartedAt),
        targets: this.#targets.length,
        max_concurrency: this.#opts.maxConcurrency,
      });
      return;
    }
    this.#inFlight = this.#cycle().finally(() => (this.#inFlight = undefined));
  }

  async #cycle(): Promise<void> {
    this.#cycleStartedAt = performance.now();
    const { logger } = this.#opts;
    try {
      await this.#opts.beforeCycle?.();
    } catch (err) {
      logger.warn('preparing the probe cycle failed; probing the current targets', { err });
    }
    const targets = this.#targets;
    const results: CycleResult<T>[] = new Array(targets.length);
    const stopped = this.#stop.signal;
    let next = 0;
    const worker = async () => {
      while (next < targets.length && !stopped.aborted) {
        const i = next++;
        const target = targets[i]!;
        const outcome = await this.#probeOne(target);
        if (stopped.aborted) return;
        const result = { target, outcome, timeUnixNano: nowUnixNano() };
        results[i] = result;
        this.#checks.inc(1, { result: outcome.reachable ? 'success' : (outcome.error_class ?? 'other') });
        try {
          this.#opts.onResult?.(result);
        } catch (err) {
          logger.error('recording a probe result failed', { err, target: target.key });
        }
      }
    };
    const workers = Math.min(this.#opts.maxConcurrency, targets.length);
    await Promise.all(Array.from({ length: workers }, worker));
    if (stopped.aborted) return;
    try {
      await this.#opts.onCycle?.(results);
    } catch (err) {
      logger.warn('probe results were refused by the pipeline', { err });
    }
    this.#cycles.inc();
    this.#cycleSeconds.observe((performance.now() - this.#cycleStartedAt) / 1000);
  }

  /** One probe, cut at its timeout even if the probe function does not give up. */
  #probeOne(target: T): Promise<ProbeOutcome> {
    const timeoutMs = this.timeoutOf(target);
    const controller = new AbortController();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    // Settles one event-loop turn after an abort: a probe that reacts to its signal wins the
    // race with its own, more precise outcome (a timeout during name resolution is `dns`).
    const cut = new Promise<ProbeOutcome>((resolve) => {
      const giveUp = (reason: unknown) => {
        controller.abort(reason);
        setImmediate(() =>
          resolve({
            reachable: false,
            error_class: 'timeout',
            error: reason instanceof Error ? reason.message : String(reason),
            duration_seconds: (performance.now() - started) / 1000,
          }),
        );
      };
      timer = setTimeout(() => giveUp(new ProbeTimeoutError(timeoutMs)), timeoutMs);
      timer.unref();
      onStop = () => giveUp(this.#stop.signal.reason);
      this.#stop.signal.addEventListener('abort', onStop, { once: true });
    });
    let probing: Promise<ProbeOutcome>;
    try {
      probing = this.#opts.probe(target, controller.signal, timeoutMs);
    } catch (err) {
      probing = Promise.reject(err);
    }
    const guarded = probing.catch(
      (err: unknown): ProbeOutcome => ({
        reachable: false,
        error_class: 'other',
        error: errorText(err),
        duration_seconds: (performance.now() - started) / 1000,
      }),
    );
    return Promise.race([guarded, cut]).finally(() => {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener('abort', onStop!);
    });
  }
}
