import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatDuration,
  isDuration,
  isHostPort,
  isSize,
  parseDuration,
  parseHostPort,
  parseSize,
} from '../src/config/units.ts';

describe('parseDuration', () => {
  it('reads Go-style durations as milliseconds', () => {
    const cases: Array<[string, number]> = [
      ['0', 0],
      ['0s', 0],
      ['300ms', 300],
      ['1.5s', 1500],
      ['2m', 120_000],
      ['1h30m', 5_400_000],
      ['1h30m15s', 5_415_000],
      ['10us', 0.01],
      ['10µs', 0.01],
      ['10μs', 0.01],
      ['1500ns', 0.0015],
      ['.5s', 500],
      ['1.s', 1000],
      ['0.1h', 360_000],
      ['1m1m', 120_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it('throws a RangeError on anything else', () => {
    for (const text of ['', '1', '10', 's', '1S', '1 s', ' 1s', '1s ', '-1s', '+1s', '1d', '1.5', '1h-30m', '1..5s', 'Infinity', 'ms']) {
      assert.throws(() => parseDuration(text), RangeError, JSON.stringify(text));
      assert.equal(isDuration(text), false, JSON.stringify(text));
    }
    assert.throws(() => parseDuration('soon'), { name: 'RangeError', message: 'invalid duration "soon"; write e.g. "30s" or "1m30s"' });
  });

  it('isDuration agrees with parseDuration on good input', () => {
    for (const text of ['0', '30s', '1h30m', '250ms']) assert.equal(isDuration(text), true, text);
  });
});

describe('formatDuration', () => {
  it('writes the shortest form parseDuration reads back', () => {
    const cases: Array<[number, string]> = [
      [0, '0s'],
      [0.0005, '500ns'],
      [0.01, '10us'],
      [0.0015, '1.5us'],
      [1, '1ms'],
      [250, '250ms'],
      [1.5, '1.5ms'],
      [1000, '1s'],
      [1500, '1.5s'],
      [60_000, '1m'],
      [90_000, '1m30s'],
      [3_600_000, '1h'],
      [5_400_000, '1h30m'],
      [3_661_500, '1h1m1.5s'],
      [0.1 + 0.2, '300us'],
      [-1500, '-1.5s'],
    ];
    for (const [ms, text] of cases) {
      assert.equal(formatDuration(ms), text, String(ms));
      if (ms >= 0) assert.equal(parseDuration(text), Math.round(ms * 1e6) / 1e6, text);
    }
  });

  it('throws a RangeError for a value that is not finite', () => {
    assert.throws(() => formatDuration(Number.NaN), RangeError);
    assert.throws(() => formatDuration(Infinity), RangeError);
  });
});

describe('parseSize', () => {
  it('reads binary and decimal units as bytes', () => {
    const cases: Array<[string, number]> = [
      ['0', 0],
      ['512', 512],
      ['512B', 512],
      ['10KiB', 10 * 1024],
      ['10MiB', 10 * 1024 * 1024],
      ['1GiB', 1024 ** 3],
      ['2TiB', 2 * 1024 ** 4],
      ['10KB', 10_000],
      ['10MB', 10_000_000],
      ['1GB', 1_000_000_000],
      ['1TB', 1e12],
    ];
    for (const [text, bytes] of cases) {
      assert.equal(parseSize(text), bytes, text);
      assert.equal(isSize(text), true, text);
    }
  });

  it('is case-sensitive, takes no space, sign or fraction, and stays a safe integer', () => {
    for (const text of ['', '10mb', '10kib', '10Kib', '10 MiB', '-1', '1.5MiB', 'MiB', '10MiB ', '10k', '99999999999TiB']) {
      assert.throws(() => parseSize(text), RangeError, JSON.stringify(text));
      assert.equal(isSize(text), false, JSON.stringify(text));
    }
    assert.throws(() => parseSize('10mb'), { message: 'invalid size "10mb"; write e.g. "512KiB" or "10MiB"' });
  });
});

describe('isHostPort and parseHostPort', () => {
  it('accepts hostnames, IPv4, [IPv6] and an empty host', () => {
    const cases: Array<[string, string, number]> = [
      ['localhost:4318', 'localhost', 4318],
      ['collector.example.com:443', 'collector.example.com', 443],
      ['my-host-1:8080', 'my-host-1', 8080],
      ['0.0.0.0:4317', '0.0.0.0', 4317],
      ['127.0.0.1:0', '127.0.0.1', 0],
      ['10.1.2.3:65535', '10.1.2.3', 65535],
      ['[::1]:4318', '::1', 4318],
      ['[::]:4318', '::', 4318],
      ['[2001:db8::1]:80', '2001:db8::1', 80],
      [':4318', '0.0.0.0', 4318],
    ];
    for (const [text, host, port] of cases) {
      assert.equal(isHostPort(text), true, text);
      assert.deepEqual(parseHostPort(text), { host, port }, text);
    }
  });

  it('rejects a missing or out-of-range port, a bad host, and bare IPv6', () => {
    const bad = [
      '4318',
      '',
      'localhost',
      'localhost:',
      'localhost:65536',
      'localhost:123456',
      'localhost:-1',
      'localhost:http',
      'http://localhost:4318',
      '::1:4318',
      '[::1:4318',
      '[not-ip]:80',
      '[127.0.0.1]:80',
      '256.0.0.1:80',
      '10.0.0:80',
      '-host:80',
      'host-:80',
      'ho_st:80',
      'a..b:80',
      'host :80',
      'host:80 ',
    ];
    for (const text of bad) {
      assert.equal(isHostPort(text), false, JSON.stringify(text));
      assert.throws(() => parseHostPort(text), RangeError, JSON.stringify(text));
    }
    assert.throws(() => parseHostPort('4318'), { message: 'invalid address "4318"; write host:port, e.g. "0.0.0.0:4318"' });
  });
});
