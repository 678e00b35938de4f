/**
 * Creates the components of a plan and wires them:
 *
 *   receiver ─▶ fan-out ─▶ processor ─▶ … ─▶ fan-out ─┬─▶ exporter
 *              (pipelines)                           └─▶ connector ─▶ next pipeline
 *
 * Components are created from the sinks back to the sources, so creation order is a
 * reverse topological order: exactly the order in which they must start.
 */
import type { Component, Connector, CreateSettings, Exporter, Processor } from '../component.ts';
import type { Consumer } from '../consumer.ts';
import { SkeinError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MetricsRegistry } from '../telemetry/registry.ts';
import { fanout } from './fanout.ts';
import { instrumentExporter, instrumentProcessor, instrumentReceiverOutput } from './instrument.ts';
import { componentKey, type Plan, type PlannedComponent, type Section } from './plan.ts';

const LABEL: Record<Section, string> = {
  receivers: 'receiver',
  processors: 'processor',
  exporters: 'exporter',
  extensions: 'extension',
  connectors: 'connector',
};

/** One created component, with where it sits. */
export interface GraphNode {
  /** `receivers::otlp`, or `processors::batch@metrics/fleet` for per-pipeline processors. */
  key: string;
  id: string;
  section: Section;
  component: Component;
}

export interface Graph {
  /** Extensions in `service::extensions` order. */
  extensions: GraphNode[];
  /** Everything else, in start order (sinks first, receivers last). */
  nodes: GraphNode[];
  /** The consumer at the head of each pipeline. */
  entries: Map<string, Consumer>;
}

export interface BuildDeps {
  registry: MetricsRegistry;
  logger: Logger;
}

/** Calls a factory's create() and reports a throw as SKEIN_ERR_COMPONENT_CREATE. */
async function create<T>(pc: PlannedComponent, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SkeinError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new SkeinError('SKEIN_ERR_COMPONENT_CREATE', `${pc.section}::${pc.id}: cannot create: ${reason}`, { cause: err });
  }
}

function pipelineMutates(consumers: Consumer[]): boolean {
  return consumers.some((c) => c.mutatesData === true);
}

export async function buildGraph(plan: Plan, deps: BuildDeps): Promise<Graph> {
  const { registry, logger } = deps;
  const nodes: GraphNode[] = [];
  const entries = new Map<string, Consumer>();
  const get = (section: Section, id: string) => plan.components.get(componentKey(section, id))!;
  const pipelinesOf = (section: Section, id: string) =>
    plan.pipelines
      .filter((p) =>
        section === 'receivers' ? p.receivers.includes(id) : section === 'exporters' ? p.exporters.includes(id) : p.processors.includes(id),
      )
      .map((p) => p.id);
  const settings = (pc: PlannedComponent, pipelines: string[], extraLabels: Record<string, string> = {}): CreateSettings<any> => ({
    id: pc.id,
    config: pc.config,
    pipelines,
    logger: logger.child({ [LABEL[pc.section]]: pc.id, ...extraLabels }),
    telemetry: registry.scoped({ [LABEL[pc.section]]: pc.id, ...extraLabels }),
  });

  const extensions: GraphNode[] = [];
  for (const pc of plan.extensions) {
    const f = pc.factory;
    if (f.kind !== 'extension') continue;
    const component = await create(pc, () => f.create(settings(pc, [])));
    extensions.push({ key: componentKey('extensions', pc.id), id: pc.id, section: 'extensions', component });
  }

  // Exporters: one instance, whatever number of pipelines use it.
  const exporterConsumers = new Map<string, Consumer>();
  for (const pc of plan.components.values()) {
    if (pc.section !== 'exporters' || pc.factory.kind !== 'exporter') continue;
    const pipelines = pipelinesOf('exporters', pc.id);
    if (pipelines.length === 0) continue;
    const f = pc.factory;
    const s = settings(pc, pipelines);
    const exporter: Exporter = await create(pc, () => f.create(s));
    exporterConsumers.set(pc.id, exporter.reportsDelivery ? exporter : instrumentExporter(s.telemetry, exporter));
    nodes.push({ key: componentKey('exporters', pc.id), id: pc.id, section: 'exporters', component: exporter });
  }

  // Pipelines, downstream first, so a connector's downstream entries exist when it is made.
  const connectorConsumers = new Map<string, Consumer>();
  for (const pid of [...plan.pipelineOrder].reverse()) {
    const p = plan.pipelines.find((x) => x.id === pid)!;
    const sinks: Consumer[] = [];
    for (const id of p.exporters) {
      const exp = exporterConsumers.get(id);
      if (exp) {
        sinks.push(exp);
        continue;
      }
      let conn = connectorConsumers.get(id);
      if (!conn) {
        const pc = get('connectors', id);
        const f = pc.factory;
        if (f.kind !== 'connector') continue;
        const downstream = plan.pipelines.filter((x) => x.receivers.includes(id)).map((x) => entries.get(x.id)!);
        const next = instrumentReceiverOutput(registry, id, fanout(downstream));
        const s = settings(pc, plan.pipelines.filter((x) => x.receivers.includes(id) || x.exporters.includes(id)).map((x) => x.id));
        const connector: Connector = await create(pc, () => f.create(s, next));
        // Counted as an exporter of its upstream pipelines, under the same metric names.
        conn = instrumentExporter(registry.scoped({ exporter: id }), connector);
        connectorConsumers.set(id, conn);
        nodes.push({ key: componentKey('connectors', id), id, section: 'connectors', component: connector });
      }
      sinks.push(conn);
    }
    let head: Consumer = fanout(sinks);
    const chain: Consumer[] = [];
    for (const id of [...p.processors].reverse()) {
      const pc = get('processors', id);
      const f = pc.factory;
      if (f.kind !== 'processor') continue;
      const wrap = instrumentProcessor(registry, id, pid);
      const processor: Processor = await create(pc, () => f.create(settings(pc, [pid], { pipeline: pid }), wrap.output(head)));
      nodes.push({ key: `${componentKey('processors', id)}@${pid}`, id, section: 'processors', component: processor });
      head = wrap.input(processor);
      chain.push(processor);
    }
    // The pipeline mutates if any of its processors does: they all see the same batch.
    const mutates = pipelineMutates(chain) || head.mutatesData === true;
    const inner = head;
    entries.set(pid, { mutatesData: mutates, consume: (b, c) => inner.consume(b, c) });
  }

  // Receivers last: one instance feeding every pipeline that lists it.
  for (const pc of plan.components.values()) {
    if (pc.section !== 'receivers' || pc.factory.kind !== 'receiver') continue;
    const pipelines = pipelinesOf('receivers', pc.id);
    if (pipelines.length === 0) continue;
    const f = pc.factory;
    const next = instrumentReceiverOutput(registry, pc.id, fanout(pipelines.map((pid) => entries.get(pid)!)));
    const receiver = await create(pc, () => f.create(settings(pc, pipelines), next));
    nodes.push({ key: componentKey('receivers', pc.id), id: pc.id, section: 'receivers', component: receiver });
  }

  return { extensions, nodes, entries };
}
