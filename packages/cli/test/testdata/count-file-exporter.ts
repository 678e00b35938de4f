/**
 * Test-only exporter (`count_file`): appends each batch's data point count, one per line, to
 * the file in its config, so a test in another process can see what was exported and when.
 * `hang_on_shutdown` makes its shutdown never finish, to test the shutdown grace period.
 */
import { appendFileSync } from 'node:fs';
import { countDataPoints, defineExporter, Type } from '@skein/core';

export default defineExporter({
  type: 'count_file',
  description: 'Appends the data point count of each batch to a file (tests).',
  stability: 'development',
  configSchema: Type.Object(
    {
      path: Type.String({ minLength: 1, description: 'The file to append to.' }),
      hang_on_shutdown: Type.Boolean({ default: false, description: 'Never finish shutting down.' }),
    },
    { additionalProperties: false },
  ),
  create({ config }) {
    return {
      async consume(batch) {
        appendFileSync(config.path, `${countDataPoints(batch)}\n`);
      },
      shutdown() {
        if (config.hang_on_shutdown) return new Promise<void>(() => {});
      },
    };
  },
});
