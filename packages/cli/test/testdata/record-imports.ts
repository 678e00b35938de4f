/**
 * Preloaded with `--import` by distribution.test.ts: when the process exits, prints one JSON
 * log line naming every directory under packages/ that it imported a module from.
 */
import { registerHooks } from 'node:module';

const PACKAGES = new URL('../../../', import.meta.url).href;
const packages = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (resolved.url.startsWith(PACKAGES)) packages.add(resolved.url.slice(PACKAGES.length).split('/')[0]!);
    return resolved;
  },
});
process.on('exit', () => {
  process.stderr.write(JSON.stringify({ level: 'debug', msg: 'imported packages', packages: [...packages].sort() }) + '\n');
});
