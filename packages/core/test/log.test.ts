import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type LoggerOptions } from '../src/log.ts';
import { SkeinError } from '../src/errors.ts';

function capture(opts: LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...opts, write: (line) => lines.push(line) });
  return { logger, lines };
}

test('json mode writes one parseable line with time, level, msg and fields', () => {
  const { logger, lines } = capture({ format: 'json' });
  logger.info('receiver started', { receiver: 'otlp', port: 4318 });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes('\n'), 'a log line must not contain a newline');
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.level, 'info');
  assert.equal(rec.msg, 'receiver started');
  assert.equal(rec.receiver, 'otlp');
  assert.equal(rec.port, 4318);
  assert.equal(typeof rec.time, 'string');
  assert.equal(new Date(rec.time).toISOString(), rec.time);
});

test('json mode serialises bigint and Error fields', () => {
  const { logger, lines } = capture({ format: 'json' });
  const err = new SkeinError('SKEIN_ERR_TELEMETRY_LISTEN', 'cannot serve self-metrics on 127.0.0.1:8888: address already in use');
  logger.error('start failed', { timeUnixNano: 1_700_000_000_000_000_123n, err });
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.timeUnixNano, '1700000000000000123');
  assert.deepEqual(rec.err, {
    message: 'cannot serve self-metrics on 127.0.0.1:8888: address already in use',
    name: 'SkeinError',
    code: 'SKEIN_ERR_TELEMETRY_LISTEN',
  });
});

test('lines below the level are dropped', () => {
  const { logger, lines } = capture({ format: 'json', level: 'warn' });
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).msg),
    ['w', 'e'],
  );
  assert.equal(logger.isLevelEnabled('info'), false);
  assert.equal(logger.isLevelEnabled('warn'), true);
  assert.equal(logger.isLevelEnabled('error'), true);
});

test('the default level is info', () => {
  const { logger, lines } = capture({ format: 'json' });
  logger.debug('hidden');
  logger.info('shown');
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).msg),
    ['shown'],
  );
});

test('a child adds its fields to every line, and call fields override them', () => {
  const { logger, lines } = capture({ format: 'json' });
  const child = logger.child({ component: 'exporter/folio' }).child({ pipeline: 'metrics/bridge' });
  child.info('sent', { points: 10 });
  child.info('overridden', { pipeline: 'metrics/fleet' });
  logger.info('parent');
  const [a, b, c] = lines.map((l) => JSON.parse(l));
  assert.equal(a.component, 'exporter/folio');
  assert.equal(a.pipeline, 'metrics/bridge');
  assert.equal(a.points, 10);
  assert.equal(b.pipeline, 'metrics/fleet');
  assert.equal(c.component, undefined, 'a child must not change its parent');
});

test('text mode writes a readable line', () => {
  const { logger, lines } = capture({ format: 'text' });
  logger.warn('queue full', { exporter: 'otlp', dropped: 3, reason: 'queue is full', err: new Error('no room') });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  queue full exporter=otlp dropped=3 reason="queue is full" err="no room"$/,
  );
});

test('auto format is text on a terminal and json elsewhere', () => {
  const tty = capture({ format: 'auto', isTTY: true });
  tty.logger.info('hello');
  assert.throws(() => JSON.parse(tty.lines[0]!));
  assert.match(tty.lines[0]!, / INFO  hello$/);

  const pipe = capture({ format: 'auto', isTTY: false });
  pipe.logger.info('hello');
  assert.equal(JSON.parse(pipe.lines[0]!).msg, 'hello');
});

test('fields named time, level or msg cannot overwrite the record', () => {
  const { logger, lines } = capture({ format: 'json' });
  logger.info('hello', { time: 'x', level: 'debug', msg: 'other', extra: 1 });
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.level, 'info');
  assert.equal(rec.msg, 'hello');
  assert.notEqual(rec.time, 'x');
  assert.equal(rec.extra, 1);
});
