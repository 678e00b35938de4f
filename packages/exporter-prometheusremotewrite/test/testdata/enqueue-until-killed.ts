/**
 * Child process of the crash test: pushes requests into a persistent queue as fast as it can and
 * prints `pushed <i>` once each push has returned, until the test kills it with SIGKILL. Push i
 * is one request formed as the exporter forms them (encoded as remote write 1.0, snappy
 * compressed), holding one series `crash_test{shard="<i % 2>"}` with one sample of value i at
 * timestamp i, queued for shard i % 2.
 *
 *   node enqueue-until-killed.ts <directory> <capacity>
 *
 * It stops by itself after 100,000 pushes or 20 seconds, so it cannot outlive a failed test.
 */
import { writeSync } from 'node:fs';
import { requestBuilder } from '../../src/encode.ts';
import { PersistentQueue } from '../../src/persistent-queue.ts';
import { formRequests } from '../../src/requests.ts';

const [directory, capacity] = process.argv.slice(2);
const queue = new PersistentQueue({ directory: directory!, capacity: Number(capacity), shards: 2 });
const builder = requestBuilder('v1');
const deadline = Date.now() + 20_000;
for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
  const shard = i % 2;
  const series = {
    labels: [
      { name: '__name__', value: 'crash_test' },
      { name: 'shard', value: String(shard) },
    ],
    samples: [{ timestampMs: i, value: i }],
    histograms: [],
    type: 'gauge' as const,
    help: 'requests pushed before the kill',
    unit: '',
    familyName: 'crash_test',
  };
  queue.push(formRequests(builder, [series], { maxSamples: 2000, maxBytes: 3 << 20 }).map((r) => ({ ...r, shard, points: 1 })));
  // A blocking write: the line is out before the next push starts, and once the pipe is full the
  // loop waits for the test to read, so it cannot run far ahead of what the test has seen.
  writeSync(1, `pushed ${i}\n`);
}
queue.close();
