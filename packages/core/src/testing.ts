/**
 * Helpers for testing components and pipelines: a sink exporter that records what reaches
 * it, and a one-call way to run a pipeline from YAML text.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { Type } from '@sinclair/typebox';
import { defineExporter, defineReceiver, type Factory } from './component.ts';
import type { Consumer, RequestContext } from './consumer.ts';
import { loadConfigText } from './config/load.ts';
import { Factories } from './factories.ts';
import { silentLogger, type Logger } from './log.ts';
import type { MetricsBatch } from './metrics/model.ts';
import { Service } from './service.ts';
import { MetricsRegistry } from './telemetry/registry.ts';

export interface Received {
  batch: MetricsBatch;
  ctx: RequestContext;
}

/**
 * An exporter factory (type `sink`) whose instances append what they receive to `received`.
 * `fail` lets a test make it refuse.
 */
export function sinkExporter(opts: { type?: string; mutates?: boolean } = {}) {
  const received: Received[] = [];
  const control: { fail?: (batch: MetricsBatch) => Error | undefined } = {};
  const factory = defineExporter({
    type: opts.type ?? 'sink',
    description: 'Records every batch it receives (tests).',
    stability: 'development',
    configSchema: Type.Object({}, { additionalProperties: false }),
    create: () => ({
      mutatesData: opts.mutates ?? false,
      async consume(batch: MetricsBatch, ctx: RequestContext) {
        const err = control.fail?.(batch);
        if (err) throw err;
        received.push({ batch, ctx });
      },
    }),
  });
  return { factory, received, control };
}

/** A receiver factory (type `source`) whose instances expose their consumer for tests to push into. */
export function sourceReceiver(opts: { type?: string } = {}) {
  const consumers = new Map<string, Consumer>();
  const factory = defineReceiver({
    type: opts.type ?? 'source',
    description: 'Lets a test push batches into the pipelines (tests).',
    stability: 'development',
    configSchema: Type.Object({}, { additionalProperties: false }),
    create: (s, next) => {
      consumers.set(s.id, next);
      return {};
    },
  });
  return { factory, consumers };
}

/** Builds and starts a service from YAML text; remember to `shutdown()` it. */
export async function startService(
  yaml: string,
  factories: Factory[],
  opts: { logger?: Logger; registry?: MetricsRegistry; env?: Record<string, string | undefined> } = {},
): Promise<Service> {
  const loaded = loadConfigText(yaml, 'test.yaml', { env: opts.env ?? {} });
  const service = await Service.create(loaded, {
    factories: new Factories(factories),
    logger: opts.logger ?? silentLogger,
    registry: opts.registry ?? new MetricsRegistry(),
    telemetryAddress: '127.0.0.1:0',
  });
  await service.start();
  return service;
}

/**
 * Finds a system tool a test needs, so that the test fails with the fix in its message
 * (never skips) when the tool is missing.
 */
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

/** The ids of the Node built-ins (`http`, `internal/deps/undici/undici`) a fresh process holds after importing `url`. */
export async function builtinsLoadedBy(url: string): Promise<string[]> {
  const script = `await import(${JSON.stringify(url)}); process.stdout.write(JSON.stringify(process.moduleLoadList));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  return (JSON.parse(stdout) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
}
