import { parseDuration, Type, type ConfigProblem, type Static } from '@skein/core';

export const PrometheusConfigSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      default: '127.0.0.1:8889',
      description: 'Where to serve `/metrics`, `host:port`. The default answers local scrapers only; use `0.0.0.0:8889` for a Prometheus elsewhere. Port 0 picks a free port.',
    }),
    metric_expiration: Type.String({
      format: 'duration',
      default: '5m',
      description: 'A series not updated for this long is no longer served; must be more than 0s.',
    }),
    add_metric_suffixes: Type.Boolean({
      default: true,
      description: 'Add unit and type suffixes to names (`_seconds`, `_total`, `_ratio`); turn off for data already named the Prometheus way.',
    }),
    resource_to_telemetry_conversion: Type.Boolean({
      default: false,
      description: 'Copy every resource attribute onto every series as a label (besides `target_info`).',
    }),
    const_labels: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Labels added to every series; a series\' own label of the same name wins.',
    }),
    enable_open_metrics: Type.Boolean({
      default: false,
      description: 'Answer scrapers that ask for OpenMetrics (`Accept: application/openmetrics-text`) in OpenMetrics 1.0, with `_created` series, `# UNIT` and `target_info` as an info metric.',
    }),
  },
  { additionalProperties: false },
);

export type PrometheusConfig = Static<typeof PrometheusConfigSchema>;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The rules the schema cannot state, reported with their paths before anything starts. */
export function prometheusConfigProblems(config: PrometheusConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!(parseDuration(config.metric_expiration) > 0)) {
    problems.push({ path: ['metric_expiration'], message: `must be more than 0s, got "${config.metric_expiration}"` });
  }
  for (const [name, value] of Object.entries(config.const_labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      problems.push({ path: ['const_labels', name], message: 'must be a label name: letters, digits and _, not starting with a digit or __' });
    } else if (value === '') {
      problems.push({ path: ['const_labels', name], message: 'must not be empty (Prometheus drops labels with empty values)' });
    }
  }
  return problems;
}
