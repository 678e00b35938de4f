/**
 * One TCP probe: resolve the name, connect, close. Reachable means the three-way handshake
 * completed; nothing is sent.
 */
import { connect, isIP } from 'node:net';
import { abortedOutcome, classifyError, errorText, type ProbeOutcome, type ProbePhase } from '@skein/probe-loop';

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
}

export function tcpProbe(target: TcpTarget, signal: AbortSignal, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let phase: ProbePhase = isIP(target.host) ? 'connect' : 'dns';
    let done = false;
    const socket = connect({ host: target.host, port: target.port });
    const finish = (outcome: ProbeOutcome) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ...outcome, duration_seconds: (performance.now() - started) / 1000 });
    };
    const onAbort = () => finish(abortedOutcome(signal.reason, phase, target.host, timeoutMs));
    socket.once('lookup', (err) => {
      if (!err) phase = 'connect';
    });
    socket.once('connect', () => finish({ reachable: true }));
    socket.on('error', (err) => finish({ reachable: false, error_class: classifyError(err, phase), error: errorText(err), phase }));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}
