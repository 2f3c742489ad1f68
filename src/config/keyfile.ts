/**
 * A GLib GKeyFile reader and writer, faithful enough that qemu-ga.conf (and qga.state) behave as
 * they do under qemu-ga: same accepted syntax, same rejections, same error texts (GLib 2.74, each
 * case checked against libglib itself).
 *
 * How GLib reads a file, and so how this module does:
 * - Lines end at `\n`; one `\r` right before it is dropped. A last line without `\n` still counts.
 * - Leading whitespace of a line is skipped. Empty lines and lines starting with `#` are comments.
 * - `[name]` opens a group; spaces or tabs may follow `]`. A name may not be empty or contain `[`,
 *   `]` or control characters. Re-opening a group continues it.
 * - `key=value`: whitespace before `=` and after it is trimmed; trailing whitespace of the value is
 *   KEPT. A key may not start with `=`, contain `[`/`]` (except one `[locale]` suffix), or begin or
 *   end with a space. A later duplicate key wins. A key before any group is an error.
 *   Translations (`key[locale]`) are checked, then dropped: GLib keeps only the current locale's,
 *   and nothing here reads one.
 * - Values are stored raw; escapes (`\s \n \t \r \\`) are decoded only when read as a string,
 *   and an unknown escape or a trailing backslash makes that read fail. Booleans and integers are
 *   read from the raw value.
 * - `Encoding=` in the first group must say UTF-8 (any case).
 * - GLib works on bytes: a NUL byte ends a line's content (C strings), a value must be valid UTF-8
 *   only when read as a string, and invalid bytes in messages become U+FFFD one byte at a time.
 *   So this module works on bytes too (as a latin1 "byte string", one char per byte).
 *
 * GLib messages carry no line number; KeyFileError keeps the 1-based line separately in `.line`.
 */
import { KeyFileMessages } from './messages';

/** GKeyFileError codes, in GLib's numbering order. */
export type KeyFileErrorCode =
  | 'UNKNOWN_ENCODING'
  | 'PARSE'
  | 'NOT_FOUND'
  | 'KEY_NOT_FOUND'
  | 'GROUP_NOT_FOUND'
  | 'INVALID_VALUE';

export class KeyFileError extends Error {
  readonly code: KeyFileErrorCode;
  /** 1-based line the error refers to, when there is one (GLib does not say). */
  readonly line: number | undefined;

  constructor(code: KeyFileErrorCode, message: string, line?: number) {
    super(message);
    this.name = 'KeyFileError';
    this.code = code;
    this.line = line;
  }
}

export interface KeyFile {
  /** Group names in first-appearance order. */
  groupNames(): readonly string[];
  hasGroup(group: string): boolean;
  hasKey(group: string, key: string): boolean;
  /** Key names of a group in first-appearance order. */
  keyNames(group: string): readonly string[];
  /** 1-based line of the definition that counts (the last one), if the key exists. */
  lineOf(group: string, key: string): number | undefined;
  /** g_key_file_get_value: the raw text after `=`, escapes undecoded. */
  getValue(group: string, key: string): string;
  /** g_key_file_get_string: UTF-8 checked, escapes decoded. */
  getString(group: string, key: string): string;
  /** g_key_file_get_boolean: `true`/`false`/`1`/`0`, trailing whitespace allowed, nothing else. */
  getBoolean(group: string, key: string): boolean;
  /** g_key_file_get_integer: strtol rules, range of a C int. */
  getInteger(group: string, key: string): number;
}

/** A value for formatKeyFile: strings are escaped as g_key_file_set_string does. */
export type KeyFileValue = string | boolean | number;

export interface KeyFileGroup {
  readonly name: string;
  readonly entries: ReadonlyArray<readonly [key: string, value: KeyFileValue]>;
}

// ---------------------------------------------------------------------------------------------
// Bytes and UTF-8, GLib style

/** One char per byte (latin1): how this module holds file content. */
type ByteString = string;

const toByteString = (data: string | Uint8Array): ByteString =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8').toString('latin1')
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');

/** Length of the well-formed, non-NUL UTF-8 sequence at `i`, or 0 (g_utf8_validate's rules). */
function utf8SequenceLength(bytes: ByteString, i: number): number {
  const b0 = bytes.charCodeAt(i);
  if (b0 === 0) return 0;
  if (b0 < 0x80) return 1;
  let length: number;
  let min: number;
  let codePoint: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
    min = 0x80;
    codePoint = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    min = 0x800;
    codePoint = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    min = 0x10000;
    codePoint = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) {
    const b = bytes.charCodeAt(i + k);
    if ((b & 0xc0) !== 0x80) return 0;
    codePoint = (codePoint << 6) | (b & 0x3f);
  }
  if (codePoint < min || codePoint > 0x10ffff) return 0;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return 0;
  return length;
}

function isValidUtf8(bytes: ByteString): boolean {
  for (let i = 0; i < bytes.length; ) {
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

/** g_utf8_make_valid: each invalid byte (and each NUL) becomes one U+FFFD. */
function decodeLossy(bytes: ByteString): string {
  let out = '';
  let validStart = 0;
  let i = 0;
  const flush = (end: number): void => {
    if (end > validStart) out += Buffer.from(bytes.slice(validStart, end), 'latin1').toString('utf8');
  };
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) {
      flush(i);
      out += '\ufffd';
      i += 1;
      validStart = i;
    } else {
      i += n;
    }
  }
  flush(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** g_ascii_isspace: space, \t, \n, \v, \f, \r. */
const isAsciiSpace = (c: string): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

const isAsciiControl = (code: number): boolean => code < 0x20 || code === 0x7f;

const isLocaleChar = (c: string): boolean => /[A-Za-z0-9\-_.@]/.test(c) || c.charCodeAt(0) >= 0x80;

interface StoredValue {
  readonly raw: ByteString;
  readonly line: number;
}

interface MutableGroup {
  readonly name: ByteString;
  readonly values: Map<ByteString, StoredValue>;
}

function lineIsGroup(line: ByteString): boolean {
  if (line[0] !== '[') return false;
  const close = line.indexOf(']', 1);
  if (close < 0) return false;
  // GLib silently accepts spaces and tabs after the closing bracket, nothing else.
  return /^[ \t]*$/.test(line.slice(close + 1));
}

function isGroupName(name: ByteString): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    if (c === '[' || c === ']' || isAsciiControl(c.charCodeAt(0))) return false;
  }
  return true;
}

function isKeyName(key: ByteString): boolean {
  let q = 0;
  while (q < key.length && key[q] !== '=' && key[q] !== '[' && key[q] !== ']') q++;
  if (q === 0) return false;
  // Inner spaces are tolerated; leading or trailing ones would not survive a rewrite.
  if (key[0] === ' ' || key[q - 1] === ' ') return false;
  if (key[q] === '[') {
    q++;
    while (q < key.length && isLocaleChar(key[q] as string)) q++;
    if (key[q] !== ']') return false;
    q++;
  }
  return q === key.length;
}

class ParsedKeyFile implements KeyFile {
  private readonly groups = new Map<ByteString, MutableGroup>();
  private startGroup: MutableGroup | undefined;
  private currentGroup: MutableGroup | undefined;

  constructor(data: ByteString) {
    let lineNumber = 0;
    let start = 0;
    while (start < data.length) {
      let end = data.indexOf('\n', start);
      const terminated = end >= 0;
      if (!terminated) end = data.length;
      let line = data.slice(start, end);
      lineNumber++;
      if (terminated && line.endsWith('\r')) line = line.slice(0, -1);
      this.parseLine(line, lineNumber);
      start = end + 1;
    }
  }

  private parseLine(line: ByteString, lineNumber: number): void {
    // GLib handles the line as a C string from here on: a NUL ends it.
    const nul = line.indexOf('\0');
    const content = nul >= 0 ? line.slice(0, nul) : line;
    let skip = 0;
    while (skip < content.length && isAsciiSpace(content[skip] as string)) skip++;
    const trimmed = content.slice(skip);

    if (trimmed.length === 0 || trimmed[0] === '#') return;
    if (lineIsGroup(trimmed)) {
      this.parseGroup(trimmed, lineNumber);
      return;
    }
    const equals = trimmed.indexOf('=');
    if (equals > 0) {
      this.parseKeyValue(trimmed, equals, lineNumber);
      return;
    }
    throw new KeyFileError('PARSE', KeyFileMessages.notKeyValuePair(decodeLossy(line)), lineNumber);
  }

  private parseGroup(line: ByteString, lineNumber: number): void {
    const name = line.slice(1, line.lastIndexOf(']'));
    if (!isGroupName(name)) {
      throw new KeyFileError('PARSE', KeyFileMessages.invalidGroupName(decodeLossy(name)), lineNumber);
    }
    let group = this.groups.get(name);
    if (group === undefined) {
      group = { name, values: new Map() };
      this.groups.set(name, group);
      this.startGroup ??= group;
    }
    this.currentGroup = group;
  }

  private parseKeyValue(line: ByteString, equals: number, lineNumber: number): void {
    const group = this.currentGroup;
    if (group === undefined) {
      throw new KeyFileError('GROUP_NOT_FOUND', KeyFileMessages.doesNotStartWithGroup, lineNumber);
    }
    let keyEnd = equals;
    while (keyEnd > 0 && isAsciiSpace(line[keyEnd - 1] as string)) keyEnd--;
    const key = line.slice(0, keyEnd);
    if (!isKeyName(key)) {
      throw new KeyFileError('PARSE', KeyFileMessages.invalidKeyName(decodeLossy(key)), lineNumber);
    }
    let valueStart = equals + 1;
    while (valueStart < line.length && isAsciiSpace(line[valueStart] as string)) valueStart++;
    const raw = line.slice(valueStart);

    if (group === this.startGroup && key === 'Encoding' && raw.toLowerCase() !== 'utf-8') {
      throw new KeyFileError(
        'UNKNOWN_ENCODING',
        KeyFileMessages.unsupportedEncoding(decodeLossy(raw)),
        lineNumber,
      );
    }
    if (key.includes('[')) return;
    // Re-inserting moves nothing: Map keeps first-appearance order, the value is the last one.
    group.values.set(key, { raw, line: lineNumber });
  }

  private lookup(group: string, key: string): StoredValue {
    const found = this.groups.get(toByteString(group));
    if (found === undefined) {
      throw new KeyFileError('GROUP_NOT_FOUND', KeyFileMessages.missingGroup(group));
    }
    const value = found.values.get(toByteString(key));
    if (value === undefined) {
      throw new KeyFileError('KEY_NOT_FOUND', KeyFileMessages.missingKey(key, group));
    }
    return value;
  }

  groupNames(): readonly string[] {
    return [...this.groups.keys()].map(decodeLossy);
  }

  hasGroup(group: string): boolean {
    return this.groups.has(toByteString(group));
  }

  hasKey(group: string, key: string): boolean {
    return this.groups.get(toByteString(group))?.values.has(toByteString(key)) ?? false;
  }

  keyNames(group: string): readonly string[] {
    const found = this.groups.get(toByteString(group));
    if (found === undefined) {
      throw new KeyFileError('GROUP_NOT_FOUND', KeyFileMessages.missingGroup(group));
    }
    return [...found.values.keys()].map(decodeLossy);
  }

  lineOf(group: string, key: string): number | undefined {
    return this.groups.get(toByteString(group))?.values.get(toByteString(key))?.line;
  }

  getValue(group: string, key: string): string {
    return decodeLossy(this.lookup(group, key).raw);
  }

  getString(group: string, key: string): string {
    const { raw, line } = this.lookup(group, key);
    if (!isValidUtf8(raw)) {
      throw new KeyFileError(
        'UNKNOWN_ENCODING',
        KeyFileMessages.valueNotUtf8(key, decodeLossy(raw)),
        line,
      );
    }
    const decoded = unescapeValue(raw);
    if (decoded === undefined) {
      throw new KeyFileError('INVALID_VALUE', KeyFileMessages.uninterpretableValue(key), line);
    }
    return Buffer.from(decoded, 'latin1').toString('utf8');
  }

  getBoolean(group: string, key: string): boolean {
    const { raw, line } = this.lookup(group, key);
    let end = raw.length;
    while (end > 0 && isAsciiSpace(raw[end - 1] as string)) end--;
    const word = raw.slice(0, end);
    if (word === 'true' || word === '1') return true;
    if (word === 'false' || word === '0') return false;
    throw new KeyFileError('INVALID_VALUE', KeyFileMessages.uninterpretableValue(key), line);
  }

  getInteger(group: string, key: string): number {
    const { raw, line } = this.lookup(group, key);
    const value = parseCInt(raw);
    if (value === undefined) {
      throw new KeyFileError(
        'INVALID_VALUE',
        KeyFileMessages.uninterpretableValueInGroup(key, group),
        line,
      );
    }
    return value;
  }
}

/** Decodes `\s \n \t \r \\`; undefined for any other escape or a trailing backslash. */
function unescapeValue(raw: ByteString): ByteString | undefined {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    i++;
    switch (raw[i]) {
      case 's':
        out += ' ';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      default:
        return undefined;
    }
  }
  return out;
}

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/**
 * GLib's integer rule: strtol(value, &end, 10), then the value must be non-empty and `end` must
 * be the end or a whitespace (so `12 x` reads as 12), and the result must fit a C int.
 */
function parseCInt(raw: ByteString): number | undefined {
  if (raw.length === 0) return undefined;
  const match = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)/.exec(raw);
  // Without digits strtol leaves `end` at the very start of the value.
  const end = match === null ? 0 : match[0].length;
  const next = raw[end];
  if (next !== undefined && !isAsciiSpace(next)) return undefined;
  if (match === null) return 0;
  const magnitude = BigInt(match[2] as string);
  const value = match[1] === '-' ? -magnitude : magnitude;
  if (value < BigInt(INT_MIN) || value > BigInt(INT_MAX)) return undefined;
  return Number(value);
}

/** Parses GLib keyfile text; throws KeyFileError exactly where g_key_file_load_from_data fails. */
export function parseKeyFile(data: string | Uint8Array): KeyFile {
  return new ParsedKeyFile(toByteString(data));
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * g_key_file_set_string's escaping: backslash, newline and carriage return always; spaces and
 * tabs only while still at the start of the value (a newline or carriage return does not end that
 * start, any other character does). Trailing spaces stay as they are.
 */
export function escapeKeyFileString(value: string): string {
  let out = '';
  let leading = true;
  for (const c of value) {
    switch (c) {
      case ' ':
        out += leading ? '\\s' : ' ';
        break;
      case '\t':
        out += leading ? '\\t' : '\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\\':
        out += '\\\\';
        leading = false;
        break;
      default:
        out += c;
        leading = false;
    }
  }
  return out;
}

const formatValue = (value: KeyFileValue): string =>
  typeof value === 'string'
    ? escapeKeyFileString(value)
    : typeof value === 'boolean'
      ? String(value)
      : String(Math.trunc(value));

/** g_key_file_to_data for a key file built with set_* calls: groups apart by one empty line. */
export function formatKeyFile(groups: readonly KeyFileGroup[]): string {
  return groups
    .map(
      (group) =>
        `[${group.name}]\n` +
        group.entries.map(([key, value]) => `${key}=${formatValue(value)}\n`).join(''),
    )
    .join('\n');
}
