/**
 * Response serialisation, byte-identical to qemu's json-writer (reference §1.1):
 *
 * - compact, with ": " after a member name and ", " between members and elements;
 * - strings are pure ASCII: \" \\ \b \f \n \r \t, every other character below 0x20 and every
 *   character from 0x7F up as \uXXXX (upper-case hex, astral characters as surrogate pairs);
 *   what qemu cannot hold in UTF-8 (lone surrogates) or refuses to decode (noncharacters) is
 *   written as \uFFFD, as qemu's decoder turns those bytes into U+FFFD;
 * - integers (bigint) in decimal; doubles (number) as C's "%.17g", including glibc's "inf", "-inf"
 *   and "nan" (1e400 in a request id parses to infinity and qemu-ga echoes `inf`);
 * - object members in QDict hash order (Appendix A), not insertion order: buckets
 *   tdb_hash(name) % 512 ascending, and inside one bucket the later-inserted member first.
 *   Members whose value is `undefined` are left out (absent optional members).
 *
 * Objects may be null-prototype records, plain objects or Map<string, unknown>. Note that a JS
 * object enumerates integer-like names ("0", "1") before the others whatever the insertion order;
 * that only matters when two members share a hash bucket, and a Map avoids it.
 */
import { isValidCodepoint } from './modified-utf8';

const QDICT_BUCKETS = 512;

/** Characters that cannot be written as themselves (plus anything needing a closer look). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/;
const HEX_DIGITS = '0123456789ABCDEF';

export function encodeJson(value: unknown): string {
  return write(value);
}

function write(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'bigint':
      return value.toString();
    case 'number':
      return formatDouble(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return writeArray(value);
      if (value instanceof Map) return writeMembers(Array.from(value as Map<unknown, unknown>));
      {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto === null || proto === Object.prototype) {
          return writeMembers(Object.entries(value as Record<string, unknown>));
        }
      }
      throw new TypeError(`encodeJson: cannot encode ${describe(value)}`);
    default:
      throw new TypeError(`encodeJson: cannot encode ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return typeof value;
  return `an object of class ${(value as object).constructor?.name ?? '?'}`;
}

function writeArray(items: readonly unknown[]): string {
  if (items.length === 0) return '[]';
  let out = '[' + write(items[0]);
  for (let i = 1; i < items.length; i++) out += ', ' + write(items[i]);
  return out + ']';
}

interface Member {
  name: string;
  value: unknown;
  bucket: number;
  inserted: number;
}

function writeMembers(entries: Array<[unknown, unknown]>): string {
  const members: Member[] = [];
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    if (typeof name !== 'string') throw new TypeError('encodeJson: Map keys must be strings');
    members.push({ name, value, bucket: qdictBucket(name), inserted: members.length });
  }
  if (members.length === 0) return '{}';
  if (members.length > 1) {
    members.sort((a, b) => a.bucket - b.bucket || b.inserted - a.inserted);
  }
  let out = '{';
  for (let i = 0; i < members.length; i++) {
    const member = members[i] as Member;
    out += (i === 0 ? '' : ', ') + quote(member.name) + ': ' + write(member.value);
  }
  return out + '}';
}

/** QDict's bucket for a member name: tdb_hash over its (modified) UTF-8 bytes, mod 512. */
export function qdictBucket(name: string): number {
  return tdbHash(name) % QDICT_BUCKETS;
}

/** The tdb hash qemu's QDict uses, over the bytes qemu would store for `name`. */
export function tdbHash(name: string): number {
  let ascii = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0 || c >= 0x80) {
      ascii = false;
      break;
    }
  }
  let value: number;
  if (ascii) {
    value = Math.imul(0x238f13af, name.length) >>> 0;
    for (let i = 0; i < name.length; i++) {
      value = (value + (name.charCodeAt(i) << ((i * 5) % 24))) >>> 0;
    }
  } else {
    const bytes = modifiedUtf8Bytes(name);
    value = Math.imul(0x238f13af, bytes.length) >>> 0;
    for (let i = 0; i < bytes.length; i++) {
      value = (value + ((bytes[i] as number) << ((i * 5) % 24))) >>> 0;
    }
  }
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

/** UTF-8 with U+0000 as C0 80, the way qemu stores a parsed string. */
function modifiedUtf8Bytes(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  if (!utf8.includes(0)) return utf8;
  const out: number[] = [];
  for (const b of utf8) {
    if (b === 0) out.push(0xc0, 0x80);
    else out.push(b);
  }
  return Buffer.from(out);
}

/**
 * One pass over the UTF-16 code units, copying runs that need no escape; no regular expression
 * with a callback per escape (error texts with U+FFFD are on the path of every 0xFF resync).
 */
function quote(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return '"' + text + '"';
  let out = '"';
  let run = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code < 0x7f && code !== 0x22 && code !== 0x5c) continue;
    if (run < i) out += text.slice(run, i);
    const low = i + 1 < n ? text.charCodeAt(i + 1) : 0;
    if (code >= 0xd800 && code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
      // a surrogate pair: one code point, written as two escapes (or U+FFFD if qemu rejects it)
      const cp = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
      out += isValidCodepoint(cp) ? hex4(code) + hex4(low) : '\\uFFFD';
      i++;
    } else {
      out += escapeCodeUnit(code);
    }
    run = i + 1;
  }
  if (run < n) out += text.slice(run);
  return out + '"';
}

function hex4(code: number): string {
  return '\\u' + HEX_DIGITS[(code >> 12) & 15] + HEX_DIGITS[(code >> 8) & 15] + HEX_DIGITS[(code >> 4) & 15] + HEX_DIGITS[code & 15];
}

/** A single UTF-16 code unit that cannot be written as itself (lone surrogates included). */
function escapeCodeUnit(code: number): string {
  switch (code) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    default:
      if (code < 0x20) return hex4(code);
      return isValidCodepoint(code) ? hex4(code) : '\\uFFFD';
  }
}

/** C printf("%.17g") as glibc prints doubles. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  if (Number.isSafeInteger(x)) return String(x);
  const sign = x < 0 ? '-' : '';
  const magnitude = Math.abs(x);
  let { digits, exponent } = roundTo17Digits(magnitude);
  digits = digits.replace(/0+$/, '');
  if (exponent < -4 || exponent >= 17) {
    const mantissa = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
    const absExp = Math.abs(exponent);
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  if (digits.length <= exponent + 1) return sign + digits + '0'.repeat(exponent + 1 - digits.length);
  return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
}

/**
 * The 17 significant digits and decimal exponent of a positive finite double, rounded to nearest
 * with ties to even as glibc does. toExponential rounds ties away from zero, so exact ties (only
 * possible when the exact value has 18 significant digits ending in 5) are redone exactly.
 */
function roundTo17Digits(x: number): { digits: string; exponent: number } {
  const wide = x.toExponential(25);
  if (wide[18] === '5' && wide.slice(19, 27) === '00000000') return exactRoundTo17Digits(x);
  const s = x.toExponential(16);
  return { digits: s[0] + s.slice(2, 18), exponent: Number(s.slice(19)) };
}

function exactRoundTo17Digits(x: number): { digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const biased = (high >>> 20) & 0x7ff;
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  let binaryExponent = -1074;
  if (biased !== 0) {
    mantissa |= 1n << 52n;
    binaryExponent = biased - 1075;
  }
  // x = all × 10^-fractionDigits, exactly
  let all: string;
  let fractionDigits = 0;
  if (binaryExponent >= 0) {
    all = (mantissa << BigInt(binaryExponent)).toString();
  } else {
    all = (mantissa * 5n ** BigInt(-binaryExponent)).toString();
    fractionDigits = -binaryExponent;
  }
  let exponent = all.length - 1 - fractionDigits;
  if (all.length <= 17) return { digits: all.padEnd(17, '0'), exponent };
  let head = all.slice(0, 17);
  const first = all.charCodeAt(17) - 0x30;
  const restNonZero = /[1-9]/.test(all.slice(18));
  const lastOdd = (head.charCodeAt(16) - 0x30) % 2 === 1;
  if (first > 5 || (first === 5 && (restNonZero || lastOdd))) {
    head = (BigInt(head) + 1n).toString();
    if (head.length > 17) {
      head = head.slice(0, 17);
      exponent++;
    }
  }
  return { digits: head, exponent };
}
