import assert from 'node:assert/strict';
import { MetricsRegistry, silentLogger, validateAgainst, type Logger } from '@skein/core';
import { createThresholdStore, ThresholdStoreConfigSchema, type ThresholdStoreExtension } from '../src/index.ts';

/** A clock a test moves by hand. */
export function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/** The config `raw` gives once validated (defaults filled), as create() receives it. */
export function storeSettings(raw: Record<string, unknown>, opts: { registry?: MetricsRegistry; logger?: Logger; id?: string } = {}) {
  const id = opts.id ?? 'threshold_store';
  const { value, issues } = validateAgainst(ThresholdStoreConfigSchema, raw, ['extensions', id], undefined);
  assert.deepEqual(issues, []);
  const registry = opts.registry ?? new MetricsRegistry();
  return { id, config: value, logger: opts.logger ?? silentLogger, telemetry: registry.scoped({ extension: id }), pipelines: [] };
}

export function memoryStore(raw: Record<string, unknown> = {}, opts: { now?: () => number; registry?: MetricsRegistry } = {}): ThresholdStoreExtension {
  return createThresholdStore(storeSettings(raw, opts), { now: opts.now });
}

/** Polls `check` until it returns true, at most `ms`; throws with `what` otherwise. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
