/** The receiver's own metrics, beside the points the framework counts around `consume`. */
import { DURATION_BUCKETS, receiverRefusedPoints, type ComponentTelemetry, type CounterChild, type HistogramChild } from '@skein/core';
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
  // Series bound once, on a transport's or outcome's first request: a label lookup per request
  // shows in profiles, and a transport that is not served exports no series.
  const bound: Partial<Record<'http' | 'grpc', { duration: HistogramChild; requests: Map<Outcome, CounterChild> }>> = {};
  return {
    request(transport, outcome, startedAt) {
      const t = (bound[transport] ??= { duration: duration.labels({ transport }), requests: new Map() });
      let counter = t.requests.get(outcome);
      if (!counter) t.requests.set(outcome, (counter = requests.labels({ transport, outcome })));
      counter.inc(1);
      t.duration.observe((performance.now() - startedAt) / 1000);
    },
    invalidPoints(transport, n) {
      refused.inc(n, { receiver: receiverId, transport, reason: 'invalid' });
    },
  };
}
