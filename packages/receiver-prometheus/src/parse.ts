/**
 * The exposition parser: Prometheus text format 0.0.4 and OpenMetrics 1.0, line by line.
 *
 * It is the hot path of a scrape, so the loop over lines does as little as it can: it finds
 * where a sample's series (name and labels, as written) ends and parses the value and the
 * timestamp. The labels themselves are parsed by `parseSeries`, which the scrape calls only for
 * series text it has not seen before (the scrape cache, as in Prometheus).
 *
 * Errors are ExpositionErrors naming the line: `line 12: expected a value after the series:
 * "foo{a=\"1\"}"`.
 */

export type ExpositionFormat = 'text' | 'openmetrics';

/** Metric family types; the text format's `untyped` is `unknown`. */
export type FamilyType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset' | 'unknown';

// Maps, so that a type such as `constructor` cannot find an object's prototype.
const TEXT_TYPES: ReadonlyMap<string, FamilyType> = new Map([
  ['counter', 'counter'],
  ['gauge', 'gauge'],
  ['histogram', 'histogram'],
  ['summary', 'summary'],
  ['untyped', 'unknown'],
]);

const OPENMETRICS_TYPES: ReadonlyMap<string, FamilyType> = new Map(
  (['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'] as const).map((t) => [t, t]),
);

export interface ParsedExemplar {
  /** Label pairs, in order: name, value, name, value, … */
  labels: string[];
  value: number;
  /** Milliseconds since the epoch; NaN when the exemplar has none. */
  timestampMs: number;
}

/** What the parser reports, in the order of the exposition. */
export interface ExpositionHandler {
  help(name: string, text: string): void;
  type(name: string, type: FamilyType): void;
  unit(name: string, unit: string): void;
  /**
   * One sample. `series` is its name and labels exactly as written (the cache key), `nameEnd`
   * where the name ends in it (-1 when `series` is the string `expect` returned); `timestampMs`
   * is NaN when the line has none.
   */
  sample(series: string, nameEnd: number, value: number, timestampMs: number, exemplar: ParsedExemplar | undefined): void;
  /**
   * The series text the next sample probably has (the one at the same place in the last
   * scrape). When the line starts with it, the parser passes that very string to `sample`
   * without scanning the labels or cutting a new string: a target's exposition rarely changes.
   */
  expect?(): string | undefined;
}

/** A problem with the exposition, with the line it is on (1-based). */
export class ExpositionError extends Error {
  readonly line: number;
  constructor(line: number, reason: string, text: string) {
    super(`line ${line}: ${reason}: ${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)}`);
    this.name = 'ExpositionError';
    this.line = line;
  }
}

/** A problem inside one series' text; the parser adds the line. */
export class SeriesSyntaxError extends Error {}

const SPACE = 32;
const TAB = 9;
const HASH = 35;
const BRACE_OPEN = 123;
const BRACE_CLOSE = 125;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const EQUALS = 61;
const CR = 13;

/** `[a-zA-Z0-9_:]` */
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 58) || c === 95;
}

function isLabelStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

function isMetricName(s: string): boolean {
  if (s.length === 0) return false;
  const c = s.charCodeAt(0);
  if (c >= 48 && c <= 57) return false;
  for (let i = 0; i < s.length; i++) if (!isNameChar(s.charCodeAt(i))) return false;
  return true;
}

const SPECIAL_FLOATS: ReadonlyMap<string, number> = new Map([
  ['nan', NaN],
  ['inf', Infinity],
  ['+inf', Infinity],
  ['-inf', -Infinity],
  ['infinity', Infinity],
  ['+infinity', Infinity],
  ['-infinity', -Infinity],
]);

/**
 * A float as Go's strconv.ParseFloat reads it (what Prometheus uses): decimal and exponent
 * forms, `NaN` and `±Inf` in any case; undefined for anything else.
 */
export function parseFloatToken(s: string): number | undefined {
  const v = +s;
  if (v === v) {
    // `+` also reads 0x…, 0b…, 0o… and "" as numbers; Go's ParseFloat does not.
    if (s.length === 0) return undefined;
    const c = s.charCodeAt(s.length > 1 && (s.charCodeAt(0) === 43 || s.charCodeAt(0) === 45) ? 2 : 1);
    if (c === 120 || c === 88 || c === 98 || c === 66 || c === 111 || c === 79) return undefined;
    return v;
  }
  return s.length <= 9 ? SPECIAL_FLOATS.get(s.toLowerCase()) : undefined;
}

/** Unescapes a label value: `\\`, `\"` and `\n`; any other backslash stays as written (as Prometheus does). */
export function unescapeLabelValue(raw: string): string {
  if (raw.indexOf('\\') < 0) return raw;
  let out = '';
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw.charCodeAt(i) !== BACKSLASH || i + 1 >= raw.length) continue;
    const next = raw.charCodeAt(i + 1);
    const replacement = next === BACKSLASH ? '\\' : next === QUOTE ? '"' : next === 110 ? '\n' : undefined;
    if (replacement === undefined) continue;
    out += raw.slice(from, i) + replacement;
    i++;
    from = i + 1;
  }
  return out + raw.slice(from);
}

/** Text-format HELP: `\\` and `\n` only. */
function unescapeHelp(raw: string): string {
  if (raw.indexOf('\\') < 0) return raw;
  return raw.replace(/\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

function skipSpace(text: string, i: number, end: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB) break;
    i++;
  }
  return i;
}

/**
 * The index just past the closing quote of the string starting at `i` (a `"`), or -1 when the
 * line ends first.
 */
function skipQuoted(text: string, i: number, end: number): number {
  for (i++; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return -1;
}

export interface ParsedSeries {
  name: string;
  /** Label pairs in written order: name, value, name, value, … (values unescaped). */
  labels: string[];
}

/**
 * The name and labels of one series as written (`foo{a="1",b="2"}`). Throws a
 * SeriesSyntaxError for bad syntax or a label name given twice.
 */
export function parseSeries(series: string, nameEnd: number): ParsedSeries {
  const name = series.slice(0, nameEnd);
  const labels: string[] = [];
  const end = series.length;
  let i = skipSpace(series, nameEnd, end);
  if (i >= end) return { name, labels };
  if (series.charCodeAt(i) !== BRACE_OPEN) throw new SeriesSyntaxError('expected "{" or a value after the metric name');
  i = parseLabelPairs(series, i + 1, end, labels);
  if (skipSpace(series, i, end) !== end) throw new SeriesSyntaxError('unexpected text after the labels');
  return { name, labels };
}

/** Parses `name="value", …}` from `i` (just past the `{`) into `out`; returns the index past the `}`. */
function parseLabelPairs(text: string, i: number, end: number, out: string[]): number {
  for (;;) {
    i = skipSpace(text, i, end);
    if (i >= end) throw new SeriesSyntaxError('unterminated label set: missing "}"');
    let c = text.charCodeAt(i);
    if (c === BRACE_CLOSE) return i + 1;
    if (!isLabelStart(c)) throw new SeriesSyntaxError('expected a label name');
    const nameStart = i;
    while (i < end && isLabelChar(text.charCodeAt(i))) i++;
    const labelName = text.slice(nameStart, i);
    i = skipSpace(text, i, end);
    if (text.charCodeAt(i) !== EQUALS) throw new SeriesSyntaxError(`expected "=" after label name ${labelName}`);
    i = skipSpace(text, i + 1, end);
    if (text.charCodeAt(i) !== QUOTE) throw new SeriesSyntaxError(`expected a quoted value for label ${labelName}`);
    const close = skipQuoted(text, i, end);
    if (close < 0) throw new SeriesSyntaxError(`unterminated value of label ${labelName}`);
    for (let k = 0; k < out.length; k += 2) {
      if (out[k] === labelName) throw new SeriesSyntaxError(`label ${labelName} is given twice`);
    }
    out.push(labelName, unescapeLabelValue(text.slice(i + 1, close - 1)));
    i = skipSpace(text, close, end);
    c = text.charCodeAt(i);
    if (c === COMMA) i++;
    else if (c !== BRACE_CLOSE) throw new SeriesSyntaxError('expected "," or "}" after a label value');
  }
}

/**
 * Bodies are decoded to text this many bytes at a time (to the next line end): a whole scrape as
 * one string would go straight to V8's old generation and bring its next full collection closer,
 * where pieces die young.
 */
const PIECE_BYTES = 64 * 1024;
const NEWLINE = 10;

/**
 * Parses an exposition, calling `h` for each HELP, TYPE, UNIT and sample in order. Throws an
 * ExpositionError naming the first bad line; the handler may throw a SeriesSyntaxError from
 * `sample`, which is reported with the line too. A body of bytes (or of chunks of bytes, as they
 * came off the network) is read as UTF-8.
 */
export function parseExposition(body: string | Uint8Array | readonly Uint8Array[], format: ExpositionFormat, h: ExpositionHandler): void {
  const state: LineState = { om: format === 'openmetrics', line: 0, eof: false, last: '' };
  if (typeof body === 'string') {
    parseLines(body, state, h);
    state.last = body;
  } else {
    parseChunks(body instanceof Uint8Array ? [body] : body, state, h);
  }
  if (state.om && !state.eof) throw new ExpositionError(state.line, 'an OpenMetrics exposition must end with "# EOF"', lastLine(state.last));
}

/**
 * Decodes and parses chunks a line-aligned piece at a time; a line cut by a chunk's end is
 * joined with the start of the next (UTF-8 never has a newline byte inside a character, so a
 * piece that ends after a newline decodes on its own).
 */
function parseChunks(chunks: readonly Uint8Array[], state: LineState, h: ExpositionHandler): void {
  let carry: Buffer | undefined;
  for (const chunk of chunks) {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (carry !== undefined) {
      const nl = buf.indexOf(NEWLINE);
      if (nl < 0) {
        carry = Buffer.concat([carry, buf]);
        continue;
      }
      parsePieces(Buffer.concat([carry, buf.subarray(0, nl + 1)]), state, h);
      carry = undefined;
      buf = buf.subarray(nl + 1);
    }
    const whole = buf.lastIndexOf(NEWLINE) + 1;
    parsePieces(buf.subarray(0, whole), state, h);
    if (whole < buf.length) carry = buf.subarray(whole);
  }
  if (carry !== undefined) parsePieces(carry, state, h);
}

/** `buf` (whole lines, the last maybe without its newline) as text of about PIECE_BYTES at a time. */
function parsePieces(buf: Buffer, state: LineState, h: ExpositionHandler): void {
  for (let from = 0; from < buf.length; ) {
    const nl = buf.length - from > PIECE_BYTES ? buf.indexOf(NEWLINE, from + PIECE_BYTES) : -1;
    const to = nl < 0 ? buf.length : nl + 1;
    state.last = buf.toString('utf8', from, to);
    parseLines(state.last, state, h);
    from = to;
  }
}

/** What parsing carries from one piece of an exposition to the next. */
interface LineState {
  om: boolean;
  /** Lines read so far. */
  line: number;
  /** `# EOF` was read. */
  eof: boolean;
  /** The last piece parsed, for the message about a missing `# EOF`. */
  last: string;
}

/** Parses whole lines (the last may lack its newline). */
function parseLines(text: string, state: LineState, h: ExpositionHandler): void {
  const om = state.om;
  const n = text.length;
  let pos = 0;
  let line = state.line;
  let eof = state.eof;
  while (pos < n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    const start = pos;
    pos = end + 1;
    line++;
    if (!om && end > start && text.charCodeAt(end - 1) === CR) end--;
    if (eof) throw new ExpositionError(line, 'unexpected data after "# EOF"', text.slice(start, end));
    if (om) {
      if (start === end) throw new ExpositionError(line, 'empty line (OpenMetrics allows none)', '');
      if (text.charCodeAt(start) === HASH) {
        eof = openMetricsComment(text, start, end, line, h);
        continue;
      }
      sampleLine(text, start, end, line, true, h);
      continue;
    }
    const first = skipSpace(text, start, end);
    if (first === end) continue;
    if (text.charCodeAt(first) === HASH) {
      textComment(text, first, end, line, h);
      continue;
    }
    sampleLine(text, first, end, line, false, h);
  }
  state.line = line;
  state.eof = eof;
}

function lastLine(text: string): string {
  const trimmed = text.endsWith('\n') ? text.slice(0, -1) : text;
  return trimmed.slice(trimmed.lastIndexOf('\n') + 1);
}

/** `# HELP name text`, `# TYPE name type`; any other comment is ignored. */
function textComment(text: string, start: number, end: number, line: number, h: ExpositionHandler): void {
  let i = start + 1;
  const afterHash = skipSpace(text, i, end);
  if (afterHash === i) return; // `#foo`: a comment
  i = afterHash;
  const word = text.slice(i, i + 4);
  if (word !== 'HELP' && word !== 'TYPE') return;
  i += 4;
  const afterWord = skipSpace(text, i, end);
  if (afterWord === i) return; // `# HELPING`: a comment
  i = afterWord;
  const nameStart = i;
  while (i < end && isNameChar(text.charCodeAt(i))) i++;
  const name = text.slice(nameStart, i);
  const whole = () => text.slice(start, end);
  if (!isMetricName(name)) throw new ExpositionError(line, `expected a metric name after ${word}`, whole());
  if (i < end && text.charCodeAt(i) !== SPACE && text.charCodeAt(i) !== TAB) {
    throw new ExpositionError(line, `expected a space after the metric name in ${word}`, whole());
  }
  const rest = text.slice(skipSpace(text, i, end), end);
  if (word === 'HELP') {
    h.help(name, unescapeHelp(rest));
    return;
  }
  const type = TEXT_TYPES.get(rest.trimEnd());
  if (type === undefined) throw new ExpositionError(line, `unknown metric type "${rest.trimEnd()}" (counter, gauge, histogram, summary or untyped)`, whole());
  h.type(name, type);
}

/** `# HELP`, `# TYPE`, `# UNIT` or `# EOF`; returns true for `# EOF`. */
function openMetricsComment(text: string, start: number, end: number, line: number, h: ExpositionHandler): boolean {
  const whole = () => text.slice(start, end);
  if (end - start === 5 && text.startsWith('# EOF', start)) return true;
  const word = text.slice(start, start + 7);
  if (word !== '# HELP ' && word !== '# TYPE ' && word !== '# UNIT ') {
    throw new ExpositionError(line, 'expected "# HELP", "# TYPE", "# UNIT" or "# EOF"', whole());
  }
  let i = start + 7;
  const nameStart = i;
  while (i < end && isNameChar(text.charCodeAt(i))) i++;
  const name = text.slice(nameStart, i);
  if (!isMetricName(name)) throw new ExpositionError(line, `expected a metric name after ${word.slice(2, 6)}`, whole());
  let rest = '';
  if (i < end) {
    if (text.charCodeAt(i) !== SPACE) throw new ExpositionError(line, `expected a space after the metric name`, whole());
    rest = text.slice(i + 1, end);
  }
  switch (word) {
    case '# HELP ':
      h.help(name, unescapeLabelValue(rest));
      break;
    case '# TYPE ': {
      const type = OPENMETRICS_TYPES.get(rest);
      if (type === undefined) {
        throw new ExpositionError(line, `unknown metric type "${rest}" (counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)`, whole());
      }
      h.type(name, type);
      break;
    }
    default:
      if (rest !== '' && !(name.endsWith(rest) && name.length > rest.length && name.charCodeAt(name.length - rest.length - 1) === 95)) {
        throw new ExpositionError(line, `unit "${rest}" is not a suffix of the metric name`, whole());
      }
      h.unit(name, rest);
  }
  return false;
}

/** Where the series text that starts at `start` ends: after the name and the `{…}`, if any. */
function seriesEnd(text: string, start: number, end: number, line: number, om: boolean): number {
  const whole = () => text.slice(start, end);
  let i = start;
  while (i < end && isNameChar(text.charCodeAt(i))) i++;
  if (i === start || (text.charCodeAt(start) >= 48 && text.charCodeAt(start) <= 57)) {
    throw new ExpositionError(line, 'expected a metric name', whole());
  }
  let j = om ? i : skipSpace(text, i, end);
  if (j < end && text.charCodeAt(j) === BRACE_OPEN) {
    // Find the closing brace, stepping over quoted values (which may hold `}`).
    j++;
    for (;;) {
      if (j >= end) throw new ExpositionError(line, 'unterminated label set: missing "}"', whole());
      const c = text.charCodeAt(j);
      if (c === QUOTE) {
        j = skipQuoted(text, j, end);
        if (j < 0) throw new ExpositionError(line, 'unterminated label value', whole());
        continue;
      }
      j++;
      if (c === BRACE_CLOSE) break;
    }
    i = j;
  }
  return i;
}

/** Exact powers of ten: every one up to 10^22 is a double. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The number in text[start, end): plain decimals of up to 15 digits (`123`, `-0.25`) are read
 * here, anything else by parseFloatToken; undefined when it is not a number. The digits make an
 * integer below 2^53 and the power of ten is exact, so one division rounds correctly: the same
 * double as parsing the text.
 */
function parseValue(text: string, start: number, end: number): number | undefined {
  const negative = text.charCodeAt(start) === 45;
  let i = negative ? start + 1 : start;
  let digits = 0;
  let point = -1;
  let m = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 && point < 0) {
      point = i;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) break;
    m = m * 10 + d;
    digits++;
  }
  if (i === end && digits > 0 && digits <= 15 && point !== end - 1 && point !== (negative ? start + 1 : start)) {
    const v = point < 0 ? m : m / POW10[end - 1 - point]!;
    return negative ? -v : v;
  }
  return parseFloatToken(text.slice(start, end));
}

function sampleLine(text: string, start: number, end: number, line: number, om: boolean, h: ExpositionHandler): void {
  let series: string | undefined = h.expect?.();
  let nameEnd = -1;
  let i = 0;
  if (series !== undefined && text.startsWith(series, start)) {
    i = start + series.length;
    const c = text.charCodeAt(i);
    if (i >= end || (c !== SPACE && (om || c !== TAB))) series = undefined;
  } else {
    series = undefined;
  }
  if (series === undefined) {
    i = seriesEnd(text, start, end, line, om);
    let n = start;
    while (n < i && isNameChar(text.charCodeAt(n))) n++;
    nameEnd = n - start;
    series = text.slice(start, i);
  }
  // The value, after one space (OpenMetrics) or any spaces and tabs (text).
  const c0 = text.charCodeAt(i);
  if (i >= end || (c0 !== SPACE && (om || c0 !== TAB))) throw new ExpositionError(line, 'expected a space and a value after the series', text.slice(start, end));
  let v = om ? i + 1 : skipSpace(text, i, end);
  const valueStart = v;
  while (v < end && text.charCodeAt(v) !== SPACE && text.charCodeAt(v) !== TAB) v++;
  if (v === valueStart) throw new ExpositionError(line, 'expected a value after the series', text.slice(start, end));
  const value = parseValue(text, valueStart, v);
  if (value === undefined) throw new ExpositionError(line, `invalid value "${text.slice(valueStart, v)}"`, text.slice(start, end));

  let timestampMs = NaN;
  let exemplar: ParsedExemplar | undefined;
  let t = om ? v : skipSpace(text, v, end);
  if (om && t < end) {
    if (text.charCodeAt(t) !== SPACE) throw new ExpositionError(line, 'expected a space after the value', text.slice(start, end));
    t++;
  }
  if (t < end && text.charCodeAt(t) !== HASH) {
    const tsStart = t;
    while (t < end && text.charCodeAt(t) !== SPACE && text.charCodeAt(t) !== TAB) t++;
    const token = text.slice(tsStart, t);
    timestampMs = om ? openMetricsTimestamp(token) : textTimestamp(token);
    if (Number.isNaN(timestampMs)) throw new ExpositionError(line, `invalid timestamp "${token}"`, text.slice(start, end));
    if (om) {
      if (t < end) {
        if (text.charCodeAt(t) !== SPACE) throw new ExpositionError(line, 'expected a space after the timestamp', text.slice(start, end));
        t++;
      }
    } else {
      t = skipSpace(text, t, end);
    }
  }
  if (t < end) {
    if (!om) throw new ExpositionError(line, 'unexpected text after the value and timestamp', text.slice(start, end));
    try {
      exemplar = parseExemplar(text, t, end);
    } catch (err) {
      if (err instanceof SeriesSyntaxError) throw new ExpositionError(line, `invalid exemplar: ${err.message}`, text.slice(start, end));
      throw err;
    }
  }
  try {
    h.sample(series, nameEnd, value, timestampMs, exemplar);
  } catch (err) {
    if (err instanceof SeriesSyntaxError) throw new ExpositionError(line, err.message, text.slice(start, end));
    throw err;
  }
}

/** Text format: integer milliseconds. */
function textTimestamp(token: string): number {
  return /^-?\d+$/.test(token) ? Number(token) : NaN;
}

/** OpenMetrics: seconds, maybe fractional; milliseconds truncated, as Prometheus does. */
function openMetricsTimestamp(token: string): number {
  const s = parseFloatToken(token);
  if (s === undefined || !Number.isFinite(s)) return NaN;
  return Math.trunc(s * 1000);
}

/** ` # {labels} value [timestamp]` from `i` (at the `#`). */
function parseExemplar(text: string, i: number, end: number): ParsedExemplar {
  if (!text.startsWith('# {', i)) throw new SeriesSyntaxError('expected "# {" to start an exemplar');
  const labels: string[] = [];
  i = parseLabelPairs(text, i + 3, end, labels);
  let runes = 0;
  for (let k = 0; k < labels.length; k++) runes += [...labels[k]!].length;
  if (runes > 128) throw new SeriesSyntaxError('exemplar labels are longer than 128 characters');
  if (text.charCodeAt(i) !== SPACE) throw new SeriesSyntaxError('expected a space and a value after the exemplar labels');
  const rest = text.slice(i + 1, end).split(' ');
  if (rest.length > 2) throw new SeriesSyntaxError('unexpected text after the exemplar');
  const value = parseFloatToken(rest[0]!);
  if (value === undefined) throw new SeriesSyntaxError(`invalid exemplar value "${rest[0]}"`);
  let timestampMs = NaN;
  if (rest.length === 2) {
    timestampMs = openMetricsTimestamp(rest[1]!);
    if (Number.isNaN(timestampMs)) throw new SeriesSyntaxError(`invalid exemplar timestamp "${rest[1]}"`);
  }
  return { labels, value, timestampMs };
}

/** The exposition format a response's Content-Type says; text for anything but OpenMetrics (as Prometheus does). */
export function formatOf(contentType: string | undefined): ExpositionFormat {
  return contentType !== undefined && contentType.trimStart().toLowerCase().startsWith('application/openmetrics-text') ? 'openmetrics' : 'text';
}
