import type { Static, TSchema } from '@sinclair/typebox';
import { SkeinError } from './errors.ts';
import type { Consumer } from './consumer.ts';
import type { Logger } from './log.ts';
import type { ComponentTelemetry } from './telemetry/registry.ts';

export type ComponentKind = 'receiver' | 'processor' | 'exporter' | 'extension' | 'connector';
export type Stability = 'development' | 'alpha' | 'beta' | 'stable' | 'deprecated';

export const COMPONENT_KINDS: readonly ComponentKind[] = ['receiver', 'processor', 'exporter', 'extension', 'connector'];

/**
 * What every component implements.
 *
 * `start` is called once, after every component it feeds has started. `shutdown` must be
 * safe to call without `start` and safe to call twice; it drains what the component holds.
 */
export interface Component {
  start?(host: Host): Promise<void> | void;
  shutdown?(): Promise<void> | void;
}

export type Receiver = Component;
export interface Processor extends Component, Consumer {}
export interface Exporter extends Component, Consumer {
  /**
   * Set by exporters that queue: `consume` resolving then means "queued", not "sent", so the
   * framework leaves `skein_exporter_sent_points_total`/`failed` to the exporter (see
   * `exporterDeliveryCounters`).
   */
  readonly reportsDelivery?: boolean;
}
export type Extension = Component;
/** Exporter side of one pipeline, receiver side of others. */
export interface Connector extends Component, Consumer {}

/** Where the service is in its lifecycle. */
export type ServiceStatus = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** What a component can ask of the running service. */
export interface Host {
  /** `running` once every component has started, until shutdown begins. */
  getStatus(): ServiceStatus;
  /**
   * The extension with this ID, which must be enabled in `service::extensions`. Throws a
   * SkeinError (SKEIN_ERR_EXTENSION_NOT_FOUND) otherwise.
   */
  getExtension<T = Extension>(id: string): T;
  /** Every enabled extension, by ID. */
  extensions(): ReadonlyMap<string, Extension>;
}

/** Passed to every `create()`. */
export interface CreateSettings<C> {
  /** The component's ID, `type[/name]`. */
  id: string;
  /** The validated config, with schema defaults filled, frozen. */
  config: C;
  logger: Logger;
  /** Metrics registry scoped to this component (its ID is added as a label). */
  telemetry: ComponentTelemetry;
  /** Pipelines the component belongs to (empty for extensions). */
  pipelines: string[];
}

interface FactoryBase<S extends TSchema> {
  /** Lowercase snake_case, the first part of an ID. */
  type: string;
  /** One line: what it does. */
  description: string;
  stability: Stability;
  /** A JSON Schema (built with TypeBox) that gives both validation and the config's TS type. */
  configSchema: S;
  /**
   * Rules a schema cannot express (one key bounded by another, a regex that must compile).
   * Runs after the schema passed, before anything is created, so `skein validate` reports
   * the problems with their positions. Each `path` is relative to the component's config.
   */
  validate?(config: Static<S>): ConfigProblem[] | undefined;
}

/** A problem a factory's `validate` found: `must be >= send_batch_size, got 10`. */
export interface ConfigProblem {
  path?: (string | number)[];
  message: string;
}

export interface ReceiverFactory<S extends TSchema = TSchema> extends FactoryBase<S> {
  kind: 'receiver';
  create(settings: CreateSettings<Static<S>>, next: Consumer): Receiver | Promise<Receiver>;
}
export interface ProcessorFactory<S extends TSchema = TSchema> extends FactoryBase<S> {
  kind: 'processor';
  create(settings: CreateSettings<Static<S>>, next: Consumer): Processor | Promise<Processor>;
}
export interface ExporterFactory<S extends TSchema = TSchema> extends FactoryBase<S> {
  kind: 'exporter';
  create(settings: CreateSettings<Static<S>>): Exporter | Promise<Exporter>;
}
export interface ExtensionFactory<S extends TSchema = TSchema> extends FactoryBase<S> {
  kind: 'extension';
  create(settings: CreateSettings<Static<S>>): Extension | Promise<Extension>;
}
export interface ConnectorFactory<S extends TSchema = TSchema> extends FactoryBase<S> {
  kind: 'connector';
  create(settings: CreateSettings<Static<S>>, next: Consumer): Connector | Promise<Connector>;
}

export type Factory =
  | ReceiverFactory<any>
  | ProcessorFactory<any>
  | ExporterFactory<any>
  | ExtensionFactory<any>
  | ConnectorFactory<any>;

/** Identity helpers that give `create()` the config type inferred from the schema. */
export function defineReceiver<S extends TSchema>(f: Omit<ReceiverFactory<S>, 'kind'>): ReceiverFactory<S> {
  return { kind: 'receiver', ...f };
}
export function defineProcessor<S extends TSchema>(f: Omit<ProcessorFactory<S>, 'kind'>): ProcessorFactory<S> {
  return { kind: 'processor', ...f };
}
export function defineExporter<S extends TSchema>(f: Omit<ExporterFactory<S>, 'kind'>): ExporterFactory<S> {
  return { kind: 'exporter', ...f };
}
export function defineExtension<S extends TSchema>(f: Omit<ExtensionFactory<S>, 'kind'>): ExtensionFactory<S> {
  return { kind: 'extension', ...f };
}
export function defineConnector<S extends TSchema>(f: Omit<ConnectorFactory<S>, 'kind'>): ConnectorFactory<S> {
  return { kind: 'connector', ...f };
}

/**
 * The extension `id`, checked to implement an interface: what a component calls in
 * `start()` for `store: threshold_store` or `middlewares: [...]`. Throws
 * SKEIN_ERR_EXTENSION_INTERFACE naming the interface when the check fails.
 */
export function requireExtension<T>(
  host: Host,
  id: string,
  is: (ext: unknown) => ext is T,
  interfaceName: string,
  referencedBy: string,
): T {
  const ext = host.getExtension<unknown>(id);
  if (!is(ext)) {
    throw new SkeinError(
      'SKEIN_ERR_EXTENSION_INTERFACE',
      `${referencedBy}: extension "${id}" is not a ${interfaceName}`,
    );
  }
  return ext;
}
