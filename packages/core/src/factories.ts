import { COMPONENT_KINDS, type ComponentKind, type Factory } from './component.ts';
import { SkeinError } from './errors.ts';

const TYPE_RE = /^[a-z][a-z0-9_]*$/;
const STABILITIES = ['development', 'alpha', 'beta', 'stable', 'deprecated'];

/**
 * Checks that `value` is a well-formed factory; throws SKEIN_ERR_PLUGIN_INVALID naming
 * `source` and the first thing that is wrong.
 */
export function assertFactory(value: unknown, source: string): asserts value is Factory {
  const fail = (what: string): never => {
    throw new SkeinError('SKEIN_ERR_PLUGIN_INVALID', `plugin "${source}": ${what}`);
  };
  if (typeof value !== 'object' || value === null) fail(`expected a factory object, got ${value === null ? 'null' : typeof value}`);
  const f = value as Record<string, unknown>;
  if (!COMPONENT_KINDS.includes(f.kind as ComponentKind)) {
    fail(`factory kind must be one of ${COMPONENT_KINDS.join(', ')}, got ${JSON.stringify(f.kind)}`);
  }
  if (typeof f.type !== 'string' || !TYPE_RE.test(f.type)) {
    fail(`factory type must be lowercase snake_case such as "my_processor", got ${JSON.stringify(f.type)}`);
  }
  if (typeof f.description !== 'string' || f.description.trim() === '') fail(`factory "${f.type}" needs a one-line description`);
  if (!STABILITIES.includes(f.stability as string)) {
    fail(`factory "${f.type}" stability must be one of ${STABILITIES.join(', ')}, got ${JSON.stringify(f.stability)}`);
  }
  if (typeof f.configSchema !== 'object' || f.configSchema === null) fail(`factory "${f.type}" needs a configSchema (a JSON Schema object)`);
  if (typeof f.create !== 'function') fail(`factory "${f.type}" needs a create() function`);
}

/**
 * A factory known by kind and type before it is imported, so that a distribution imports only
 * the components a config uses. `load` imports the module whose default export is the factory,
 * e.g. `() => import('@skein/receiver-otlp')`.
 */
export interface FactoryLoader {
  kind: ComponentKind;
  type: string;
  load(): Promise<{ default: unknown }>;
}

interface Entry {
  source: string;
  factory?: Factory;
  loader?: FactoryLoader;
  loading?: Promise<Factory>;
}

const isLoader = (f: Factory | FactoryLoader): f is FactoryLoader => typeof (f as FactoryLoader).load === 'function';

/**
 * The factories a distribution knows, by kind and type. A factory registered by its loader is
 * imported by `load()` (or `loadAll()`); until then `types()` lists it and `get()` refuses it.
 */
export class Factories {
  readonly #byKey = new Map<string, Entry>();

  constructor(factories: Iterable<Factory | FactoryLoader> = [], source = 'built-in') {
    for (const f of factories) {
      if (isLoader(f)) this.registerLoader(f, source);
      else this.register(f, source);
    }
  }

  register(factory: unknown, source = 'built-in'): void {
    assertFactory(factory, source);
    this.#add(factory.kind, factory.type, { factory, source });
  }

  registerLoader(loader: FactoryLoader, source = 'built-in'): void {
    this.#add(loader.kind, loader.type, { loader, source });
  }

  #add(kind: ComponentKind, type: string, entry: Entry): void {
    const key = `${kind}:${type}`;
    const existing = this.#byKey.get(key);
    if (existing) {
      throw new SkeinError(
        'SKEIN_ERR_PLUGIN_DUPLICATE',
        `plugin "${entry.source}": a ${kind} of type "${type}" is already registered by "${existing.source}"`,
      );
    }
    this.#byKey.set(key, entry);
  }

  /** The factory, or undefined for an unknown type; throws for one registered but not loaded yet. */
  get(kind: ComponentKind, type: string): Factory | undefined {
    const entry = this.#byKey.get(`${kind}:${type}`);
    if (entry && !entry.factory) throw new Error(`the ${kind} factory "${type}" is not imported yet; await factories.load() first`);
    return entry?.factory;
  }

  /**
   * Imports the factory if it was registered by its loader; undefined for an unknown type.
   * A module that cannot be imported is SKEIN_ERR_PLUGIN_LOAD; one whose default export is not
   * a factory of this kind and type is SKEIN_ERR_PLUGIN_INVALID.
   */
  async load(kind: ComponentKind, type: string): Promise<Factory | undefined> {
    const entry = this.#byKey.get(`${kind}:${type}`);
    if (!entry) return undefined;
    if (entry.factory) return entry.factory;
    entry.loading ??= importFactory(entry.loader!, `${entry.source} ${kind}/${type}`).then((factory) => (entry.factory = factory));
    return entry.loading;
  }

  /** Imports every factory registered by its loader. */
  async loadAll(): Promise<void> {
    await Promise.all([...this.#byKey.values()].map((e) => e.factory ?? this.load(e.loader!.kind, e.loader!.type)));
  }

  /** The registered types of one kind, imported or not, sorted. */
  types(kind: ComponentKind): string[] {
    return [...this.#byKey.keys()]
      .filter((key) => key.startsWith(`${kind}:`))
      .map((key) => key.slice(kind.length + 1))
      .sort();
  }

  /** The imported factories: after `loadAll()`, every one. */
  all(): Factory[] {
    return [...this.#byKey.values()].flatMap((e) => (e.factory ? [e.factory] : []));
  }

  sourceOf(kind: ComponentKind, type: string): string | undefined {
    return this.#byKey.get(`${kind}:${type}`)?.source;
  }
}

async function importFactory(loader: FactoryLoader, name: string): Promise<Factory> {
  let exported: unknown;
  try {
    exported = (await loader.load()).default;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new SkeinError('SKEIN_ERR_PLUGIN_LOAD', `plugin "${name}": cannot load: ${reason}`, { cause: err });
  }
  assertFactory(exported, name);
  if (exported.kind !== loader.kind || exported.type !== loader.type) {
    throw new SkeinError('SKEIN_ERR_PLUGIN_INVALID', `plugin "${name}": its factory is a ${exported.kind} of type "${exported.type}"`);
  }
  return exported;
}
