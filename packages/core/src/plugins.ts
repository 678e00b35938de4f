import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SkeinError } from './errors.ts';
import type { Factories } from './factories.ts';

/** Is this plugin spec a file path rather than a package name? */
function isPath(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec);
}

/** Where `spec` resolves from `baseDir`, as a URL to import. */
function resolveSpec(spec: string, baseDir: string): string {
  if (isPath(spec)) return pathToFileURL(resolve(baseDir, spec)).href;
  try {
    // Resolve from the config's directory first, so a plugin installed beside the user's
    // config is found even when Skein itself is installed elsewhere.
    return pathToFileURL(createRequire(join(baseDir, 'noop.js')).resolve(spec)).href;
  } catch {
    return spec;
  }
}

/**
 * Imports each plugin (a package name, or a path relative to `baseDir`) and registers its
 * default export: one factory or an array of them. Returns the factories' `kind/type`s.
 */
export async function loadPlugins(specs: readonly string[], factories: Factories, baseDir: string): Promise<string[]> {
  const loaded: string[] = [];
  for (const spec of specs) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(resolveSpec(spec, baseDir))) as Record<string, unknown>;
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new SkeinError('SKEIN_ERR_PLUGIN_LOAD', `plugin "${spec}": cannot load: ${reason}`, { cause: err });
    }
    const exported = mod.default;
    if (exported === undefined) {
      throw new SkeinError('SKEIN_ERR_PLUGIN_INVALID', `plugin "${spec}": has no default export; export a factory (or an array of factories) as default`);
    }
    const list = Array.isArray(exported) ? exported : [exported];
    for (const f of list) {
      factories.register(f, spec);
      const { kind, type } = f as { kind: string; type: string };
      loaded.push(`${kind}/${type}`);
    }
  }
  return loaded;
}
