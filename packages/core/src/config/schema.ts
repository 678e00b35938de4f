import { Type, type Static } from '@sinclair/typebox';

const ComponentSection = Type.Record(Type.String(), Type.Unknown(), {
  default: {},
  description: 'Component configs keyed by ID (`type[/name]`).',
});

export const PipelineSchema = Type.Object(
  {
    receivers: Type.Array(Type.String(), { default: [], description: 'Receiver (or connector) IDs feeding the pipeline.' }),
    processors: Type.Array(Type.String(), { default: [], description: 'Processor IDs, applied in order.' }),
    exporters: Type.Array(Type.String(), { default: [], description: 'Exporter (or connector) IDs the pipeline fans out to.' }),
  },
  { additionalProperties: false },
);

export const ServiceSchema = Type.Object(
  {
    extensions: Type.Array(Type.String(), { default: [], description: 'Extension IDs to start, in order.' }),
    pipelines: Type.Record(Type.String(), PipelineSchema, { default: {}, description: 'Pipelines keyed by ID (`metrics[/name]`).' }),
    telemetry: Type.Object(
      {
        metrics: Type.Object(
          {
            address: Type.String({
              format: 'host-port',
              default: '127.0.0.1:8888',
              description: "Where Skein serves its own metrics (Prometheus text at /metrics).",
            }),
            level: Type.Union([Type.Literal('none'), Type.Literal('normal'), Type.Literal('detailed')], {
              default: 'normal',
              description: '`none` turns the endpoint off.',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        logs: Type.Object(
          {
            level: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')], {
              default: 'info',
            }),
            format: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('text')], {
              default: 'auto',
              description: '`auto` is readable text on a terminal and JSON lines otherwise.',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    shutdown_timeout: Type.String({
      format: 'duration',
      default: '30s',
      description: 'How long SIGTERM/SIGINT waits for pipelines to drain before giving up.',
    }),
  },
  { additionalProperties: false },
);

export const TopLevelSchema = Type.Object(
  {
    plugins: Type.Array(Type.String(), { default: [], description: 'Packages or files whose default export is a factory (or a list of them).' }),
    extensions: ComponentSection,
    receivers: ComponentSection,
    processors: ComponentSection,
    exporters: ComponentSection,
    connectors: ComponentSection,
    service: ServiceSchema,
  },
  { additionalProperties: false },
);

export type PipelineConfig = Static<typeof PipelineSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
export type TopLevelConfig = Static<typeof TopLevelSchema>;
