import { Type, type Static } from '@skein/core';

export const DropMetricsConfigSchema = Type.Object(
  {
    names: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Metric names to drop, exactly as written.',
    }),
    patterns: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Regular expressions (JavaScript syntax) matched against the whole metric name; a metric that matches any of them is dropped.',
    }),
  },
  { additionalProperties: false },
);

export type DropMetricsConfig = Static<typeof DropMetricsConfigSchema>;
