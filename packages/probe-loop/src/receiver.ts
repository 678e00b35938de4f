/**
 * What tcpcheck and httpcheck share: the config keys of the loop, targets from the config and
 * from a watched file, the loop itself, the metrics batch per cycle and the results handed to
 * the probes extension. Each receiver brings its target entry schema, its checks and its probe.
 */
import {
  formatDuration,
  internalContext,
  nowUnixNano,
  parseDuration,
  refusalReason,
  requireExtension,
  Type,
  validateAgainst,
  type Attributes,
  type ConfigProblem,
  type Consumer,
  type CreateSettings,
  type Gauge,
  type Host,
  type InstrumentationScope,
  type Receiver,
  type TSchema,
} from '@skein/core';
import { ProbeMetrics, type SeriesSpec } from './emit.ts';
import { ProbeLoop, type CycleResult, type ProbeFunction } from './loop.ts';
import type { ProbeOutcome, ProbeResult } from './result.ts';
import { isProbeStore, type ProbeStore } from './store.ts';
import { TargetsFile } from './targets-file.ts';

/** The keys every target entry has, in config and in a targets file. */
export const TargetEntryBase = {
  name: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'The target\'s name: the `target` attribute and its key in the probes API. Defaults to the endpoint; unique within the receiver.',
    }),
  ),
  route: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'A label for the network path this probe takes (`direct`, `via-proxy`, `eu-west`), added to its series as `route`.',
    }),
  ),
  timeout: Type.Optional(
    Type.String({ format: 'duration', description: "This target's probe timeout, instead of the receiver's `timeout`; at most `max_timeout`." }),
  ),
};

export interface TargetEntry {
  name?: string;
  route?: string;
  timeout?: string;
}

/** The receiver's config schema: the loop's keys around the receiver's own `targets` entry schema. */
export function probeReceiverSchema<E extends TSchema>(entry: E, targetsDescription: string) {
  return Type.Object(
    {
      collection_interval: Type.String({
        format: 'duration',
        default: '30s',
        description: 'How often every target is probed. Cycles start on a fixed grid and never overlap: a tick that finds the last cycle running is skipped and counted.',
      }),
      timeout: Type.String({
        format: 'duration',
        default: '3s',
        description: 'How long one probe may take, name resolution included; at most `max_timeout`.',
      }),
      max_timeout: Type.String({
        format: 'duration',
        default: '3s',
        description: 'The hard ceiling on every probe\'s timeout: a target from `targets_file` asking for more is clamped to it.',
      }),
      max_concurrency: Type.Integer({
        minimum: 1,
        maximum: 1024,
        default: 1,
        description: 'Probes in flight at once. 1 probes the targets one after another, which keeps the cost flat on a small host.',
      }),
      targets: Type.Array(entry, { default: [], description: targetsDescription }),
      targets_file: Type.Optional(
        Type.String({
          minLength: 1,
          description: 'A YAML or JSON file with a list of more targets, each like an item of `targets`; watched and reloaded when it changes.',
        }),
      ),
      probes: Type.Optional(
        Type.String({
          minLength: 1,
          description: 'ID of a `probes` extension that keeps the latest result per target and serves `GET /api/v1/probes`.',
        }),
      ),
    },
    { additionalProperties: false },
  );
}

/** The config of a probe receiver whose target entries are `E`. */
export interface ProbeReceiverConfig<E extends TargetEntry> {
  collection_interval: string;
  timeout: string;
  max_timeout: string;
  max_concurrency: number;
  targets: readonly E[];
  targets_file?: string;
  probes?: string;
}

/** What a receiver knows of every target, valid or not. */
export interface TargetBase {
  /** The name: `name`, or else the endpoint. */
  readonly key: string;
  /** `host:port` or the URL, as written. */
  readonly endpoint: string;
  readonly route?: string;
  readonly timeoutMs?: number;
}

/** An entry of the targets file that cannot be probed: each cycle reports it as error class `invalid`. */
export interface InvalidTarget extends TargetBase {
  readonly invalid: string;
}

export type AnyTarget<T extends TargetBase> = T | InvalidTarget;

export function isInvalid(t: TargetBase): t is InvalidTarget {
  return typeof (t as InvalidTarget).invalid === 'string';
}

/** What makes a probe receiver a tcpcheck or an httpcheck. */
export interface ProbeKind<E extends TargetEntry, T extends TargetBase> {
  /** The receiver type, also the metric name prefix: `tcpcheck`. */
  type: string;
  scope: InstrumentationScope;
  /** The schema of one target entry. */
  entrySchema: TSchema;
  /** The entry key that names the endpoint: `endpoint` or `url`. */
  endpointKey: string;
  /** Rules a schema cannot express, for one entry; each path is relative to the entry. */
  entryProblems(entry: E): ConfigProblem[];
  /** The target of a valid entry; throws when it cannot be built (an unreadable CA file). */
  target(entry: E, base: TargetBase): T;
  probe: ProbeFunction<T>;
  /** Attributes of every series of a target, after `target` and `route`. */
  attributes(target: AnyTarget<T>): Attributes;
  /** Fields a stored result has besides the outcome (the HTTP method). */
  resultFields?(target: AnyTarget<T>): Pick<ProbeResult, 'method'>;
  /** Gauges after reachable, duration and error. */
  extraSeries?: SeriesSpec<AnyTarget<T>>[];
}

/** The factory `validate` hook of a probe receiver. */
export function validateProbeConfig<E extends TargetEntry, T extends TargetBase>(
  kind: ProbeKind<E, T>,
  config: ProbeReceiverConfig<E>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const key of ['collection_interval', 'timeout', 'max_timeout'] as const) {
    if (!(parseDuration(config[key]) > 0)) problems.push({ path: [key], message: `must be more than 0s, got "${config[key]}"` });
  }
  const maxMs = parseDuration(config.max_timeout);
  if (parseDuration(config.timeout) > maxMs) {
    problems.push({ path: ['timeout'], message: `must be at most max_timeout (${config.max_timeout}), got "${config.timeout}"` });
  }
  if (config.targets.length === 0 && config.targets_file === undefined) {
    problems.push({ path: ['targets'], message: 'must not be empty when targets_file is not set' });
  }
  const seen = new Map<string, number>();
  config.targets.forEach((entry, i) => {
    const key = entry.name ?? String((entry as Record<string, unknown>)[kind.endpointKey]);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        path: ['targets', i, ...(entry.name !== undefined ? ['name'] : [])],
        message: `duplicate target name "${key}" (also targets[${first}]); give each target its own name`,
      });
    } else {
      seen.set(key, i);
    }
    if (entry.timeout !== undefined) {
      const ms = parseDuration(entry.timeout);
      if (!(ms > 0)) problems.push({ path: ['targets', i, 'timeout'], message: `must be more than 0s, got "${entry.timeout}"` });
      else if (ms > maxMs) {
        problems.push({ path: ['targets', i, 'timeout'], message: `must be at most max_timeout (${config.max_timeout}), got "${entry.timeout}"` });
      }
    }
    for (const p of kind.entryProblems(entry)) problems.push({ path: ['targets', i, ...(p.path ?? [])], message: p.message });
  });
  return problems;
}

/** A running probe receiver, with what benchmarks reach for. */
export interface ProbeReceiver extends Receiver {
  /** Runs one cycle now, outside the schedule; resolves false without probing when one is running. */
  runCycle(): Promise<boolean>;
}

function baseOf(entry: TargetEntry, endpoint: string): TargetBase {
  return {
    key: entry.name ?? endpoint,
    endpoint,
    ...(entry.route !== undefined && { route: entry.route }),
    ...(entry.timeout !== undefined && { timeoutMs: parseDuration(entry.timeout) }),
  };
}

/** One entry of a targets file, as a target: never throws, a bad entry becomes an InvalidTarget. */
function fileTarget<E extends TargetEntry, T extends TargetBase>(kind: ProbeKind<E, T>, raw: unknown, index: number): AnyTarget<T> {
  const rec = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const endpoint = typeof rec[kind.endpointKey] === 'string' ? (rec[kind.endpointKey] as string) : '';
  const fallback: TargetBase = {
    key: typeof rec.name === 'string' && rec.name !== '' ? rec.name : endpoint || `targets_file[${index}]`,
    endpoint,
    ...(typeof rec.route === 'string' && rec.route !== '' && { route: rec.route }),
  };
  const checked = validateAgainst(kind.entrySchema, raw, [], undefined);
  if (checked.issues.length > 0) return { ...fallback, invalid: checked.issues.map((i) => i.message).join('; ') };
  const entry = checked.value as E;
  const problems = kind.entryProblems(entry);
  if (entry.timeout !== undefined && !(parseDuration(entry.timeout) > 0)) {
    problems.push({ path: ['timeout'], message: `must be more than 0s, got "${entry.timeout}"` });
  }
  if (problems.length > 0) {
    return { ...fallback, invalid: problems.map((p) => (p.path?.length ? `${p.path.join('::')}: ${p.message}` : p.message)).join('; ') };
  }
  const base = baseOf(entry, endpoint);
  try {
    return kind.target(entry, base);
  } catch (err) {
    return { ...base, invalid: (err as Error).message };
  }
}

/** The standard series: reachable, duration and error, named `<type>.<what>`. */
function standardSeries<T extends TargetBase>(type: string): SeriesSpec<AnyTarget<T>>[] {
  return [
    {
      name: `${type}.reachable`,
      unit: '',
      description: '1 when the last probe of the target succeeded, 0 when it failed.',
      value: (r) => (r.outcome.reachable ? 1 : 0),
    },
    {
      name: `${type}.duration`,
      unit: 's',
      description: 'How long the last probe took, to success or failure.',
      value: (r) => r.outcome.duration_seconds,
    },
    {
      name: `${type}.error`,
      unit: '',
      description: '1 for the class of the error the last probe failed with; absent (stale) while it succeeds.',
      value: (r) => (r.outcome.reachable ? undefined : 1),
      attributes: (r) => ({ 'error.class': r.outcome.error_class ?? 'other' }),
    },
  ];
}

export function createProbeReceiver<E extends TargetEntry, T extends TargetBase>(
  kind: ProbeKind<E, T>,
  settings: CreateSettings<ProbeReceiverConfig<E>>,
  next: Consumer,
): ProbeReceiver {
  const { id, config, logger, telemetry } = settings;
  const configTargets: AnyTarget<T>[] = config.targets.map((entry, i) => {
    const endpoint = String((entry as Record<string, unknown>)[kind.endpointKey]);
    try {
      return kind.target(entry, baseOf(entry, endpoint));
    } catch (err) {
      throw new Error(`targets[${i}]: ${(err as Error).message}`, { cause: err });
    }
  });
  const configKeys = new Set(configTargets.map((t) => t.key));
  const targetsGauge: Gauge = telemetry.gauge({ name: 'skein_probe_targets', help: 'Targets the receiver probes each cycle, invalid ones included.' });
  let store: ProbeStore | undefined;

  const metrics = new ProbeMetrics<AnyTarget<T>>(
    kind.scope,
    [...standardSeries<T>(kind.type), ...(kind.extraSeries ?? [])],
    (t) => ({ target: t.key, ...(t.route !== undefined && { route: t.route }), ...kind.attributes(t) }),
  );

  const loop = new ProbeLoop<AnyTarget<T>>({
    intervalMs: parseDuration(config.collection_interval),
    timeoutMs: parseDuration(config.timeout),
    maxTimeoutMs: parseDuration(config.max_timeout),
    maxConcurrency: config.max_concurrency,
    probe: (t, signal, timeoutMs): Promise<ProbeOutcome> =>
      isInvalid(t) ? Promise.resolve({ reachable: false, error_class: 'invalid', error: t.invalid }) : kind.probe(t, signal, timeoutMs),
    beforeCycle: () => file?.check(),
    onResult: (r: CycleResult<AnyTarget<T>>) =>
      store?.record({
        receiver: id,
        target: r.target.key,
        ...(r.target.route !== undefined && { route: r.target.route }),
        endpoint: r.target.endpoint,
        ...kind.resultFields?.(r.target),
        ...r.outcome,
        time: new Date(Number(r.timeUnixNano / 1_000_000n)).toISOString(),
      }),
    onCycle: async (results) => {
      const batch = metrics.batch(results, nowUnixNano());
      if (!batch) return;
      try {
        await next.consume(batch, internalContext(id, 'probe'));
      } catch (err) {
        // Counted by the framework in skein_receiver_refused_points_total; the loop goes on.
        logger.warn('the pipeline refused the probe results', { err, reason: refusalReason(err) });
      }
    },
    logger,
    telemetry,
  });

  const intervalMs = parseDuration(config.collection_interval);
  const use = (targets: AnyTarget<T>[]) => {
    loop.setTargets(targets);
    targetsGauge.set(targets.length);
    store?.retainTargets(id, new Set(targets.map((t) => t.key)));
    // Said once per target list, so an overrun later in the logs has its explanation here.
    const worstMs = targets.reduce((sum, t) => sum + (isInvalid(t) ? 0 : loop.timeoutOf(t)), 0) / config.max_concurrency;
    if (worstMs >= intervalMs) {
      logger.warn('if every target timed out, a cycle would outlast collection_interval and ticks would be skipped; raise max_concurrency or collection_interval, or lower timeout', {
        targets: targets.length,
        worst_case_cycle: formatDuration(worstMs),
        collection_interval: config.collection_interval,
        max_concurrency: config.max_concurrency,
      });
    }
  };

  const file =
    config.targets_file === undefined
      ? undefined
      : new TargetsFile<AnyTarget<T>>({
          path: config.targets_file,
          build: (entries) => {
            const targets = entries.map((raw, i) => fileTarget(kind, raw, i));
            const seen = new Set(configKeys);
            targets.forEach((t, i) => {
              if (seen.has(t.key)) {
                throw new Error(`entry ${i}: duplicate target name "${t.key}"${configKeys.has(t.key) ? ' (also in targets)' : ''}; give each target its own name`);
              }
              seen.add(t.key);
            });
            return targets;
          },
          onReload: (targets) => use([...configTargets, ...targets]),
          logger,
          telemetry,
        });

  return {
    start(host: Host) {
      if (config.probes !== undefined) store = requireExtension(host, config.probes, isProbeStore, 'probe store', 'probes');
      use([...configTargets, ...(file?.load() ?? [])]);
      file?.watch();
      logger.info('probing', {
        targets: loop.targets.length,
        interval: config.collection_interval,
        timeout: formatDuration(Math.min(parseDuration(config.timeout), parseDuration(config.max_timeout))),
        max_concurrency: config.max_concurrency,
      });
      loop.start();
    },

    runCycle: () => loop.runCycle(),

    async shutdown() {
      await loop.shutdown();
      await file?.close();
      store?.forgetReceiver(id);
    },
  };
}
