import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

function skein(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

test('configs/bridge.yaml passes skein validate', () => {
  const r = skein('validate', '--config', 'configs/bridge.yaml');
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});

test('config problems name the key, with Prometheus\'s rules', () => {
  const file = `${TESTDATA}invalid.yaml`;
  const r = skein('validate', '--config', file);
  assert.equal(r.status, 1);
  assert.deepEqual(r.stderr.trim().split('\n'), [
    `${file}:6:9: receivers::prometheus::scrape_configs::0::scrape_timeout: must be at most scrape_interval (10s), got 20s`,
    `${file}:8:27: receivers::prometheus::scrape_configs::0::relabel_configs::0::modulus: must be set and more than 0 for action hashmod`,
    `${file}:8:64: receivers::prometheus::scrape_configs::0::relabel_configs::1::regex: must be a valid regular expression, got "(": unterminated group`,
    `${file}:9:9: receivers::prometheus::scrape_configs::1::job_name: must be unique, "a" is also scrape_configs[0]`,
    `${file}:10:9: receivers::prometheus::scrape_configs::1::tls_config: is set but scheme is http; use scheme: https`,
    `${file}:12:9: receivers::prometheus::scrape_configs::2: has no targets: add static_configs or file_sd_configs`,
    '6 errors',
  ]);
});
