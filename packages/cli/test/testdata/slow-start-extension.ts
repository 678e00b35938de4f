/**
 * Test-only extension (`slow_start`): its start logs "slow start waiting", then finishes only
 * once `release_file` exists, so a test can signal `skein run` while it is still starting.
 */
import { existsSync } from 'node:fs';
import { defineExtension, Type } from '@skein/core';

export default defineExtension({
  type: 'slow_start',
  description: 'Starts only once a file exists (tests).',
  stability: 'development',
  configSchema: Type.Object({ release_file: Type.String() }, { additionalProperties: false }),
  create({ config, logger }) {
    let poll: NodeJS.Timeout | undefined;
    return {
      start() {
        logger.info('slow start waiting');
        return new Promise<void>((resolve) => {
          poll = setInterval(() => {
            if (!existsSync(config.release_file)) return;
            clearInterval(poll);
            resolve();
          }, 20);
        });
      },
      shutdown() {
        clearInterval(poll);
      },
    };
  },
});
