/**
 * Test-only extension (`process_info`): logs, when it starts, the PID, the Node flags and V8's
 * heap limit of the process it runs in, so a test can see the flags `skein run` took effect.
 */
import { getHeapStatistics } from 'node:v8';
import { defineExtension, Type } from '@skein/core';

export default defineExtension({
  type: 'process_info',
  description: 'Logs the PID, Node flags and heap limit of the process at start (tests).',
  stability: 'development',
  configSchema: Type.Object({}, { additionalProperties: false }),
  create({ logger }) {
    return {
      start() {
        logger.info('process info', { pid: process.pid, exec_argv: process.execArgv, heap_size_limit: getHeapStatistics().heap_size_limit });
      },
    };
  },
});
