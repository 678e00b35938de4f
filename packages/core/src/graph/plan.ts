/**
 * Turns a loaded config into a checked plan of what to create: every problem that can be
 * found without starting anything is found here, all at once.
 */
import type { Factory } from '../component.ts';
import { configIssue, type LoadedConfig, type PathSegment } from '../config/source.ts';
import { TopLevelSchema, type PipelineConfig, type TopLevelConfig } from '../config/schema.ts';
import { validateAgainst } from '../config/validate.ts';
import { ConfigError, type ConfigIssue, type ErrorCode } from '../errors.ts';
import type { Factories } from '../factories.ts';
import { ID_RULE, parseId } from './id.ts';

export type Section = 'receivers' | 'processors' | 'exporters' | 'extensions' | 'connectors';
const SECTION_KIND = {
  receivers: 'receiver',
  processors: 'processor',
  exporters: 'exporter',
  extensions: 'extension',
  connectors: 'connector',
} as const;

export interface PlannedComponent {
  id: string;
  section: Section;
  factory: Factory;
  config: unknown;
}

export interface PlannedPipeline {
  id: string;
  receivers: string[];
  processors: string[];
  exporters: string[];
}

export interface Plan {
  config: TopLevelConfig;
  components: Map<string, PlannedComponent>; // keyed by `section::id`
  /** Enabled extensions, in `service::extensions` order. */
  extensions: PlannedComponent[];
  pipelines: PlannedPipeline[];
  /** Pipeline IDs, upstream before downstream (connectors make edges). */
  pipelineOrder: string[];
  warnings: string[];
}

export function componentKey(section: Section, id: string): string {
  return `${section}::${id}`;
}

/**
 * Imports the factories, registered by their loaders, of the components `loaded` declares, and
 * no others, so that planGraph can see them. Unknown types are left for planGraph to report.
 */
export async function loadDeclaredFactories(loaded: LoadedConfig, factories: Factories): Promise<void> {
  const raw = loaded.raw as Record<string, unknown>;
  const loads: Promise<unknown>[] = [];
  for (const section of Object.keys(SECTION_KIND) as Section[]) {
    const declared = raw[section];
    if (typeof declared !== 'object' || declared === null) continue;
    for (const id of Object.keys(declared)) {
      const parsed = parseId(id);
      if (parsed) loads.push(factories.load(SECTION_KIND[section], parsed.type));
    }
  }
  await Promise.all(loads);
}

/** Builds the plan or throws one ConfigError that lists every problem. */
export function planGraph(loaded: LoadedConfig, factories: Factories): Plan {
  const { positions } = loaded;
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const add = (path: PathSegment[], code: ErrorCode, what: string) => issues.push(configIssue(positions, path, code, what));

  const top = validateAgainst(TopLevelSchema, loaded.raw, [], positions);
  if (top.issues.length > 0) throw new ConfigError(top.issues);
  const config = top.value;

  // 1. Every declared component: a valid ID, a known type, a valid config.
  const components = new Map<string, PlannedComponent>();
  for (const section of Object.keys(SECTION_KIND) as Section[]) {
    const kind = SECTION_KIND[section];
    for (const [id, raw] of Object.entries(config[section] ?? {})) {
      const parsed = parseId(id);
      if (!parsed) {
        add([section, id], 'SKEIN_ERR_INVALID_ID', `invalid component id: ${ID_RULE}`);
        continue;
      }
      const factory = factories.get(kind, parsed.type);
      if (!factory) {
        const known = factories.types(kind);
        add([section, id], 'SKEIN_ERR_UNKNOWN_TYPE', `unknown ${kind} type "${parsed.type}"; known types: ${known.length ? known.join(', ') : 'none'}`);
        continue;
      }
      const checked = validateAgainst(factory.configSchema, raw ?? {}, [section, id], positions);
      issues.push(...checked.issues);
      if (checked.issues.length === 0 && factory.validate) {
        for (const problem of factory.validate(checked.value) ?? []) {
          add([section, id, ...(problem.path ?? [])], 'SKEIN_ERR_CONFIG_INVALID', problem.message);
        }
      }
      components.set(componentKey(section, id), { id, section, factory, config: checked.value });
    }
  }

  const declared = (section: Section) => Object.keys(config[section] ?? {});
  const listDeclared = (sections: Section[]) => {
    const ids = sections.flatMap(declared).sort();
    return ids.length ? ids.join(', ') : 'none';
  };

  // 2. Extensions enabled by the service.
  const extensions: PlannedComponent[] = [];
  const seenExt = new Set<string>();
  config.service.extensions.forEach((id, i) => {
    const path = ['service', 'extensions', i];
    if (seenExt.has(id)) return add(path, 'SKEIN_ERR_PIPELINE_DUPLICATE', `extension "${id}" is listed twice`);
    seenExt.add(id);
    const c = components.get(componentKey('extensions', id));
    if (!(id in (config.extensions ?? {}))) {
      return add(path, 'SKEIN_ERR_UNDECLARED_COMPONENT', `extension "${id}" is not declared; declared extensions: ${listDeclared(['extensions'])}`);
    }
    if (c) extensions.push(c);
  });
  for (const id of declared('extensions')) {
    if (!seenExt.has(id)) warnings.push(configIssue(positions, ['extensions', id], 'SKEIN_ERR_CONFIG_INVALID', 'declared but not enabled in service::extensions').message);
  }

  // 3. Pipelines.
  const pipelines: PlannedPipeline[] = [];
  const used = new Set<string>();
  const connectorAsExporter = new Map<string, string[]>();
  const connectorAsReceiver = new Map<string, string[]>();
  const pipelineEntries = Object.entries(config.service.pipelines);
  if (pipelineEntries.length === 0) add(['service', 'pipelines'], 'SKEIN_ERR_NO_PIPELINES', 'no pipeline is declared; add one such as metrics: {receivers: [...], exporters: [...]}');

  for (const [pid, p] of pipelineEntries as [string, PipelineConfig][]) {
    const base = ['service', 'pipelines', pid];
    const parsed = parseId(pid);
    if (!parsed) {
      add(base, 'SKEIN_ERR_INVALID_ID', `invalid pipeline id: must be metrics[/name]`);
      continue;
    }
    if (parsed.type !== 'metrics') {
      add(base, 'SKEIN_ERR_PIPELINE_SIGNAL', `unsupported signal "${parsed.type}"; supported signals: metrics`);
      continue;
    }
    const check = (role: 'receivers' | 'processors' | 'exporters', sections: Section[], noun: string) => {
      const seen = new Set<string>();
      const out: string[] = [];
      p[role].forEach((id, i) => {
        const path = [...base, role, i];
        if (seen.has(id)) return add(path, 'SKEIN_ERR_PIPELINE_DUPLICATE', `${noun} "${id}" is listed twice`);
        seen.add(id);
        const section = sections.find((s) => id in (config[s] ?? {}));
        if (!section) {
          return add(path, 'SKEIN_ERR_UNDECLARED_COMPONENT', `${noun} "${id}" is not declared; declared ${sections.join(' and ')}: ${listDeclared(sections)}`);
        }
        used.add(componentKey(section, id));
        if (section === 'connectors') {
          const map = role === 'receivers' ? connectorAsReceiver : connectorAsExporter;
          map.set(id, [...(map.get(id) ?? []), pid]);
        }
        out.push(id);
      });
      return out;
    };
    const receivers = check('receivers', ['receivers', 'connectors'], 'receiver');
    const processors = check('processors', ['processors'], 'processor');
    const exporters = check('exporters', ['exporters', 'connectors'], 'exporter');
    if (p.receivers.length === 0) add(base, 'SKEIN_ERR_PIPELINE_NO_RECEIVER', 'a pipeline needs at least one receiver');
    if (p.exporters.length === 0) add(base, 'SKEIN_ERR_PIPELINE_NO_EXPORTER', 'a pipeline needs at least one exporter');
    pipelines.push({ id: pid, receivers, processors, exporters });
  }

  // 4. Connectors must be used on both sides; together they must not form a cycle.
  for (const id of declared('connectors')) {
    const asExp = connectorAsExporter.get(id) ?? [];
    const asRecv = connectorAsReceiver.get(id) ?? [];
    if ((asExp.length === 0) !== (asRecv.length === 0)) {
      const has = asExp.length ? 'exporter' : 'receiver';
      const lacks = asExp.length ? 'receiver' : 'exporter';
      add(['connectors', id], 'SKEIN_ERR_CONNECTOR_UNUSED_SIDE', `connector is used as an ${has} but no pipeline uses it as a ${lacks}`);
    }
  }
  const order = topoOrder(pipelines, connectorAsReceiver);
  if ('cycle' in order) {
    add(['service', 'pipelines'], 'SKEIN_ERR_PIPELINE_CYCLE', `pipelines form a cycle: ${order.cycle.join(' -> ')}`);
  }

  // 5. Declared but unused: a warning, not an error.
  for (const section of ['receivers', 'processors', 'exporters', 'connectors'] as Section[]) {
    for (const id of declared(section)) {
      if (!used.has(componentKey(section, id))) {
        warnings.push(configIssue(positions, [section, id], 'SKEIN_ERR_CONFIG_INVALID', 'declared but not used by any pipeline').message);
      }
    }
  }

  if (issues.length > 0) {
    issues.sort((a, b) => (a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0) : 0));
    throw new ConfigError(issues);
  }
  return { config, components, extensions, pipelines, pipelineOrder: 'order' in order ? order.order : [], warnings };
}

/** Pipelines in upstream-first order, or the first cycle found (as a readable path). */
function topoOrder(
  pipelines: PlannedPipeline[],
  connectorAsReceiver: Map<string, string[]>,
): { order: string[] } | { cycle: string[] } {
  const byId = new Map(pipelines.map((p) => [p.id, p]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  const stack: string[] = [];
  const visit = (pid: string): string[] | undefined => {
    if (state.get(pid) === 'done') return undefined;
    if (state.get(pid) === 'visiting') {
      const from = stack.indexOf(pid);
      return [...stack.slice(from), pid];
    }
    state.set(pid, 'visiting');
    stack.push(pid);
    for (const exp of byId.get(pid)!.exporters) {
      for (const next of connectorAsReceiver.get(exp) ?? []) {
        stack.push(exp);
        const cycle = visit(next);
        stack.pop();
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(pid, 'done');
    order.push(pid);
    return undefined;
  };
  for (const p of pipelines) {
    const cycle = visit(p.id);
    if (cycle) return { cycle };
  }
  return { order: order.reverse() };
}
