/**
 * The per-component counts every component gets for free: the framework wraps the
 * consumers around each component, so authors write none of this.
 */
import type { Consumer, RequestContext } from '../consumer.ts';
import { refusalReason } from '../errors.ts';
import { countDataPoints } from '../metrics/iterate.ts';
import type { MetricsBatch } from '../metrics/model.ts';
import type { ComponentTelemetry, Counter, CounterChild, MetricsRegistry } from '../telemetry/registry.ts';

/** The names of the framework's per-component counters. */
export const SelfMetricNames = {
  receiverAccepted: 'skein_receiver_accepted_points_total',
  receiverRefused: 'skein_receiver_refused_points_total',
  processorIncoming: 'skein_processor_incoming_points_total',
  processorOutgoing: 'skein_processor_outgoing_points_total',
  processorRefused: 'skein_processor_refused_points_total',
  exporterSent: 'skein_exporter_sent_points_total',
  exporterFailed: 'skein_exporter_failed_points_total',
} as const;

/**
 * The refused-points family the framework counts pipeline refusals in. A receiver that
 * rejects points itself (undecodable, invalid) counts them here too, so one metric tells
 * everything a receiver did not pass on.
 */
export function receiverRefusedPoints(registry: MetricsRegistry): Counter {
  return registry.counter({
    name: SelfMetricNames.receiverRefused,
    help: 'Data points a receiver took in that were refused, by reason.',
    labelNames: ['receiver', 'transport', 'reason'],
  });
}

/** Wraps the consumer a receiver pushes into: counts accepted and refused points. */
export function instrumentReceiverOutput(registry: MetricsRegistry, receiverId: string, next: Consumer): Consumer {
  const accepted = registry.counter({
    name: SelfMetricNames.receiverAccepted,
    help: 'Data points a receiver pushed into its pipelines that were accepted.',
    labelNames: ['receiver', 'transport'],
  });
  const refused = receiverRefusedPoints(registry);
  // One child per transport, resolved once: the labelled lookup is the costly part of a count.
  const acceptedBy = new Map<string, CounterChild>();
  return {
    mutatesData: next.mutatesData,
    async consume(batch: MetricsBatch, ctx: RequestContext): Promise<void> {
      ctx.receiver ??= receiverId;
      const n = countDataPoints(batch);
      try {
        await next.consume(batch, ctx);
      } catch (err) {
        refused.inc(n, { receiver: receiverId, transport: ctx.transport, reason: refusalReason(err) });
        throw err;
      }
      let child = acceptedBy.get(ctx.transport);
      if (!child) {
        child = accepted.labels({ receiver: receiverId, transport: ctx.transport });
        acceptedBy.set(ctx.transport, child);
      }
      child.inc(n);
    },
  };
}

/** Wraps a processor: counts what comes in, what it refuses, and (via `output`) what goes out. */
export function instrumentProcessor(
  registry: MetricsRegistry,
  processorId: string,
  pipelineId: string,
): { input(p: Consumer): Consumer; output(next: Consumer): Consumer } {
  const labels = { processor: processorId, pipeline: pipelineId };
  const incoming = registry
    .counter({
      name: SelfMetricNames.processorIncoming,
      help: 'Data points handed to a processor.',
      labelNames: ['processor', 'pipeline'],
    })
    .labels(labels);
  const outgoing = registry
    .counter({
      name: SelfMetricNames.processorOutgoing,
      help: 'Data points a processor passed on.',
      labelNames: ['processor', 'pipeline'],
    })
    .labels(labels);
  const refused = registry.counter({
    name: SelfMetricNames.processorRefused,
    help: 'Data points a processor (or what follows it) refused, by reason.',
    labelNames: ['processor', 'pipeline', 'reason'],
  });
  return {
    input: (p) => ({
      mutatesData: p.mutatesData,
      async consume(batch, ctx) {
        const n = countDataPoints(batch);
        incoming.inc(n);
        try {
          await p.consume(batch, ctx);
        } catch (err) {
          refused.inc(n, { ...labels, reason: refusalReason(err) });
          throw err;
        }
      },
    }),
    output: (next) => ({
      mutatesData: next.mutatesData,
      consume(batch, ctx) {
        outgoing.inc(countDataPoints(batch));
        return next.consume(batch, ctx);
      },
    }),
  };
}

/**
 * The sent/failed counters of an exporter. The framework uses them around `consume`; an
 * exporter that queues (`reportsDelivery`) uses them itself when data really leaves.
 */
export function exporterDeliveryCounters(telemetry: ComponentTelemetry): { sent: Counter; failed: Counter } {
  return {
    sent: telemetry.counter({
      name: SelfMetricNames.exporterSent,
      help: 'Data points an exporter delivered.',
    }),
    failed: telemetry.counter({
      name: SelfMetricNames.exporterFailed,
      help: 'Data points an exporter failed to deliver, by reason.',
      labelNames: ['reason'],
    }),
  };
}

/** Wraps an exporter (or a connector's exporter side) with sent/failed counts. */
export function instrumentExporter(telemetry: ComponentTelemetry, exporter: Consumer): Consumer {
  const counters = exporterDeliveryCounters(telemetry);
  const sent = counters.sent.labels({});
  const failed = counters.failed;
  return {
    mutatesData: exporter.mutatesData,
    async consume(batch, ctx) {
      const n = countDataPoints(batch);
      try {
        await exporter.consume(batch, ctx);
      } catch (err) {
        failed.inc(n, { reason: refusalReason(err) });
        throw err;
      }
      sent.inc(n);
    },
  };
}
