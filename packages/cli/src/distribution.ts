/**
 * The default distribution: the built-in components every `skein` command knows. Each is
 * imported only when a config declares it (`skein components` and the docs import them all),
 * so a running service holds the code of its own components and no others. Anything else
 * comes in through `plugins:` or `--plugin`.
 */
import { Factories, type Factory, type FactoryLoader } from '@skein/core';

/** A built-in component: its kind and type, the package that provides it, how to import it. */
export interface Builtin extends FactoryLoader {
  packageName: string;
  load(): Promise<{ default: Factory }>;
}

export const builtins: readonly Builtin[] = [
  { kind: 'receiver', type: 'heartbeat', packageName: '@skein/receiver-heartbeat', load: () => import('@skein/receiver-heartbeat') },
  { kind: 'receiver', type: 'otlp', packageName: '@skein/receiver-otlp', load: () => import('@skein/receiver-otlp') },
  { kind: 'receiver', type: 'tcpcheck', packageName: '@skein/receiver-tcpcheck', load: () => import('@skein/receiver-tcpcheck') },
  { kind: 'receiver', type: 'httpcheck', packageName: '@skein/receiver-httpcheck', load: () => import('@skein/receiver-httpcheck') },
  { kind: 'receiver', type: 'prometheus', packageName: '@skein/receiver-prometheus', load: () => import('@skein/receiver-prometheus') },
  { kind: 'processor', type: 'batch', packageName: '@skein/processor-batch', load: () => import('@skein/processor-batch') },
  { kind: 'processor', type: 'memory_limiter', packageName: '@skein/processor-memory-limiter', load: () => import('@skein/processor-memory-limiter') },
  { kind: 'processor', type: 'threshold', packageName: '@skein/processor-threshold', load: () => import('@skein/processor-threshold') },
  { kind: 'exporter', type: 'debug', packageName: '@skein/exporter-debug', load: () => import('@skein/exporter-debug') },
  { kind: 'exporter', type: 'prometheus', packageName: '@skein/exporter-prometheus', load: () => import('@skein/exporter-prometheus') },
  { kind: 'exporter', type: 'prometheusremotewrite', packageName: '@skein/exporter-prometheusremotewrite', load: () => import('@skein/exporter-prometheusremotewrite') },
  { kind: 'connector', type: 'forward', packageName: '@skein/connector-forward', load: () => import('@skein/connector-forward') },
  { kind: 'extension', type: 'health_check', packageName: '@skein/extension-health-check', load: () => import('@skein/extension-health-check') },
  { kind: 'extension', type: 'probes', packageName: '@skein/extension-probes', load: () => import('@skein/extension-probes') },
  { kind: 'extension', type: 'bearer_auth', packageName: '@skein/extension-bearer-auth', load: () => import('@skein/extension-bearer-auth') },
  { kind: 'extension', type: 'threshold_store', packageName: '@skein/extension-threshold-store', load: () => import('@skein/extension-threshold-store') },
  { kind: 'extension', type: 'threshold_headers', packageName: '@skein/extension-threshold-headers', load: () => import('@skein/extension-threshold-headers') },
];

/** Every built-in, none imported yet: what each `skein` command starts from. */
export function builtinFactories(): Factories {
  return new Factories(builtins);
}

/** Every built-in factory, imported, with its package (the docs generator needs both). */
export async function loadBuiltins(): Promise<{ packageName: string; factory: Factory }[]> {
  return Promise.all(builtins.map(async (b) => ({ packageName: b.packageName, factory: (await b.load()).default })));
}
