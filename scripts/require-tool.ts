/**
 * Finds a system tool a test needs, so that the test fails with the fix in its message
 * (never skips) when the tool is missing.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

// Debian puts some daemons in sbin, which is not on every user's PATH.
const EXTRA_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin'];

/** The absolute path of executable `name`; throws naming Debian package `pkg` if it is missing. */
export function requireTool(name: string, pkg: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => isAbsolute(d)), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  throw new Error(`${name} not found: install Debian's ${pkg} package (bash scripts/install-deps.sh)`);
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
