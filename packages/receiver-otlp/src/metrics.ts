/** The receiver's own metrics, beside the points the framework counts around `consume`. */
import { DURATION_BUCKETS, receiverRefusedPoints, type ComponentTelemetry } from '@skein/core';
import type { Outcome } from './push.ts';

export interface ReceiverMetrics {
  /** One answered request: its outcome and how long it took from its first byte to the reply. */
  request(transport: 'http' | 'grpc', outcome: Outcome, startedAt: number): void;
  /** Points the codec rejected as invalid (the pipeline never saw them). */
  invalidPoints(transport: 'http' | 'grpc', n: number): void;
}

export function receiverMetrics(telemetry: ComponentTelemetry, receiverId: string): ReceiverMetrics {
  const requests = telemetry.counter({
    name: 'skein_receiver_requests_total',
    help: 'OTLP requests a receiver answered, by transport and outcome.',
    labelNames: ['transport', 'outcome'],
  });
  const duration = telemetry.histogram({
    name: 'skein_receiver_request_duration_seconds',
    help: 'Time from an OTLP request arriving to its reply, in seconds.',
    labelNames: ['transport'],
    buckets: DURATION_BUCKETS,
  });
  // The framework's family, so the points refused here and those the pipeline refused are one metric.
  const refused = receiverRefusedPoints(telemetry.registry);
  return {
    request(transport, outcome, startedAt) {
      requests.inc(1, { transport, outcome });
      duration.observe((performance.now() - startedAt) / 1000, { transport });
    },
    invalidPoints(transport, n) {
      refused.inc(n, { receiver: receiverId, transport, reason: 'invalid' });
    },
  };
}
