/**
 * The `tcpcheck` receiver probes upstreams with a TCP connect from where Skein runs, every
 * `collection_interval`, and emits `tcpcheck.reachable`, `tcpcheck.duration` and
 * `tcpcheck.error` per target. The loop, the targets file and the metrics are shared with
 * httpcheck (@skein/probe-loop).
 */
import { defineReceiver, parseHostPort, type Attributes, type ConfigProblem } from '@skein/core';
import {
  createProbeReceiver,
  isInvalid,
  validateProbeConfig,
  type ProbeKind,
  type TargetBase,
} from '@skein/probe-loop';
import { TcpCheckConfigSchema, TcpTargetSchema, type TcpTargetEntry } from './config.ts';
import { tcpProbe, type TcpTarget } from './probe.ts';

export { TcpCheckConfigSchema, type TcpCheckConfig } from './config.ts';
export { tcpProbe } from './probe.ts';

type Target = TargetBase & TcpTarget;

export const tcpCheck: ProbeKind<TcpTargetEntry, Target> = {
  type: 'tcpcheck',
  scope: { name: '@skein/receiver-tcpcheck', version: '0.1.0' },
  entrySchema: TcpTargetSchema,
  endpointKey: 'endpoint',
  entryProblems(entry): ConfigProblem[] {
    const { port } = parseHostPort(entry.endpoint);
    if (port === 0 || entry.endpoint.startsWith(':')) {
      return [{ path: ['endpoint'], message: `must name a host and a port from 1 to 65535, got "${entry.endpoint}"` }];
    }
    return [];
  },
  target: (entry, base) => ({ ...base, ...parseHostPort(entry.endpoint) }),
  probe: tcpProbe,
  attributes: (t): Attributes => (isInvalid(t) ? {} : { 'server.address': t.host, 'server.port': t.port }),
};

export const tcpCheckReceiver = defineReceiver({
  type: 'tcpcheck',
  description: 'Probes upstreams with a TCP connect at a fixed interval and emits reachability, latency and the error class per target.',
  stability: 'alpha',
  configSchema: TcpCheckConfigSchema,
  validate: (config) => validateProbeConfig(tcpCheck, config),
  create: (settings, next) => createProbeReceiver(tcpCheck, settings, next),
});

export default tcpCheckReceiver;
