import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition, parseSeries, formatOf, type ExpositionFormat } from '../src/index.ts';

interface Seen {
  kind: 'help' | 'type' | 'unit' | 'sample';
  name: string;
  text?: string;
  labels?: string[];
  value?: number;
  ts?: number;
  exemplar?: { labels: string[]; value: number; timestampMs: number };
}

function parse(text: string | Uint8Array | Uint8Array[], format: ExpositionFormat = 'text'): Seen[] {
  const out: Seen[] = [];
  parseExposition(text, format, {
    help: (name, t) => out.push({ kind: 'help', name, text: t }),
    type: (name, t) => out.push({ kind: 'type', name, text: t }),
    unit: (name, t) => out.push({ kind: 'unit', name, text: t }),
    sample: (series, nameEnd, value, ts, exemplar) => {
      const s = parseSeries(series, nameEnd);
      const seen: Seen = { kind: 'sample', name: s.name, labels: s.labels, value };
      if (!Number.isNaN(ts)) seen.ts = ts;
      if (exemplar) seen.exemplar = exemplar;
      out.push(seen);
    },
  });
  return out;
}

const samples = (text: string | Uint8Array | Uint8Array[], format?: ExpositionFormat) => parse(text, format).filter((s) => s.kind === 'sample');

test('text format: HELP, TYPE, labels, values and millisecond timestamps', () => {
  const text = [
    '# HELP http_requests_total The total number of HTTP requests.',
    '# TYPE http_requests_total counter',
    'http_requests_total{method="post",code="200"} 1027 1395066363000',
    'http_requests_total{method="post",code="400"}    3   1395066363000',
    '',
    '# A normal comment.',
    '#HELP is a comment too',
    '# HELPING is a comment too',
    'metric_without_timestamp_and_labels 12.47',
    '  indented{a="1"} 1',
    'spaced { a = "1" , b="2" , } 2',
    'tabbed\t3\t17',
    'colon:name 4',
    'untyped_metric -0.5e-3',
  ].join('\n');
  assert.deepEqual(parse(text), [
    { kind: 'help', name: 'http_requests_total', text: 'The total number of HTTP requests.' },
    { kind: 'type', name: 'http_requests_total', text: 'counter' },
    { kind: 'sample', name: 'http_requests_total', labels: ['method', 'post', 'code', '200'], value: 1027, ts: 1395066363000 },
    { kind: 'sample', name: 'http_requests_total', labels: ['method', 'post', 'code', '400'], value: 3, ts: 1395066363000 },
    { kind: 'sample', name: 'metric_without_timestamp_and_labels', labels: [], value: 12.47 },
    { kind: 'sample', name: 'indented', labels: ['a', '1'], value: 1 },
    { kind: 'sample', name: 'spaced', labels: ['a', '1', 'b', '2'], value: 2 },
    { kind: 'sample', name: 'tabbed', labels: [], value: 3, ts: 17 },
    { kind: 'sample', name: 'colon:name', labels: [], value: 4 },
    { kind: 'sample', name: 'untyped_metric', labels: [], value: -0.0005 },
  ]);
});

test('text format: escapes in label values and HELP; NaN and infinities in any case', () => {
  const text = [
    '# HELP esc A \\\\ backslash and a \\n newline; \\" stays.',
    'esc{path="C:\\\\DIR\\\\FILE.TXT",q="say \\"hi\\"",nl="a\\nb",other="\\t",brace="}"} 1',
    'nan NaN',
    'pinf +Inf',
    'ninf -Inf',
    'inf2 inf',
    'inf3 +infinity',
    'nan2 nan',
  ].join('\n');
  const out = parse(text);
  assert.deepEqual(out[0], { kind: 'help', name: 'esc', text: 'A \\ backslash and a \n newline; \\" stays.' });
  assert.deepEqual(out[1]!.labels, ['path', 'C:\\DIR\\FILE.TXT', 'q', 'say "hi"', 'nl', 'a\nb', 'other', '\\t', 'brace', '}']);
  const values = out.slice(2).map((s) => s.value);
  assert.ok(Number.isNaN(values[0]));
  assert.deepEqual(values.slice(1, 5), [Infinity, -Infinity, Infinity, Infinity]);
  assert.ok(Number.isNaN(values[5]));
});

test('text format: untyped is reported as unknown; histogram and summary types', () => {
  const out = parse('# TYPE a untyped\n# TYPE b histogram\n# TYPE c summary\n# TYPE d gauge\n');
  assert.deepEqual(
    out.map((o) => o.text),
    ['unknown', 'histogram', 'summary', 'gauge'],
  );
});

test('text format: a last line without a newline and CRLF line ends are read', () => {
  assert.deepEqual(samples('a 1\r\nb{x="y"} 2\r\nc 3'), [
    { kind: 'sample', name: 'a', labels: [], value: 1 },
    { kind: 'sample', name: 'b', labels: ['x', 'y'], value: 2 },
    { kind: 'sample', name: 'c', labels: [], value: 3 },
  ]);
});

test('text format errors name the line and show it', () => {
  const cases: [string, string][] = [
    ['a 1\nb{x="1" 2\n', 'line 2: unterminated label set: missing "}": "b{x=\\"1\\" 2"'],
    ['a 1\n\nb{x=1} 2\n', 'line 3: expected a quoted value for label x: "b{x=1} 2"'],
    ['a{x="1",x="2"} 1\n', 'line 1: label x is given twice: "a{x=\\"1\\",x=\\"2\\"} 1"'],
    ['a\n', 'line 1: expected a space and a value after the series: "a"'],
    ['a abc\n', 'line 1: invalid value "abc": "a abc"'],
    ['a 0x10\n', 'line 1: invalid value "0x10": "a 0x10"'],
    ['a 1 1.5\n', 'line 1: invalid timestamp "1.5": "a 1 1.5"'],
    ['a 1 2 3\n', 'line 1: unexpected text after the value and timestamp: "a 1 2 3"'],
    ['1a 1\n', 'line 1: expected a metric name: "1a 1"'],
    ['{x="1"} 1\n', 'line 1: expected a metric name: "{x=\\"1\\"} 1"'],
    ['# TYPE a countr\n', 'line 1: unknown metric type "countr" (counter, gauge, histogram, summary or untyped): "# TYPE a countr"'],
    ['# TYPE 9a counter\n', 'line 1: expected a metric name after TYPE: "# TYPE 9a counter"'],
    ['a{x="1"}} 1\n', 'line 1: expected a space and a value after the series: "a{x=\\"1\\"}} 1"'],
    ['a{x="1" y="2"} 1\n', 'line 1: expected "," or "}" after a label value: "a{x=\\"1\\" y=\\"2\\"} 1"'],
    ['a{x="unterminated} 1\n', 'line 1: unterminated label value: "a{x=\\"unterminated} 1"'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => samples(text), (err: Error) => {
      assert.equal(err.name, 'ExpositionError');
      assert.equal(err.message, message);
      return true;
    }, text);
  }
});

test('OpenMetrics: UNIT, seconds timestamps, exemplars, _created, info, stateset, gaugehistogram, # EOF', () => {
  const text = [
    '# TYPE acme_http_router_request_seconds summary',
    '# UNIT acme_http_router_request_seconds seconds',
    '# HELP acme_http_router_request_seconds Latency \\"quoted\\" \\\\ \\n.',
    'acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32 1520879607.789',
    'acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0 1520879607.0009',
    'acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0',
    '# TYPE foo histogram',
    'foo_bucket{le="0.01"} 0',
    'foo_bucket{le="1.0"} 1 # {trace_id="KOO5S4vxi0o"} 0.67 1520879607.789',
    'foo_bucket{le="+Inf"} 17 # {} 11',
    'foo_count 17',
    '# TYPE build info',
    'build_info{version="1.0"} 1',
    '# TYPE st stateset',
    'st{st="a"} 1',
    'st{st="b"} 0',
    '# TYPE gh gaugehistogram',
    'gh_bucket{le="+Inf"} 3',
    'gh_gcount 3',
    'gh_gsum 1.5',
    '# EOF',
    '',
  ].join('\n');
  const out = parse(text, 'openmetrics');
  assert.deepEqual(out.slice(0, 6), [
    { kind: 'type', name: 'acme_http_router_request_seconds', text: 'summary' },
    { kind: 'unit', name: 'acme_http_router_request_seconds', text: 'seconds' },
    { kind: 'help', name: 'acme_http_router_request_seconds', text: 'Latency "quoted" \\ \n.' },
    { kind: 'sample', name: 'acme_http_router_request_seconds_sum', labels: ['path', '/api/v1', 'method', 'GET'], value: 9036.32, ts: 1520879607789 },
    { kind: 'sample', name: 'acme_http_router_request_seconds_count', labels: ['path', '/api/v1', 'method', 'GET'], value: 807283, ts: 1520879607000 },
    { kind: 'sample', name: 'acme_http_router_request_seconds_created', labels: ['path', '/api/v1', 'method', 'GET'], value: 1605281325 },
  ]);
  assert.deepEqual(out[8], {
    kind: 'sample',
    name: 'foo_bucket',
    labels: ['le', '1.0'],
    value: 1,
    exemplar: { labels: ['trace_id', 'KOO5S4vxi0o'], value: 0.67, timestampMs: 1520879607789 },
  });
  assert.deepEqual(out[9]!.exemplar, { labels: [], value: 11, timestampMs: NaN });
  assert.deepEqual(
    out.filter((o) => o.kind === 'type').map((o) => o.text),
    ['summary', 'histogram', 'info', 'stateset', 'gaugehistogram'],
  );
  assert.equal(out.filter((o) => o.kind === 'sample').length, 13);
});

test('OpenMetrics errors name the line', () => {
  const cases: [string, string][] = [
    ['a 1\n', 'line 1: an OpenMetrics exposition must end with "# EOF": "a 1"'],
    ['a 1\n# EOF\nb 2\n', 'line 3: unexpected data after "# EOF": "b 2"'],
    ['a 1\n\n# EOF\n', 'line 2: empty line (OpenMetrics allows none): ""'],
    ['# a comment\n# EOF\n', 'line 1: expected "# HELP", "# TYPE", "# UNIT" or "# EOF": "# a comment"'],
    ['# TYPE a untyped\n# EOF\n', 'line 1: unknown metric type "untyped" (counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown): "# TYPE a untyped"'],
    ['# UNIT a_bytes seconds\n# EOF\n', 'line 1: unit "seconds" is not a suffix of the metric name: "# UNIT a_bytes seconds"'],
    ['a  1\n# EOF\n', 'line 1: expected a value after the series: "a  1"'],
    ['a 1 # {x="y"}\n# EOF\n', 'line 1: invalid exemplar: expected a space and a value after the exemplar labels: "a 1 # {x=\\"y\\"}"'],
    ['a 1 abc\n# EOF\n', 'line 1: invalid timestamp "abc": "a 1 abc"'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => samples(text, 'openmetrics'), { name: 'ExpositionError', message }, text);
  }
});

test('the Content-Type picks the parser; anything but OpenMetrics is the text format', () => {
  assert.equal(formatOf('application/openmetrics-text; version=1.0.0; charset=utf-8'), 'openmetrics');
  assert.equal(formatOf('text/plain; version=0.0.4; charset=utf-8'), 'text');
  assert.equal(formatOf('application/json'), 'text');
  assert.equal(formatOf(undefined), 'text');
});

test('an empty body is an empty scrape', () => {
  assert.deepEqual(parse(''), []);
  assert.deepEqual(parse('\n\n  \n'), []);
  assert.deepEqual(parse('# EOF\n', 'openmetrics'), []);
});

test('a body of bytes parses as its UTF-8 text, however long, lines and errors numbered across the whole body', () => {
  // Several hundred KiB: decoded piece by piece, with multi-byte characters and CRLF line ends throughout.
  const lines: string[] = ['# HELP greetings_total Gr\u00fc\u00dfe \u2603.', '# TYPE greetings_total counter'];
  for (let i = 0; i < 20_000; i++) lines.push(`greetings_total{who="\u2603 ${i} \u{1F600}",n="${'x'.repeat(i % 7)}"} ${i}.5${i % 3 === 0 ? '\r' : ''}`);
  const text = `${lines.join('\n')}\n`;
  assert.ok(Buffer.byteLength(text) > 512 * 1024);
  assert.deepEqual(parse(Buffer.from(text)), parse(text));
  // As chunks cut anywhere: inside characters and lines, right after newlines, empty, one byte.
  const bytes = Buffer.from(text);
  const chunks: Uint8Array[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const size = [1, 0, 7, 65_536, 3, 100_000, 2][k % 7]!;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  assert.deepEqual(parse(chunks), parse(text));
  const afterNewline = bytes.indexOf(10) + 1;
  assert.deepEqual(parse([bytes.subarray(0, afterNewline), bytes.subarray(afterNewline)]), parse(text));
  assert.deepEqual(parse(Buffer.from(`${text}# EOF\n`), 'openmetrics').length, 20_002);

  const bad = `${text}oops{\n`;
  assert.throws(() => parse(Buffer.from(bad)), { name: 'ExpositionError', message: `line ${lines.length + 1}: unterminated label set: missing "}": "oops{"` });
  assert.throws(() => parse(Buffer.from(text), 'openmetrics'), (err: Error) => err.message.startsWith(`line ${lines.length}: an OpenMetrics exposition must end with "# EOF": "greetings_total{who=`));
  assert.throws(() => parse(Buffer.from(`a 1\n# EOF\n${text}`), 'openmetrics'), { message: 'line 3: unexpected data after "# EOF": "# HELP greetings_total Gr\u00fc\u00dfe \u2603."' });
  assert.deepEqual(parse(Buffer.alloc(0)), []);
});

test('decimal values read exactly as the number their text names, -0 and the longest fast forms included', () => {
  const texts = ['0', '-0', '-0.0', '007', '0.1', '0.3', '61.375', '-2.5', '123456789012345', '0.123456789012345', '9007199.254740993', '1234567890123456', '5.', '.5', '-.5', '1e3', '1.5E-7', '+1.5'];
  let x = 12345;
  for (let i = 0; i < 2000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const digits = String(x).padStart(10, '0');
    const cut = 1 + (x % 9);
    texts.push(`${x % 2 === 0 ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}${x % 5 === 0 ? digits.slice(0, 5) : ''}`);
  }
  for (const text of texts) {
    const [s] = samples(`a ${text}\n`);
    assert.ok(Object.is(s!.value, Number(text)), `${text}: ${s!.value} !== ${Number(text)}`);
  }
  assert.throws(() => samples('a 0x10\n'), { name: 'ExpositionError' });
  assert.throws(() => samples('a 1..2\n'), { name: 'ExpositionError' });
});
