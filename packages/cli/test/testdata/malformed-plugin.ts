/** A plugin whose default export is not a well-formed factory: its type is not snake_case. */
import { Type } from '@skein/core';

export default {
  kind: 'processor',
  type: 'Bad-Type',
  description: 'Has a type that is not lowercase snake_case.',
  stability: 'development',
  configSchema: Type.Object({}),
  create: () => ({ consume: async () => {} }),
};
