/**
 * The V8 flags `skein run` runs with. Some cannot go in NODE_OPTIONS, so `skein run` starts
 * again once, in place, with them on the command line: `process.execve` keeps the PID, so
 * signals, systemd and readers of /proc/<pid> see one process throughout.
 */

/**
 * The flags `skein run` adds. SKEIN_NODE_FLAGS replaces them; set to an empty value, none.
 *
 * - `--no-allocation-site-pretenuring`: a scrape's burst of short-lived objects would otherwise
 *   teach V8 to allocate them straight into the old generation, which then fills with dead
 *   scrapes (RSS more than doubles in the bridge).
 * - `--max-semi-space-size=16`: Node grows the young generation to 64 MiB per half; 16 keeps
 *   RSS near half of that while scavenging rarely enough. In the bridge bench 8 cost 12–20 %
 *   more CPU than 16 for 10–20 % less peak RSS; 24 and 32 saved a few % more CPU for more RSS.
 * - `--no-memory-reducer`: the reducer runs full collections when the process looks idle, to
 *   give memory back; a bridge looks idle between scrapes, and turning it off saved about 12 %
 *   of the bridge bench's CPU. A service's heap then stays at its working size.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--no-allocation-site-pretenuring', '--no-memory-reducer'];

/**
 * Flag sets an operator picks with SKEIN_NODE_PROFILE. `small` trades CPU for memory in a
 * mostly idle process such as a probe service: no optimizing compilers (their code and work
 * memory stay out of RSS; the cheap baseline compiler stays), the smallest young generation,
 * V8's size-first heuristics. A busy pipeline pays for it in CPU, so it is never the default.
 */
export const NODE_PROFILES: Readonly<Record<string, readonly string[]>> = {
  default: NODE_FLAGS,
  small: ['--max-semi-space-size=1', '--optimize-for-size', '--no-turbofan', '--no-maglev'],
};

/** In the environment of the process that was started again, so it never starts again itself. */
export const REEXECUTED_ENV = 'SKEIN_NODE_FLAGS_APPLIED';

/** What decides whether to start again: `process`, or a stand-in for it in tests. */
export interface ProcessView {
  argv: readonly string[];
  execArgv: readonly string[];
  execPath: string;
  env: NodeJS.ProcessEnv;
}

/** `--max_semi_space_size=16` and `--no-max-semi-space-size` both set `max-semi-space-size`. */
const flagName = (flag: string) => flag.replace(/^--(no-)?/, '').split('=')[0]!.replaceAll('_', '-');

/** The flags wanted: SKEIN_NODE_FLAGS if set, else those of SKEIN_NODE_PROFILE (`default` if unset). */
function wantedFlags(env: NodeJS.ProcessEnv): readonly string[] {
  if (env.SKEIN_NODE_FLAGS !== undefined) return env.SKEIN_NODE_FLAGS.split(/\s+/).filter((f) => f !== '');
  const profile = env.SKEIN_NODE_PROFILE ?? 'default';
  const flags = Object.hasOwn(NODE_PROFILES, profile) ? NODE_PROFILES[profile] : undefined;
  if (!flags) throw new Error(`SKEIN_NODE_PROFILE must be one of ${Object.keys(NODE_PROFILES).join(', ')}, got ${JSON.stringify(profile)}`);
  return flags;
}

/**
 * The argv to start `skein run` again with: the flags, then the process's own Node flags (so
 * that those win), then its script and arguments. Undefined for any other command, for the
 * process that was started again, when no flags are wanted, and when the command line already
 * sets every flag. Throws for an unknown SKEIN_NODE_PROFILE.
 */
export function reexecArgv(proc: ProcessView): string[] | undefined {
  if (proc.argv[2] !== 'run' || proc.env[REEXECUTED_ENV] !== undefined) return undefined;
  const flags = wantedFlags(proc.env);
  const given = new Set(proc.execArgv.map(flagName));
  if (flags.every((f) => given.has(flagName(f)))) return undefined;
  return [proc.execPath, ...flags, ...proc.execArgv, ...proc.argv.slice(1)];
}

/**
 * Replaces this process with `skein run` under the flags, when `reexecArgv` asks for it and
 * Node can: `process.execve` exists (Node 22.15 and later, not on Windows) and there is no IPC
 * channel to a parent, which execve would close. Returns only if it does not.
 */
export function reexecWithNodeFlags(): void {
  if (process.env[REEXECUTED_ENV] !== undefined) {
    // Child processes of the service are not `skein run` started again.
    delete process.env[REEXECUTED_ENV];
    return;
  }
  let argv: string[] | undefined;
  try {
    argv = reexecArgv(process);
  } catch (err) {
    // An environment variable is part of how the command was given: a usage error.
    process.stderr.write(`skein run: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (!argv || !process.execve || process.channel) return;
  process.execve(process.execPath, argv, { ...process.env, [REEXECUTED_ENV]: '1' });
}
