/**
 * Process self-metrics: CPU, memory, heap, event-loop lag, uptime and build info, read at
 * collect time so that an idle registry costs nothing between scrapes.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { MetricsRegistry } from './registry.ts';

export interface ProcessMetricsOptions {
  /** Skein's version, the `version` label of `skein_build_info`. */
  version?: string;
}

/**
 * How often the event-loop monitor samples, in milliseconds. At 10 ms the monitor alone cost
 * about 0.5% of a core on an idle process (bench/probes); 20 ms halves that.
 */
const LAG_RESOLUTION_MS = 20;

/**
 * Registers the `skein_process_*` families and `skein_build_info` and refreshes them before
 * every exposition. Returns a function that stops the refreshing and the event-loop monitor.
 */
export function registerProcessMetrics(registry: MetricsRegistry, opts: ProcessMetricsOptions = {}): () => void {
  const cpu = registry.counter({
    name: 'skein_process_cpu_seconds_total',
    help: 'User and system CPU time spent by the process, in seconds.',
  });
  const rss = registry.gauge({
    name: 'skein_process_resident_memory_bytes',
    help: 'Resident set size of the process, in bytes.',
  });
  const heapUsed = registry.gauge({
    name: 'skein_process_heap_used_bytes',
    help: 'V8 heap in use, in bytes.',
  });
  const heapTotal = registry.gauge({
    name: 'skein_process_heap_total_bytes',
    help: 'V8 heap allocated, in bytes.',
  });
  const lagMean = registry.gauge({
    name: 'skein_process_event_loop_lag_seconds',
    help: 'Mean event-loop delay since the previous collection, in seconds.',
  });
  const lagP99 = registry.gauge({
    name: 'skein_process_event_loop_lag_p99_seconds',
    help: '99th percentile of the event-loop delay since the previous collection, in seconds.',
  });
  const uptime = registry.gauge({
    name: 'skein_process_uptime_seconds',
    help: 'Time since the process started, in seconds.',
  });
  const startTime = registry.gauge({
    name: 'skein_process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch, in seconds.',
  });
  const buildInfo = registry.gauge({
    name: 'skein_build_info',
    help: 'Always 1; the labels tell the Skein and Node.js versions.',
    labelNames: ['version', 'node_version'],
  });

  startTime.set(performance.timeOrigin / 1000);
  lagMean.set(0);
  lagP99.set(0);
  buildInfo.set(1, { version: opts.version ?? 'unknown', node_version: process.versions.node });

  // The monitor's timer is unref'd by Node, so it never keeps the process alive.
  const loopDelay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  loopDelay.enable();

  const stopCollecting = registry.onCollect(() => {
    const usage = process.cpuUsage();
    const cpuSeconds = (usage.user + usage.system) / 1e6;
    // The registry's counter only goes up, so add what is new since the value it holds; reading
    // the held value (not a local copy) keeps this right when registered twice.
    const delta = cpuSeconds - (registry.value('skein_process_cpu_seconds_total') ?? 0);
    if (delta > 0) cpu.inc(delta);

    const memory = process.memoryUsage();
    rss.set(memory.rss);
    heapUsed.set(memory.heapUsed);
    heapTotal.set(memory.heapTotal);
    uptime.set(process.uptime());

    // With no sample since the last reset (two collections within one resolution) keep the
    // previous values. Each sample is the time between two ticks, so subtract the tick interval.
    if (loopDelay.count > 0) {
      lagMean.set(lagSeconds(loopDelay.mean));
      lagP99.set(lagSeconds(loopDelay.percentile(99)));
    }
    loopDelay.reset();
  });

  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    stopCollecting();
    loopDelay.disable();
  };
}

function lagSeconds(delayNs: number): number {
  return Math.max(0, delayNs - LAG_RESOLUTION_MS * 1e6) / 1e9;
}
