/**
 * One running graph and its lifecycle:
 *
 *   start:    extensions (in service::extensions order) → exporters → processors → receivers
 *   shutdown: receivers → processors → exporters → extensions
 *
 * so nothing receives data before what it feeds is ready, and data drains on the way down.
 */
import type { Extension, Host, ServiceStatus } from './component.ts';
import type { LoadedConfig } from './config/source.ts';
import { parseHostPort } from './config/units.ts';
import { SkeinError } from './errors.ts';
import type { Factories } from './factories.ts';
import { buildGraph, type Graph, type GraphNode } from './graph/build.ts';
import { loadDeclaredFactories, planGraph, type Plan } from './graph/plan.ts';
import { createLogger, type Logger } from './log.ts';
import { registerProcessMetrics } from './telemetry/process.ts';
import { MetricsRegistry } from './telemetry/registry.ts';
import { startTelemetryServer } from './telemetry/server.ts';

export interface ServiceOptions {
  factories: Factories;
  /** Shared across reloads so counters keep counting. */
  registry?: MetricsRegistry;
  /** Defaults to one built from `service::telemetry::logs`. */
  logger?: Logger;
  version?: string;
  /** Overrides `service::telemetry::metrics::address` (tests pass `127.0.0.1:0`). */
  telemetryAddress?: string;
}

const processMetricsRegistered = new WeakSet<MetricsRegistry>();

export class Service implements Host {
  readonly plan: Plan;
  readonly logger: Logger;
  readonly registry: MetricsRegistry;
  readonly #graph: Graph;
  readonly #options: ServiceOptions;
  #status: ServiceStatus = 'idle';
  #started: GraphNode[] = [];
  #telemetry?: { address: string; port: number; close(): Promise<void> };
  #shutdown?: Promise<void>;
  #stopProcessMetrics?: () => void;

  private constructor(plan: Plan, graph: Graph, logger: Logger, registry: MetricsRegistry, options: ServiceOptions) {
    this.plan = plan;
    this.#graph = graph;
    this.logger = logger;
    this.registry = registry;
    this.#options = options;
  }

  /** Checks the config and creates every component; throws ConfigError listing all problems. */
  static async create(loaded: LoadedConfig, options: ServiceOptions): Promise<Service> {
    await loadDeclaredFactories(loaded, options.factories);
    const plan = planGraph(loaded, options.factories);
    const logs = plan.config.service.telemetry.logs;
    const logger = options.logger ?? createLogger({ level: logs.level, format: logs.format });
    for (const w of plan.warnings) logger.warn(w);
    const registry = options.registry ?? new MetricsRegistry();
    const graph = await buildGraph(plan, { registry, logger });
    return new Service(plan, graph, logger, registry, options);
  }

  getStatus(): ServiceStatus {
    return this.#status;
  }

  getExtension<T = Extension>(id: string): T {
    const node = this.#graph.extensions.find((e) => e.id === id);
    if (!node) {
      const enabled = this.#graph.extensions.map((e) => e.id);
      throw new SkeinError(
        'SKEIN_ERR_EXTENSION_NOT_FOUND',
        `extension "${id}" is not enabled; declare it under extensions and list it in service::extensions (enabled: ${enabled.length ? enabled.join(', ') : 'none'})`,
      );
    }
    return node.component as T;
  }

  extensions(): ReadonlyMap<string, Extension> {
    return new Map(this.#graph.extensions.map((e) => [e.id, e.component]));
  }

  /** A created component by section and ID (per-pipeline processors: the first pipeline's). */
  getComponent<T = unknown>(section: 'receivers' | 'processors' | 'exporters' | 'extensions' | 'connectors', id: string): T | undefined {
    const node = [...this.#graph.extensions, ...this.#graph.nodes].find((n) => n.section === section && n.id === id);
    return node?.component as T | undefined;
  }

  /** The consumer at the head of a pipeline (tests and benchmarks push through it). */
  pipelineEntry(id: string) {
    return this.#graph.entries.get(id);
  }

  /** Where the self-metrics endpoint listens, once started. */
  get telemetryAddress(): string | undefined {
    return this.#telemetry ? `${this.#telemetry.address}:${this.#telemetry.port}` : undefined;
  }

  /** Starts every component in order; on failure stops what started and throws. */
  async start(): Promise<void> {
    if (this.#status !== 'idle') throw new Error(`service cannot start from status ${this.#status}`);
    this.#status = 'starting';
    const telemetry = this.plan.config.service.telemetry.metrics;
    try {
      if (!processMetricsRegistered.has(this.registry)) {
        processMetricsRegistered.add(this.registry);
        this.#stopProcessMetrics = registerProcessMetrics(this.registry, { version: this.#options.version ?? '0.0.0' });
      }
      if (telemetry.level !== 'none') {
        const { host, port } = parseHostPort(this.#options.telemetryAddress ?? telemetry.address);
        this.#telemetry = await startTelemetryServer({ registry: this.registry, host, port, logger: this.logger });
      }
      for (const node of [...this.#graph.extensions, ...this.#graph.nodes]) {
        try {
          await node.component.start?.(this);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          throw new SkeinError('SKEIN_ERR_COMPONENT_START', `${node.section}::${node.id}: failed to start: ${reason}`, { cause: err });
        } finally {
          this.#started.push(node);
        }
      }
    } catch (err) {
      await this.#stopAll();
      this.#status = 'stopped';
      throw err;
    }
    this.#status = 'running';
    this.logger.info('skein is running', {
      pipelines: this.plan.pipelines.map((p) => p.id),
      telemetry: this.telemetryAddress,
    });
  }

  /**
   * Stops receivers first and extensions last, letting each drain. Safe without start()
   * (it releases what create() allocated) and safe to call twice.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      const wasRunning = this.#status !== 'idle';
      this.#status = 'stopping';
      if (!wasRunning) this.#started = [...this.#graph.extensions, ...this.#graph.nodes];
      await this.#stopAll();
      this.#status = 'stopped';
    })();
    return this.#shutdown;
  }

  async #stopAll(): Promise<void> {
    const nodes = this.#started.reverse();
    this.#started = [];
    for (const node of nodes) {
      try {
        await node.component.shutdown?.();
      } catch (err) {
        this.logger.error('component failed to shut down cleanly', { component: `${node.section}::${node.id}`, err });
      }
    }
    const t = this.#telemetry;
    this.#telemetry = undefined;
    await t?.close();
    // The next service on this registry (after a reload) registers them again.
    if (this.#stopProcessMetrics) {
      this.#stopProcessMetrics();
      this.#stopProcessMetrics = undefined;
      processMetricsRegistered.delete(this.registry);
    }
  }
}
