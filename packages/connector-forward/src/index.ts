/**
 * The forward connector joins pipelines: it is an exporter of the pipelines that list it under
 * `exporters` and a receiver of those that list it under `receivers`, and hands every batch
 * from the first to the second unchanged.
 */
import { defineConnector } from '@skein/core';
import { ForwardConfigSchema } from './config.ts';

export default defineConnector({
  type: 'forward',
  description: 'Passes every batch from the pipelines that export to it to the pipelines that receive from it.',
  stability: 'beta',
  configSchema: ForwardConfigSchema,
  create(_settings, next) {
    return {
      // It hands the batch on as is, so it mutates exactly when what follows it does; saying so
      // makes the upstream fan-out copy the batch before a downstream processor changes it.
      mutatesData: next.mutatesData === true,
      consume: (batch, ctx) => next.consume(batch, ctx),
    };
  },
});
