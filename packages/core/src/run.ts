/**
 * Runs a service the way the `skein run` command does: loads the config and plugins, starts
 * the graph, drains on SIGTERM/SIGINT within the grace period, reloads on SIGHUP.
 */
import { dirname } from 'node:path';
import { loadConfig } from './config/load.ts';
import type { LoadedConfig } from './config/source.ts';
import { parseDuration } from './config/units.ts';
import { ConfigError, SkeinError } from './errors.ts';
import type { Factories } from './factories.ts';
import { loadDeclaredFactories } from './graph/plan.ts';
import { createLogger, type Logger } from './log.ts';
import { loadPlugins } from './plugins.ts';
import { Service } from './service.ts';
import { MetricsRegistry } from './telemetry/registry.ts';

export interface RunOptions {
  files: string[];
  /** `--plugin` values, resolved from the working directory. */
  plugins?: string[];
  factories: Factories;
  version?: string;
  logger?: Logger;
  /** Overrides the self-metrics address. */
  telemetryAddress?: string;
}

/** Loads the config files, the plugins they (and `extra`) name, and the factories they use. */
export async function loadWithPlugins(
  files: string[],
  factories: Factories,
  extra: string[] = [],
  alreadyLoaded = new Set<string>(),
): Promise<LoadedConfig> {
  const loaded = loadConfig(files);
  const fromConfig = Array.isArray(loaded.raw.plugins) ? (loaded.raw.plugins as unknown[]).filter((p) => typeof p === 'string') : [];
  const baseDir = dirname(files[0] ?? '.');
  const fresh = (specs: string[]) => specs.filter((s) => !alreadyLoaded.has(s));
  for (const [specs, dir] of [[fresh(extra), process.cwd()], [fresh(fromConfig as string[]), baseDir]] as const) {
    await loadPlugins(specs, factories, dir);
    for (const s of specs) alreadyLoaded.add(s);
  }
  await loadDeclaredFactories(loaded, factories);
  return loaded;
}

function describe(err: unknown): { message: string; code?: string } {
  if (err instanceof SkeinError) return { message: err.message, code: err.code };
  return { message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/** Runs until a signal stops it; resolves with the process exit code. */
export async function runService(opts: RunOptions): Promise<number> {
  let logger = opts.logger ?? createLogger();
  const registry = new MetricsRegistry();
  const pluginsLoaded = new Set<string>();
  const serviceOf = (loaded: LoadedConfig) =>
    Service.create(loaded, {
      factories: opts.factories,
      registry,
      logger: opts.logger,
      version: opts.version,
      telemetryAddress: opts.telemetryAddress,
    });

  let current: Service;
  let currentConfig: LoadedConfig;
  try {
    currentConfig = await loadWithPlugins(opts.files, opts.factories, opts.plugins ?? [], pluginsLoaded);
    current = await serviceOf(currentConfig);
    logger = current.logger;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) logger.error(issue.message, { code: issue.code });
    } else {
      logger.error('skein failed to start', describe(err));
    }
    return 1;
  }

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    // The handlers are installed before the service starts, so a SIGTERM that lands while it
    // starts drains it once it has started instead of killing the process mid-start.
    const started = current.start().then(
      () => true,
      (err: unknown) => {
        logger.error('skein failed to start', describe(err));
        stopping = true;
        cleanup();
        resolveExit(1);
        return false;
      },
    );
    let reloading: Promise<void> = started.then(() => undefined);

    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      const grace = current.plan.config.service.shutdown_timeout;
      const graceMs = parseDuration(grace);
      logger.info('draining pipelines', { signal, grace_period: grace });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), graceMs);
      });
      // The grace period covers a start or reload still in progress too (`reloading` waits
      // for both), so a stuck one cannot keep the process from exiting.
      const drained = reloading.then(() => current.shutdown()).then(() => 'done' as const);
      const outcome = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      cleanup();
      if (outcome === 'timeout') {
        logger.error(`pipelines did not drain within ${grace}; exiting anyway`, { code: 'SKEIN_ERR_SHUTDOWN_TIMEOUT' });
        resolveExit(1);
      } else {
        logger.info('skein stopped');
        resolveExit(0);
      }
    };

    // A new config is checked and built in full before the running graph is touched; only
    // then is the old graph stopped (freeing its ports) and the new one started. If the new
    // one fails to start, the last good config is started again.
    const reload = async () => {
      logger.info('reloading config', { files: opts.files });
      let nextConfig: LoadedConfig;
      let next: Service;
      try {
        nextConfig = await loadWithPlugins(opts.files, opts.factories, [], pluginsLoaded);
        next = await serviceOf(nextConfig);
      } catch (err) {
        const issues = err instanceof ConfigError ? err.issues.map((i) => i.message) : [describe(err).message];
        logger.error('new config rejected; the running pipelines are unchanged', {
          code: err instanceof SkeinError ? err.code : undefined,
          issues,
        });
        return;
      }
      await current.shutdown();
      try {
        await next.start();
        current = next;
        currentConfig = nextConfig;
        logger = next.logger;
        logger.info('config reloaded');
      } catch (err) {
        logger.error('new config failed to start; restarting the previous one', describe(err));
        try {
          current = await serviceOf(currentConfig);
          await current.start();
        } catch (again) {
          logger.error('the previous config failed to restart; stopping', describe(again));
          stopping = true;
          cleanup();
          resolveExit(1);
        }
      }
    };

    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    const onHup = () => {
      if (!stopping) reloading = reloading.then(reload);
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
    const cleanup = () => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
    };
  });
}
