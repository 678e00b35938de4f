/**
 * The Node/V8 flags a bench gives a process that stands for a running Skein service (a server
 * it forks with IPC, which `skein run`'s own re-execution does not cover): the ones `skein run`
 * applies, or SKEIN_NODE_FLAGS when set, as for `skein run` itself (empty: Node's defaults).
 */
import { NODE_FLAGS } from '@skein/cli/node-flags';

export function serviceNodeFlags(): string[] {
  const given = process.env.SKEIN_NODE_FLAGS;
  return given === undefined ? [...NODE_FLAGS] : given.split(/\s+/).filter((f) => f !== '');
}

const APPLIED = 'SKEIN_BENCH_SERVICE_FLAGS';

/**
 * For a bench that measures a component in its own process: starts this process again, in
 * place, with the service's flags, as `skein run` does. Returns when they are already applied
 * (or there are none, or Node cannot: no process.execve, or an IPC channel it would close).
 */
export function runWithServiceFlags(): void {
  const flags = serviceNodeFlags();
  if (process.env[APPLIED] !== undefined || flags.length === 0 || !process.execve || process.channel) return;
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [APPLIED]: flags.join(' ') });
}
