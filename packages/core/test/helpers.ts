/** Test-only factories that record their lifecycle into a shared log. */
import { Type } from '@sinclair/typebox';
import {
  defineConnector,
  defineExporter,
  defineExtension,
  defineProcessor,
  defineReceiver,
  type Consumer,
  type Factory,
  type MetricsBatch,
  type RequestContext,
} from '../src/index.ts';

export interface Recorder {
  events: string[];
  consumers: Map<string, Consumer>;
  received: Map<string, { batch: MetricsBatch; ctx: RequestContext }[]>;
  creates: Map<string, number>;
  failStart?: string;
}

export function recorder(): Recorder {
  return { events: [], consumers: new Map(), received: new Map(), creates: new Map() };
}

const lifecycle = (rec: Recorder, name: string) => ({
  start() {
    if (rec.failStart === name) throw new Error('port already in use');
    rec.events.push(`start ${name}`);
  },
  shutdown() {
    rec.events.push(`shutdown ${name}`);
  },
});

const counted = (rec: Recorder, name: string) => rec.creates.set(name, (rec.creates.get(name) ?? 0) + 1);

export function testFactories(rec: Recorder, opts: { mutatingProcessor?: boolean } = {}): Factory[] {
  return [
    defineReceiver({
      type: 'push',
      description: 'test receiver',
      stability: 'development',
      configSchema: Type.Object(
        { port: Type.Integer({ default: 0, minimum: 0 }), max_port: Type.Integer({ default: 65535 }) },
        { additionalProperties: false },
      ),
      validate: (c) => (c.port > c.max_port ? [{ path: ['max_port'], message: `must be >= port (${c.port}), got ${c.max_port}` }] : []),
      create(s, next) {
        counted(rec, `receiver ${s.id}`);
        rec.consumers.set(s.id, next);
        return lifecycle(rec, `receiver ${s.id}`);
      },
    }),
    defineProcessor({
      type: 'tag',
      description: 'test processor that tags every resource',
      stability: 'development',
      configSchema: Type.Object({ value: Type.String({ default: 'x' }) }, { additionalProperties: false }),
      create(s, next) {
        counted(rec, `processor ${s.id}@${s.pipelines.join(',')}`);
        return {
          mutatesData: opts.mutatingProcessor ?? true,
          ...lifecycle(rec, `processor ${s.id}@${s.pipelines.join(',')}`),
          consume(batch, ctx) {
            for (const rm of batch.resourceMetrics) rm.resource.attributes[s.id] = s.config.value;
            return next.consume(batch, ctx);
          },
        };
      },
    }),
    defineExporter({
      type: 'memory',
      description: 'test exporter',
      stability: 'development',
      configSchema: Type.Object({}, { additionalProperties: false }),
      create(s) {
        counted(rec, `exporter ${s.id}`);
        const list: { batch: MetricsBatch; ctx: RequestContext }[] = [];
        rec.received.set(s.id, list);
        return {
          ...lifecycle(rec, `exporter ${s.id}`),
          async consume(batch, ctx) {
            list.push({ batch, ctx });
          },
        };
      },
    }),
    defineExtension({
      type: 'store',
      description: 'test extension',
      stability: 'development',
      configSchema: Type.Object({}, { additionalProperties: false }),
      create(s) {
        return { ...lifecycle(rec, `extension ${s.id}`), kind: 'store' };
      },
    }),
    defineConnector({
      type: 'fwd',
      description: 'test connector',
      stability: 'development',
      configSchema: Type.Object({}, { additionalProperties: false }),
      create(s, next) {
        return { ...lifecycle(rec, `connector ${s.id}`), consume: (b, c) => next.consume(b, c) };
      },
    }),
  ];
}
