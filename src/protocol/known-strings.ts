/**
 * Short string tokens the lexer meets in almost every message ("execute", "arguments", "id",
 * command names) returned as the program's own string constants instead of freshly sliced
 * copies of the input bytes.
 *
 * Why: a sliced string is a new heap object with no hash. Used as a member name, a Map key or in
 * a comparison, V8 first hashes it and looks it up in its string table (internalization), which
 * cost more than the rest of lexing a small request. A constant from the source is internalized
 * already, and the lookup here is a few instructions per byte, in JS, without a call into C++.
 */

/** Longer tokens are never looked up: command and member names are shorter. */
export const MAX_KNOWN_STRING_BYTES = 48;

/** Names every qemu-ga message uses (requests and replies). */
export const PROTOCOL_STRINGS: readonly string[] = ['execute', 'arguments', 'id', 'return', 'error', 'class', 'desc'];

export class KnownStrings {
  /** open addressing; a slot holds a word or undefined */
  private readonly slots: (string | undefined)[];
  private readonly mask: number;
  /** the same words, for text that is already a string (the lexer's scanned tokens) */
  private readonly byText: ReadonlyMap<string, string>;

  /** `words` must be ASCII (they are compared with bytes) and no longer than MAX_KNOWN_STRING_BYTES. */
  constructor(words: Iterable<string>) {
    const unique = new Set<string>();
    for (const w of words) {
      // eslint-disable-next-line no-control-regex
      if (w.length === 0 || w.length > MAX_KNOWN_STRING_BYTES || !/^[\x20-\x7e]*$/.test(w)) continue;
      unique.add(w);
    }
    let size = 16;
    while (size < unique.size * 4) size *= 2;
    this.byText = new Map(Array.from(unique, (w) => [w, w]));
    this.slots = new Array<string | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (const w of unique) {
      let i = hashOfText(w) & this.mask;
      while (this.slots[i] !== undefined) i = (i + 1) & this.mask;
      this.slots[i] = w;
    }
  }

  /** The constant equal to `text`, or undefined (a Map lookup: hashing runs in native code). */
  get(text: string): string | undefined {
    return this.byText.get(text);
  }

  /** The constant equal to the bytes buf[start, end), or undefined. */
  lookup(buf: Uint8Array, start: number, end: number): string | undefined {
    const length = end - start;
    if (length > MAX_KNOWN_STRING_BYTES) return undefined;
    let h = length;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + (buf[i] as number)) | 0;
    const slots = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const word = slots[i];
      if (word === undefined) return undefined;
      if (word.length === length && sameBytes(word, buf, start)) return word;
    }
  }
}

function hashOfText(w: string): number {
  let h = w.length;
  for (let i = 0; i < w.length; i++) h = (Math.imul(h, 31) + w.charCodeAt(i)) | 0;
  return h;
}

function sameBytes(word: string, buf: Uint8Array, start: number): boolean {
  for (let i = 0; i < word.length; i++) if (word.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}
