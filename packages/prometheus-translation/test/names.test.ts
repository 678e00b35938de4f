import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMetricName, prometheusUnit, sanitizeLabelName, sanitizeMetricName, type PromType } from '../src/index.ts';

test('metric names get unit words and type suffixes by the compatibility rules', () => {
  const cases: [name: string, unit: string, kind: PromType, want: string][] = [
    ['http.server.duration', 's', 'histogram', 'http_server_duration_seconds'],
    ['rpc.latency', 'ms', 'histogram', 'rpc_latency_milliseconds'],
    ['http.requests', '{requests}', 'counter', 'http_requests_total'],
    ['system.network.io', 'By', 'counter', 'system_network_io_bytes_total'],
    ['process.memory', 'KiBy', 'gauge', 'process_memory_kibibytes'],
    ['system.memory.utilization', '1', 'gauge', 'system_memory_utilization_ratio'],
    // unit 1 on a counter means "a count of things", not a ratio
    ['queue.items', '1', 'counter', 'queue_items_total'],
    ['cpu.load', '%', 'gauge', 'cpu_load_percent'],
    ['vehicle.speed', 'km/h', 'gauge', 'vehicle_speed_km_per_hour'],
    ['net.throughput', 'By/s', 'gauge', 'net_throughput_bytes_per_second'],
    ['packets.rate', '{packets}/s', 'gauge', 'packets_rate_per_second'],
    ['room.temperature', 'Cel', 'gauge', 'room_temperature_celsius'],
    // already suffixed: not doubled
    ['process.cpu.time_seconds_total', 's', 'counter', 'process_cpu_time_seconds_total'],
    ['disk.usage_bytes', 'By', 'gauge', 'disk_usage_bytes'],
    ['cpu.utilization_ratio', '1', 'gauge', 'cpu_utilization_ratio'],
    // _total moves after the unit
    ['requests_total', 's', 'counter', 'requests_seconds_total'],
    // the unit has to be a suffix, not just somewhere in the name
    ['seconds.until.renewal', 's', 'gauge', 'seconds_until_renewal_seconds'],
    ['2xx.responses', '', 'counter', '_2xx_responses_total'],
    ['job:requests:rate5m', '', 'gauge', 'job:requests:rate5m'],
    ['a..b--c', 'unknownunit', 'gauge', 'a_b_c_unknownunit'],
    // add_metric_suffixes: false leaves names that are already Prometheus names alone
    ['node_cpu_seconds_total', 's', 'counter', 'node_cpu_seconds_total'],
    ['foo__bar:baz', '', 'gauge', 'foo__bar:baz'],
    ['http.server.duration', 's', 'histogram', 'http_server_duration'],
  ];
  for (const [i, [name, unit, kind, want]] of cases.entries()) {
    const addSuffixes = i < cases.length - 3;
    assert.equal(buildMetricName(name, unit, kind, addSuffixes), want, `${name} (${unit}, ${kind}, suffixes ${addSuffixes})`);
  }
});

test('units map to Prometheus words; annotations in braces are dropped', () => {
  assert.equal(prometheusUnit('s'), 'seconds');
  assert.equal(prometheusUnit('ns'), 'nanoseconds');
  assert.equal(prometheusUnit('MiBy'), 'mebibytes');
  assert.equal(prometheusUnit('{requests}'), '');
  assert.equal(prometheusUnit('1'), '');
  assert.equal(prometheusUnit('1/s'), 'per_second');
  assert.equal(prometheusUnit('By{transmitted}/s'), 'bytes_per_second');
  assert.equal(prometheusUnit('m/s'), 'meters_per_second');
  assert.equal(prometheusUnit('requests/mo'), 'requests_per_month');
  assert.equal(prometheusUnit(''), '');
});

test('sanitizeMetricName replaces runs of invalid characters, collapses _ and guards a leading digit', () => {
  assert.equal(sanitizeMetricName('http.server.duration'), 'http_server_duration');
  assert.equal(sanitizeMetricName('a__b___c'), 'a_b_c');
  assert.equal(sanitizeMetricName('(lambda).function'), '_lambda_function');
  assert.equal(sanitizeMetricName('9lives'), '_9lives');
  assert.equal(sanitizeMetricName('naïve.count'), 'na_ve_count');
  assert.equal(sanitizeMetricName('ns:metric_name'), 'ns:metric_name');
});

test('sanitizeLabelName replaces invalid characters, prefixes a leading digit with key_, keeps a leading _', () => {
  assert.equal(sanitizeLabelName('http.method'), 'http_method');
  assert.equal(sanitizeLabelName('0abc'), 'key_0abc');
  assert.equal(sanitizeLabelName('_private'), '_private');
  assert.equal(sanitizeLabelName('__meta_kubernetes'), '__meta_kubernetes');
  assert.equal(sanitizeLabelName('a-b c'), 'a_b_c');
  assert.equal(sanitizeLabelName('foo__bar'), 'foo__bar');
  // one code point, one underscore
  assert.equal(sanitizeLabelName('\u{1F642}x'), '_x');
  assert.equal(sanitizeLabelName('ns:name'), 'ns_name');
});
