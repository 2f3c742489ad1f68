/**
 * How qemu reads and validates the bytes of its strings (util/unicode.c). qemu keeps strings as
 * "modified UTF-8" C strings: U+0000 is stored as the overlong pair C0 80, so a NUL byte always
 * ends the string. Both the JSON parser (validating request strings) and the JSON writer (which
 * turns every undecodable sequence into U+FFFD) use the same decoder, so a byte-exact clone has
 * to reproduce its exact idea of a "sequence": how many bytes one bad sequence swallows decides
 * how many U+FFFD a reply shows.
 */

/** Smallest code point that needs a sequence of 2, 3, 4, 5, 6 bytes; anything below is overlong. */
const MIN_CODEPOINT_FOR_LENGTH = [0x80, 0x800, 0x10000, 0x200000, 0x4000000] as const;

/** Unicode scalar values that are not noncharacters (qemu rejects U+FDD0..U+FDEF and U+xxFFFE/F). */
export function isValidCodepoint(cp: number): boolean {
  if (cp < 0 || cp > 0x10ffff) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  return !(cp >= 0xd800 && cp <= 0xdfff);
}

/**
 * Decodes one sequence starting at `pos`; bytes at or after `end` read as NUL, like the string
 * terminator qemu would hit. Returns `codepoint * 8 + length` for a valid sequence (U+0000 only as
 * C0 80), or `-length` (the bytes one invalid sequence consumes) when it is invalid. Packed into one
 * number so the hot loops allocate nothing.
 */
export function readModifiedUtf8(bytes: Uint8Array, pos: number, end: number): number {
  const lead = bytes[pos] as number;
  if (lead < 0x80) return lead * 8 + 1;
  if (lead >= 0xfe || (lead & 0x40) === 0) return -1;
  let length = 0;
  let mask = 0x80;
  while (lead & mask) {
    length++;
    mask >>= 1;
  }
  let cp = lead & (mask - 1);
  for (let i = 1; i < length; i++) {
    const next = pos + i < end ? (bytes[pos + i] as number) : 0;
    if ((next & 0xc0) !== 0x80) return -i;
    cp = cp * 64 + (next & 0x3f);
  }
  if (!isValidCodepoint(cp)) return -length;
  if (cp < (MIN_CODEPOINT_FOR_LENGTH[length - 2] as number) && !(cp === 0 && length === 2)) {
    return -length;
  }
  return cp * 8 + length;
}

/**
 * The JS string qemu's JSON writer would print for the C string in `bytes[start, end)`: it stops at
 * the first NUL and shows every invalid sequence (including noncharacters and encoded surrogates)
 * as U+FFFD. Use it for any text that reaches a reply as raw bytes (error texts quoting input,
 * names read from the system) so the reply matches qemu-ga byte for byte.
 */
export function stringFromCBytes(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop++;
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  let run = start;
  let pos = start;
  while (pos < stop) {
    if ((buffer[pos] as number) < 0x80) {
      pos++;
      continue;
    }
    if (run < pos) out += buffer.toString('latin1', run, pos);
    const seq = readModifiedUtf8(buffer, pos, stop);
    if (seq < 0) {
      out += '\uFFFD';
      pos -= seq;
    } else {
      out += String.fromCodePoint(Math.floor(seq / 8));
      pos += seq & 7;
    }
    run = pos;
  }
  if (run < stop) out += buffer.toString('latin1', run, stop);
  return out;
}
