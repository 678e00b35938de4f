/** A plugin that declares a processor of type `batch`, which the distribution already has. */
import { defineProcessor, Type } from '@skein/core';

export default defineProcessor({
  type: 'batch',
  description: 'Clashes with the built-in batch processor.',
  stability: 'development',
  configSchema: Type.Object({}),
  create: (_settings, next) => ({ consume: (batch, ctx) => next.consume(batch, ctx) }),
});
