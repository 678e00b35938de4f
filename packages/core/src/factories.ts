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

/** The factories a distribution knows, by kind and type. */
export class Factories {
  readonly #byKey = new Map<string, { factory: Factory; source: string }>();

  constructor(factories: Iterable<Factory> = [], source = 'built-in') {
    for (const f of factories) this.register(f, source);
  }

  register(factory: unknown, source = 'built-in'): void {
    assertFactory(factory, source);
    const key = `${factory.kind}:${factory.type}`;
    const existing = this.#byKey.get(key);
    if (existing) {
      throw new SkeinError(
        'SKEIN_ERR_PLUGIN_DUPLICATE',
        `plugin "${source}": a ${factory.kind} of type "${factory.type}" is already registered by "${existing.source}"`,
      );
    }
    this.#byKey.set(key, { factory, source });
  }

  get(kind: ComponentKind, type: string): Factory | undefined {
    return this.#byKey.get(`${kind}:${type}`)?.factory;
  }

  /** The registered types of one kind, sorted. */
  types(kind: ComponentKind): string[] {
    return [...this.#byKey.values()]
      .filter((e) => e.factory.kind === kind)
      .map((e) => e.factory.type)
      .sort();
  }

  all(): Factory[] {
    return [...this.#byKey.values()].map((e) => e.factory);
  }

  sourceOf(kind: ComponentKind, type: string): string | undefined {
    return this.#byKey.get(`${kind}:${type}`)?.source;
  }
}
