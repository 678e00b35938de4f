/**
 * The `debug` exporter: writes what reaches it to the log, so a pipeline can be watched
 * while it is built. Reads the batch and never changes it.
 */
import {
  createLogger,
  defineExporter,
  type CreateSettings,
  type Exporter,
  type LogFields,
  type Logger,
  type MetricsBatch,
  type RequestContext,
} from '@skein/core';
import { DebugConfigSchema, type DebugConfig } from './config.ts';
import { countBatch, displayAttributes, metricDetailFields, pointFields } from './format.ts';

export { DebugConfigSchema, type DebugConfig } from './config.ts';

export interface DebugExporterOptions {
  /** Where `output: stdout` lines go; standard output by default (tests capture it). */
  writeStdout?: (line: string) => void;
  /** Whether that destination is a terminal, for the text/JSON choice; stdout's by default. */
  stdoutIsTTY?: boolean;
}

function stdoutLogger(id: string, opts: DebugExporterOptions): Logger {
  return createLogger({
    level: 'info',
    format: 'auto',
    write: opts.writeStdout ?? ((line) => process.stdout.write(line + '\n')),
    isTTY: opts.stdoutIsTTY ?? Boolean(process.stdout.isTTY),
  }).child({ exporter: id });
}

function contextFields(ctx: RequestContext): LogFields {
  const fields: LogFields = { transport: ctx.transport };
  if (ctx.receiver !== undefined) fields.receiver = ctx.receiver;
  if (ctx.clusterId !== undefined) fields.clusterId = ctx.clusterId;
  return fields;
}

/** Creates the exporter; the factory passes no options, tests pass a stdout to capture. */
export function createDebugExporter(settings: CreateSettings<DebugConfig>, opts: DebugExporterOptions = {}): Exporter {
  const { verbosity, output } = settings.config;
  const logger = output === 'stdout' ? stdoutLogger(settings.id, opts) : settings.logger;

  const write = (batch: MetricsBatch, ctx: RequestContext) => {
    if (!logger.isLevelEnabled('info')) return;
    logger.info('metrics', { ...contextFields(ctx), ...countBatch(batch) });
    if (verbosity === 'basic') return;
    const detailed = verbosity === 'detailed';
    batch.resourceMetrics.forEach((rm, resource) => {
      if (detailed) {
        logger.info('resource', {
          resource,
          attributes: displayAttributes(rm.resource.attributes),
          ...(rm.schemaUrl ? { schemaUrl: rm.schemaUrl } : {}),
        });
      }
      for (const sm of rm.scopeMetrics) {
        const scope = sm.scope.name;
        if (detailed) {
          logger.info('scope', {
            resource,
            scope,
            ...(sm.scope.version ? { version: sm.scope.version } : {}),
            ...(sm.scope.attributes ? { attributes: displayAttributes(sm.scope.attributes) } : {}),
            ...(sm.schemaUrl ? { schemaUrl: sm.schemaUrl } : {}),
          });
        }
        for (const m of sm.metrics) {
          logger.info('metric', {
            resource,
            scope,
            name: m.name,
            type: m.type,
            dataPoints: m.points.length,
            ...(detailed ? metricDetailFields(m) : {}),
          });
          if (!detailed) continue;
          m.points.forEach((p, point) => {
            logger.info('data point', { resource, scope, metric: m.name, type: m.type, point, ...pointFields(m, p) });
          });
        }
      }
    });
  };

  return {
    mutatesData: false,
    async consume(batch, ctx) {
      write(batch, ctx);
    },
  };
}

export const debugExporter = defineExporter({
  type: 'debug',
  description: 'Writes every batch to the log: counts, one line per metric, or every data point.',
  stability: 'development',
  configSchema: DebugConfigSchema,
  create: (settings) => createDebugExporter(settings),
});

export default debugExporter;
