import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: commands run from here, as `npm start` does. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
/** What `npm start` and the `skein` bin run. */
export const COMPILED_MAIN = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
export const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

/** How a test starts the command: which main, with which Node flags and environment. */
export interface Launch {
  main: string;
  nodeArgs: string[];
  env?: NodeJS.ProcessEnv;
}

/** The sources, resolved through the `skein-source` condition `npm test` puts in NODE_OPTIONS. */
export const SOURCE: Launch = { main: MAIN, nodeArgs: [] };

/**
 * The compiled command, with NODE_OPTIONS minus the `skein-source` condition (so `@skein/*`
 * resolve to dist/) and Node's TypeScript support off (so any .ts it loaded would fail).
 */
export const COMPILED: Launch = {
  main: COMPILED_MAIN,
  nodeArgs: ['--no-experimental-strip-types'],
  env: {
    ...process.env,
    NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '')
      .split(' ')
      .filter((o) => o !== '--conditions=skein-source')
      .join(' '),
  },
};

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `skein ...args` to completion (process.execPath is the pinned Node under `npx node --test`). */
export function skein(...args: string[]): Result {
  return launchSkein(SOURCE, args);
}

export function launchSkein(launch: Launch, args: string[]): Result {
  const r = spawnSync(process.execPath, [...launch.nodeArgs, launch.main, ...args], { cwd: REPO, env: launch.env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The non-empty lines of `text`. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A running `skein run`, with its JSON log lines collected as they arrive. */
export class RunningSkein {
  readonly logs: LogLine[] = [];
  /** stderr lines that were not JSON (a crash's stack trace). */
  readonly other: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly pid: number;
  readonly #child;

  constructor(args: string[], launch: Launch = SOURCE) {
    this.#child = spawn(process.execPath, [...launch.nodeArgs, launch.main, 'run', ...args], { cwd: REPO, env: launch.env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.pid = this.#child.pid!;
    let partial = '';
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        if (line === '') continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.other.push(line);
        }
      }
    });
    this.exited = new Promise((resolve) => this.#child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  signal(sig: NodeJS.Signals): void {
    this.#child.kill(sig);
  }

  /** The first log line (after `from`) for which `match` holds; waits for it. */
  async waitForLog(match: (l: LogLine) => boolean, what: string, from = 0): Promise<LogLine> {
    let found: LogLine | undefined;
    await until(() => (found = this.logs.slice(from).find(match)) !== undefined, what, () => this.describe());
    return found!;
  }

  /** Stops the child if a test left it running. */
  async kill(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGKILL');
      await this.exited;
    }
  }

  describe(): string {
    return [...this.logs.map((l) => JSON.stringify(l)), ...this.other].join('\n');
  }
}

/**
 * Polls `cond` every 20 ms until it holds; fails after `ms` (a bound on a hang, never a timing
 * assertion) with `what` and `context()` in the message.
 */
export async function until(cond: () => boolean, what: string, context: () => string = () => '', ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
