/**
 * The agent's input side: a byte stream in, JSON values and syntax errors out, behaving exactly like
 * qemu's json-lexer + json-streamer + json-parser (reference §1.4). The stream has no framing, so:
 *
 * - a byte-level state machine cuts tokens; a byte that is invalid in the current state is a lexical
 *   error (`stray '<token so far>'`), after which input is skipped until a structural character,
 *   a control character other than TAB, or 0xFE/0xFF, which is then re-read in the start state;
 * - the streamer counts braces and brackets and dispatches the tokens of one message as soon as both
 *   counts are back to 0 or either goes negative (so a top-level scalar goes out alone);
 * - size, token-count and nesting limits throw the message away.
 *
 * qemu queues every token and runs a recursive-descent parser at dispatch time. Here the parser is
 * fed token by token instead and remembers the first error it meets; qemu's parser also stops at
 * its first error, walks tokens in the same order and only reports at dispatch, so the outcome is
 * the same while nothing but the value under construction is kept. Token text becomes JS strings
 * by slicing byte ranges (latin1 for pure ASCII, validated UTF-8 otherwise), never per byte; a
 * token spanning chunks is held as a latin1 rope, so a 48 MiB base64 string costs one scan and one
 * copy, and its rope already is the value.
 */
// Imported: Node's global `Buffer` is a getter, called on every use in hot code.
import { Buffer } from 'node:buffer';
import { Errors, QgaError } from './errors';
import { INT64_MIN, UINT64_MAX, type JsonObject, type JsonValue } from './json-value';
import { KnownStrings, PROTOCOL_STRINGS } from './known-strings';
import { isValidCodepoint, readModifiedUtf8, stringFromCBytes } from './modified-utf8';

export interface LexerLimits {
  /** Bytes of one token, and of all tokens of one message (+1, as qemu counts a NUL). */
  maxTokenBytes: number;
  /** Tokens in one message. */
  maxTokenCount: number;
  /** Open braces plus open brackets. */
  maxNesting: number;
}

export const DEFAULT_LEXER_LIMITS: Readonly<LexerLimits> = Object.freeze({
  maxTokenBytes: 64 * 1024 * 1024,
  maxTokenCount: 2 * 1024 * 1024,
  maxNesting: 1024,
});

export type StreamItem = { kind: 'value'; value: JsonValue } | { kind: 'error'; error: QgaError };

// Lexer states. The ones from STRING on are "inside a token": their bytes are kept.
const START = 0;
const RECOVERY = 1;
const STRING = 2;
const STRING_ESCAPE = 3;
const ZERO = 4;
const SIGN = 5;
const DIGITS = 6;
const MANTISSA = 7;
const MANTISSA_DIGITS = 8;
const EXP_E = 9;
const EXP_SIGN = 10;
const EXP_DIGITS = 11;
const KEYWORD = 12;

// Results of a number-state transition besides a next state.
const ENDS_INTEGER = -1;
const ENDS_FLOAT = -2;
const LEXICAL_ERROR = -3;

// Token types.
const LCURLY = 1;
const RCURLY = 2;
const LSQUARE = 3;
const RSQUARE = 4;
const COMMA = 5;
const COLON = 6;
const STRING_TOKEN = 7;
const INTEGER_TOKEN = 8;
const FLOAT_TOKEN = 9;
const KEYWORD_TOKEN = 10;

/**
 * Bytes of an unfinished token are collected in a staging buffer (kept while no bigger than
 * STAGING_KEEP_BYTES) that grows up to STAGING_MAX_BYTES; when full it is moved into a latin1 rope
 * (a lossless byte container). 1 MiB pieces are above Node's threshold for external strings
 * (~1,000,000 bytes), so they stay off the V8 heap and the GC never copies them: a 48 MiB string
 * costs one copy, no buffer regrowth, and its rope (minus the quotes) already is the value.
 */
const STAGING_KEEP_BYTES = 64 * 1024;
const STAGING_MAX_BYTES = 1024 * 1024;

/**
 * The body and closing quote of a "string" of printable ASCII without escapes, the usual string
 * token. Matched by the regular-expression engine on a latin1 copy of a small chunk: that runs
 * compiled native code from the first request, while the byte loop in lexString() runs in V8's
 * interpreter and baseline tiers for the first few hundred requests, where a byte costs tens of
 * times more (and under QEMU's TCG, far more again). Anything else is left to the byte loop.
 */
const SIMPLE_STRING_BODY_SOURCE = '[ !#-\\[\\]-~]*"';
/** Chunks up to this size get the latin1 copy the match needs; larger ones (file data) do not. */
const SCAN_CHUNK_MAX_BYTES = 4096;

/** qemu formats parser errors into a 1024-byte buffer, so longer messages lose their tail. */
const PARSE_ERROR_MESSAGE_MAX = 1023;

/**
 * Lexer and parser errors are replies to the client, not faults in the agent, so their stack trace
 * is useless; capturing it costs ~7 µs, and a stream of garbage yields one error per control byte.
 */
function replyError(make: () => QgaError): QgaError {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = saved;
  }
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** Transition of the number states; mirrors qemu's table (strict RFC 8259 numbers). */
function numberTransition(state: number, b: number): number {
  switch (state) {
    case ZERO:
      if (isDigit(b)) return LEXICAL_ERROR;
      return b === 0x2e ? MANTISSA : ENDS_INTEGER;
    case SIGN:
      if (b === 0x30) return ZERO;
      return b >= 0x31 && b <= 0x39 ? DIGITS : LEXICAL_ERROR;
    case DIGITS:
      if (isDigit(b)) return DIGITS;
      if (b === 0x65 || b === 0x45) return EXP_E;
      return b === 0x2e ? MANTISSA : ENDS_INTEGER;
    case MANTISSA:
      return isDigit(b) ? MANTISSA_DIGITS : LEXICAL_ERROR;
    case MANTISSA_DIGITS:
      if (isDigit(b)) return MANTISSA_DIGITS;
      return b === 0x65 || b === 0x45 ? EXP_E : ENDS_FLOAT;
    case EXP_E:
      if (b === 0x2b || b === 0x2d) return EXP_SIGN;
      return isDigit(b) ? EXP_DIGITS : LEXICAL_ERROR;
    case EXP_SIGN:
      return isDigit(b) ? EXP_DIGITS : LEXICAL_ERROR;
    default: // EXP_DIGITS
      return isDigit(b) ? EXP_DIGITS : ENDS_FLOAT;
  }
}

function checkLimit(name: keyof LexerLimits, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`LexerLimits.${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Immutable; used when the owner of a lexer names no strings of its own. */
const PROTOCOL_ONLY = new KnownStrings(PROTOCOL_STRINGS);

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export class StreamLexer {
  private readonly emit: (item: StreamItem) => void;
  private readonly maxTokenBytes: number;
  private readonly maxTokenCount: number;
  private readonly maxNesting: number;
  private readonly parser = new IncrementalParser();
  private readonly known: KnownStrings;
  /** SIMPLE_STRING_BODY_SOURCE, sticky; per lexer, as its lastIndex is state */
  private readonly simpleStringBody = new RegExp(SIMPLE_STRING_BODY_SOURCE, 'y');

  // --- lexer ---
  private state = START;
  /** Where the current token starts in the chunk being lexed (0 when it began in an earlier chunk). */
  private tokenStart = 0;
  private tokenIsString = false;
  private quote = 0x22;
  /** The current string contains a backslash or a byte >= 0x7F (needs the careful decoder). */
  private stringNeedsDecoder = false;
  /**
   * Bytes of the current token that arrived in earlier chunks, in order: heldText (latin1), then
   * staging[0, stagedLength). A string's opening quote is left out of heldText (quoteDropped), so
   * the held text of an ASCII string is its value. heldLength counts every held byte.
   */
  private heldText = '';
  private quoteDropped = false;
  private staging: Buffer | null = null;
  private stagedLength = 0;
  private heldLength = 0;
  private feeding = false;
  /** the reply error of a stray lone byte >= 0x80, made once (see stray()) */
  private loneByteError: QgaError | null = null;

  // --- streamer (per message) ---
  private braceCount = 0;
  private bracketCount = 0;
  private messageBytes = 0;
  private messageTokens = 0;

  /**
   * `known`: short strings to return as constants rather than as copies of the input (see
   * known-strings.ts); the session passes the command names. Only a matter of speed.
   */
  constructor(emit: (item: StreamItem) => void, limits?: Partial<LexerLimits>, known?: KnownStrings) {
    this.emit = emit;
    this.known = known ?? PROTOCOL_ONLY;
    const d = DEFAULT_LEXER_LIMITS;
    this.maxTokenBytes = checkLimit('maxTokenBytes', limits?.maxTokenBytes, d.maxTokenBytes);
    this.maxTokenCount = checkLimit('maxTokenCount', limits?.maxTokenCount, d.maxTokenCount);
    this.maxNesting = checkLimit('maxNesting', limits?.maxNesting, d.maxNesting);
  }

  /**
   * Lexes `chunk` (any split of the stream) and emits the items it completes, synchronously and in
   * stream order. The chunk is not kept after the call. `reset()` may be called from the emit
   * callback (the rest of the chunk is then lexed from the start state); `feed()` may not.
   */
  feed(chunk: Uint8Array): void {
    if (this.feeding) throw new Error('StreamLexer.feed() called from its own emit callback');
    this.feeding = true;
    try {
      this.lex(asBuffer(chunk));
    } finally {
      this.feeding = false;
    }
  }

  /** Drops any partial token and message and returns to the start state. */
  reset(): void {
    this.state = START;
    this.releaseHeld();
    this.resetMessage();
  }

  /** Memory held for an incomplete token (diagnostics and tests: it must stay bounded). */
  get retainedBytes(): number {
    return this.heldText.length + (this.staging === null ? 0 : this.staging.length);
  }

  // ---------------------------------------------------------------------------------------------
  // Lexer

  private lex(buf: Buffer): void {
    const n = buf.length;
    let i = 0;
    this.tokenStart = 0;
    const text = n <= SCAN_CHUNK_MAX_BYTES ? buf.toString('latin1') : null;
    while (i < n) {
      const state = this.state;
      if (state === START) {
        i = this.lexStart(buf, i);
      } else if (state === STRING || state === STRING_ESCAPE) {
        // a string that began in this chunk, or anything else
        const fresh = text !== null && state === STRING && this.heldLength === 0 && i === this.tokenStart + 1;
        i = fresh ? this.lexNewString(buf, text, i) : this.lexString(buf, i);
      } else if (state === RECOVERY) {
        i = this.skipRecovery(buf, i);
      } else if (state === KEYWORD) {
        i = this.lexKeyword(buf, i);
      } else {
        i = this.lexNumber(buf, i);
      }
    }
    if (this.state >= STRING) this.hold(buf, this.tokenStart, n);
  }

  /**
   * From the start state up to the first byte of a string, number or keyword token (returned,
   * consumed), or the end. Structural tokens never leave the start state (an emit callback's
   * reset() returns to it too), so consecutive ones are handled here without a return to lex().
   */
  private lexStart(buf: Buffer, from: number): number {
    const n = buf.length;
    let i = from;
    while (i < n) {
      const b = buf[i] as number;
      switch (b) {
        case 0x20:
        case 0x0a:
        case 0x0d:
        case 0x09:
          i++;
          continue;
        case 0x7b:
          this.braceCount++;
          this.structuralToken(LCURLY);
          i++;
          continue;
        case 0x7d:
          this.braceCount--;
          this.structuralToken(RCURLY);
          i++;
          continue;
        case 0x5b:
          this.bracketCount++;
          this.structuralToken(LSQUARE);
          i++;
          continue;
        case 0x5d:
          this.bracketCount--;
          this.structuralToken(RSQUARE);
          i++;
          continue;
        case 0x2c:
          this.structuralToken(COMMA);
          i++;
          continue;
        case 0x3a:
          this.structuralToken(COLON);
          i++;
          continue;
        case 0x22:
        case 0x27:
          this.quote = b;
          this.stringNeedsDecoder = false;
          return this.beginToken(STRING, i);
        case 0x30:
          return this.beginToken(ZERO, i);
        case 0x2d:
          return this.beginToken(SIGN, i);
        default:
          if (b >= 0x31 && b <= 0x39) return this.beginToken(DIGITS, i);
          if (b >= 0x61 && b <= 0x7a) return this.beginToken(KEYWORD, i);
          this.tokenStart = i;
          return this.stray(buf, i);
      }
    }
    return i;
  }

  /** The first byte of a token is consumed; `maxTokenBytes` >= 1 so it can never overflow. */
  private beginToken(state: number, at: number): number {
    this.state = state;
    this.tokenStart = at;
    this.tokenIsString = state === STRING;
    return at + 1;
  }

  /** Index of the byte whose consumption would make the current token exceed maxTokenBytes. */
  private overflowIndex(): number {
    return this.tokenStart + (this.maxTokenBytes - this.heldLength);
  }

  /**
   * A string token whose opening quote is at buf[from - 1] in this chunk: the simple kind matched
   * natively (SIMPLE_STRING_BODY_SOURCE), the value taken from the chunk's text; anything else,
   * or a token near maxTokenBytes (the byte loop owns that limit), through lexString().
   */
  private lexNewString(buf: Buffer, text: string, from: number): number {
    const re = this.simpleStringBody;
    re.lastIndex = from;
    if (this.quote !== 0x22 || !re.test(text)) return this.lexString(buf, from);
    const end = re.lastIndex;
    if (end - this.tokenStart >= this.maxTokenBytes) return this.lexString(buf, from);
    this.state = START;
    this.stringNeedsDecoder = false;
    const body = text.slice(from, end - 1);
    this.valueToken(STRING_TOKEN, buf, end, this.known.get(body) ?? body);
    return end;
  }

  private lexString(buf: Buffer, from: number): number {
    const quote = this.quote;
    const overflowAt = this.overflowIndex();
    const end = Math.min(buf.length, overflowAt + 1);
    let needsDecoder = this.stringNeedsDecoder;
    let j = from;
    if (this.state === STRING_ESCAPE && j < end) {
      const b = buf[j] as number;
      if (b < 0x20 || b > 0xfd) return this.stray(buf, j);
      this.state = STRING;
      j++;
    }
    for (; j < end; j++) {
      const b = buf[j] as number;
      if (b >= 0x20 && b < 0x7f && b !== quote && b !== 0x5c) continue;
      if (b === quote) {
        this.state = START;
        this.stringNeedsDecoder = needsDecoder;
        this.valueToken(STRING_TOKEN, buf, j + 1);
        return j + 1;
      }
      if (b === 0x5c) {
        needsDecoder = true;
        if (j + 1 >= end) {
          this.state = STRING_ESCAPE;
          j++;
          break;
        }
        const escaped = buf[j + 1] as number;
        if (escaped < 0x20 || escaped > 0xfd) return this.stray(buf, j + 1);
        j++;
        continue;
      }
      if (b < 0x20 || b > 0xfd) return this.stray(buf, j);
      needsDecoder = true; // 0x7F..0xFD
    }
    this.stringNeedsDecoder = needsDecoder;
    if (j > overflowAt) return this.overflow(j);
    return j;
  }

  private lexKeyword(buf: Buffer, from: number): number {
    const overflowAt = this.overflowIndex();
    const end = Math.min(buf.length, overflowAt + 1);
    let j = from;
    for (; j < end; j++) {
      const b = buf[j] as number;
      if (b < 0x61 || b > 0x7a) {
        this.state = START;
        this.valueToken(KEYWORD_TOKEN, buf, j);
        return j;
      }
    }
    if (j > overflowAt) return this.overflow(j);
    return j;
  }

  private lexNumber(buf: Buffer, from: number): number {
    const overflowAt = this.overflowIndex();
    const n = buf.length;
    let state = this.state;
    for (let j = from; j < n; j++) {
      const next = numberTransition(state, buf[j] as number);
      if (next >= 0) {
        state = next;
        if (j === overflowAt) return this.overflow(j + 1);
        continue;
      }
      if (next === LEXICAL_ERROR) return this.stray(buf, j);
      this.state = START;
      this.valueToken(next === ENDS_INTEGER ? INTEGER_TOKEN : FLOAT_TOKEN, buf, j);
      return j;
    }
    this.state = state;
    return n;
  }

  private skipRecovery(buf: Buffer, from: number): number {
    const n = buf.length;
    for (let j = from; j < n; j++) {
      const b = buf[j] as number;
      if (b >= 0x20 && b < 0xfe) {
        if (b === 0x7b || b === 0x7d || b === 0x5b || b === 0x5d || b === 0x3a || b === 0x2c) {
          this.state = START;
          return j;
        }
      } else if (b !== 0x09) {
        this.state = START;
        return j;
      }
    }
    return n;
  }

  /** A lexical error at `at`: the token so far plus the offending byte is the stray text. */
  private stray(buf: Buffer, at: number): number {
    let error: QgaError;
    if (this.heldLength === 0 && at === this.tokenStart && (buf[at] as number) >= 0x80) {
      // A lone byte >= 0x80 outside a token (above all the 0xFF every host sends to resync) is
      // never valid UTF-8 on its own, so its text is always U+FFFD: one error object serves all.
      error = this.loneByteError ??= replyError(() => Errors.jsonStray('\uFFFD'));
    } else {
      const text =
        this.heldLength > 0
          ? stringFromCBytes(this.heldBytes(buf, this.tokenStart, at + 1))
          : stringFromCBytes(buf, this.tokenStart, at + 1);
      error = replyError(() => Errors.jsonStray(text));
    }
    this.releaseHeld();
    this.state = RECOVERY;
    this.failMessage(error);
    return at + 1;
  }

  /** The token in progress grew past maxTokenBytes: qemu drops it and restarts lexing. */
  private overflow(next: number): number {
    this.releaseHeld();
    this.state = START;
    this.failMessage(replyError(Errors.tokenSizeLimit));
    return next;
  }

  // ---------------------------------------------------------------------------------------------
  // Bytes of tokens that span chunks

  /** Keeps buf[start, end), the part of the current token in a chunk that ends before it does. */
  private hold(buf: Buffer, start: number, end: number): void {
    this.heldLength += end - start;
    while (start < end) {
      if (this.stagedLength === 0 && end - start >= STAGING_MAX_BYTES) {
        this.appendHeldText(buf, start, end);
        return;
      }
      let staging = this.staging;
      const wanted = this.stagedLength + (end - start);
      if (staging === null || (wanted > staging.length && staging.length < STAGING_MAX_BYTES)) {
        const size = Math.min(STAGING_MAX_BYTES, Math.max(wanted, staging === null ? STAGING_KEEP_BYTES : staging.length * 2));
        const grown = Buffer.allocUnsafe(size);
        if (staging !== null) grown.set(staging.subarray(0, this.stagedLength));
        this.staging = staging = grown;
      }
      const count = Math.min(staging.length - this.stagedLength, end - start);
      // TypedArray#set is a plain memmove; Buffer#copy costs more per call in Node 20
      staging.set(buf.subarray(start, start + count), this.stagedLength);
      this.stagedLength += count;
      start += count;
      if (start < end) this.flushStaging();
    }
  }

  private flushStaging(): void {
    if (this.stagedLength === 0) return;
    this.appendHeldText(this.staging as Buffer, 0, this.stagedLength);
    this.stagedLength = 0;
  }

  private appendHeldText(buf: Buffer, start: number, end: number): void {
    if (this.tokenIsString && !this.quoteDropped) {
      start++;
      this.quoteDropped = true;
    }
    this.heldText += buf.toString('latin1', start, end);
  }

  /** Every byte of the current token, held ones first, ending with buf[start, end). */
  private heldBytes(buf: Buffer, start: number, end: number): Buffer {
    const staged = this.staging === null ? buf.subarray(0, 0) : this.staging.subarray(0, this.stagedLength);
    if (!this.quoteDropped && this.heldText.length === 0) return Buffer.concat([staged, buf.subarray(start, end)]);
    const quote = this.quoteDropped ? String.fromCharCode(this.quote) : '';
    return Buffer.concat([Buffer.from(quote + this.heldText, 'latin1'), staged, buf.subarray(start, end)]);
  }

  /** The current token as latin1 text ending with buf[start, end); a string without its quotes. */
  private heldLatin1(buf: Buffer, start: number, end: number): string {
    let text = this.heldText;
    if (this.stagedLength > 0) {
      const skipQuote = this.tokenIsString && !this.quoteDropped ? 1 : 0;
      text += (this.staging as Buffer).toString('latin1', skipQuote, this.stagedLength);
    }
    return text + buf.toString('latin1', start, this.tokenIsString ? end - 1 : end);
  }

  private releaseHeld(): void {
    this.heldText = '';
    this.quoteDropped = false;
    this.stagedLength = 0;
    this.heldLength = 0;
    if (this.staging !== null && this.staging.length > STAGING_KEEP_BYTES) this.staging = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Streamer

  private structuralToken(type: number): void {
    const limitError = this.admitToken(1);
    if (limitError !== null) return this.failMessage(limitError);
    if (this.parser.error === null) this.parser.structural(type);
    this.tokenDone();
  }

  /**
   * A string, number or keyword token ending at buf[end] (exclusive), maybe begun in earlier
   * chunks; `scanned` is a simple string's value when lexNewString() already has it.
   */
  private valueToken(type: number, buf: Buffer, end: number, scanned?: string): void {
    const start = this.tokenStart;
    const limitError = this.admitToken(this.heldLength + end - start);
    if (limitError !== null) {
      this.releaseHeld();
      return this.failMessage(limitError);
    }
    const parser = this.parser;
    if (parser.error === null && parser.atValue(type)) {
      const held = this.heldLength > 0;
      let value: JsonValue | DecodeFailure;
      if (type === STRING_TOKEN) {
        if (scanned !== undefined) {
          value = scanned;
        } else if (!this.stringNeedsDecoder) {
          value = held
            ? this.heldLatin1(buf, start, end)
            : (this.known.lookup(buf, start + 1, end - 1) ?? buf.toString('latin1', start + 1, end - 1));
        } else {
          const bytes = held ? this.heldBytes(buf, start, end) : buf;
          value = held ? decodeString(bytes, 0, bytes.length) : decodeString(buf, start, end);
        }
      } else if (!held && type === INTEGER_TOKEN && end - start <= SMALL_INTEGER_BYTES) {
        value = smallIntegerValue(buf, start, end);
      } else if (!held && type === KEYWORD_TOKEN && end - start <= 5) {
        value = keywordFromBytes(buf, start, end) ?? keywordValue(buf.toString('latin1', start, end));
      } else {
        const text = held ? this.heldLatin1(buf, start, end) : buf.toString('latin1', start, end);
        if (type === INTEGER_TOKEN) value = integerValue(text);
        else if (type === FLOAT_TOKEN) value = Number(text);
        else value = keywordValue(text);
      }
      if (value instanceof DecodeFailure) parser.fail(value.message);
      else parser.complete(value);
    }
    // nothing is held unless the token began in an earlier chunk
    if (this.heldLength > 0) this.releaseHeld();
    this.tokenDone();
  }

  /**
   * qemu's limit checks for the next token of a message (brace/bracket counts already include it,
   * as in qemu). Counts the token in, or returns the error that throws the message away.
   */
  private admitToken(length: number): QgaError | null {
    if (this.messageBytes + length + 1 > this.maxTokenBytes) return replyError(Errors.tokenSizeLimit);
    if (this.messageTokens + 1 > this.maxTokenCount) return replyError(Errors.tokenCountLimit);
    if (this.braceCount + this.bracketCount > this.maxNesting) return replyError(Errors.nestingLimit);
    this.messageBytes += length;
    this.messageTokens++;
    return null;
  }

  /** Dispatches the message when both counts are back to 0 or either went negative. */
  private tokenDone(): void {
    const braces = this.braceCount;
    const brackets = this.bracketCount;
    if ((braces > 0 || brackets > 0) && braces >= 0 && brackets >= 0) return;
    const item = this.parser.finish();
    this.resetMessage();
    this.emit(item);
  }

  private failMessage(error: QgaError): void {
    this.resetMessage();
    this.emit({ kind: 'error', error });
  }

  private resetMessage(): void {
    this.braceCount = 0;
    this.bracketCount = 0;
    this.messageBytes = 0;
    this.messageTokens = 0;
    this.parser.reset();
  }
}

/**
 * A null-prototype record (json-value.ts) that V8 keeps in fast mode. Object.create(null) starts in
 * dictionary mode, where storing a member under a freshly sliced (not yet internalized) name goes
 * through the runtime: ~1 µs per member, most of the cost of a small request.
 */
function fastNullPrototypeObject(): JsonObject {
  return Object.setPrototypeOf({}, null) as JsonObject;
}

/** Why a string or keyword token is not a value, as the text of a parse error. */
class DecodeFailure {
  constructor(readonly message: string) {}
}

function keywordValue(word: string): JsonValue | DecodeFailure {
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (word === 'null') return null;
  return new DecodeFailure(`invalid keyword '${word.length > PARSE_ERROR_MESSAGE_MAX ? word.slice(0, PARSE_ERROR_MESSAGE_MAX) : word}'`);
}

/** A token of at most 15 bytes has at most 15 digits: exact as a double, so no text is needed. */
const SMALL_INTEGER_BYTES = 15;

/**
 * An integer token of at most SMALL_INTEGER_BYTES bytes, read from the bytes: the common request
 * id costs neither a string slice nor BigInt's text parser. Such a value always fits int64.
 */
function smallIntegerValue(buf: Buffer, start: number, end: number): bigint {
  const negative = buf[start] === 0x2d;
  let n = 0;
  for (let i = negative ? start + 1 : start; i < end; i++) n = n * 10 + ((buf[i] as number) - 0x30);
  return BigInt(negative ? -n : n);
}

/** true / false / null straight from the bytes; undefined for any other word. */
function keywordFromBytes(buf: Buffer, start: number, end: number): boolean | null | undefined {
  const b = buf[start];
  const length = end - start;
  if (length === 4) {
    if (b === 0x74 && buf[start + 1] === 0x72 && buf[start + 2] === 0x75 && buf[start + 3] === 0x65) return true;
    if (b === 0x6e && buf[start + 1] === 0x75 && buf[start + 2] === 0x6c && buf[start + 3] === 0x6c) return null;
  } else if (length === 5 && b === 0x66) {
    if (buf[start + 1] === 0x61 && buf[start + 2] === 0x6c && buf[start + 3] === 0x73 && buf[start + 4] === 0x65) return false;
  }
  return undefined;
}

/** qemu: int64 if it fits, else uint64 if it fits (and is not negative), else a double. */
function integerValue(text: string): JsonValue {
  // BigInt() is only worth trying when the digits can fit: uint64 max has 20
  const digits = text.charCodeAt(0) === 0x2d ? text.length - 1 : text.length;
  if (digits <= 20) {
    const value = BigInt(text);
    if (value >= INT64_MIN && value <= UINT64_MAX) return value;
  }
  return Number(text);
}

// Parser expectations.
const EXPECT_VALUE = 0;
const EXPECT_ARRAY_FIRST = 1;
const EXPECT_ARRAY_SEPARATOR = 2;
const EXPECT_OBJECT_FIRST = 3;
const EXPECT_COLON = 4;
const EXPECT_OBJECT_SEPARATOR = 5;
const EXPECT_NOTHING = 6;

interface Frame {
  array: JsonValue[] | null;
  object: JsonObject | null;
  /** The value being parsed in this object is a member name (qemu parses any value there). */
  parsingKey: boolean;
  key: string;
}

/**
 * qemu's recursive-descent json-parser turned inside out: it takes one token at a time, keeps the
 * containers under construction on an explicit stack (no recursion, so depth is only bounded by
 * the streamer's nesting limit) and stops at the first error, whose text it keeps until dispatch.
 */
class IncrementalParser {
  error: QgaError | null = null;
  private expect = EXPECT_VALUE;
  private readonly frames: Frame[] = [];
  private result: JsonValue = null;

  reset(): void {
    this.error = null;
    this.expect = EXPECT_VALUE;
    if (this.frames.length !== 0) this.frames.length = 0;
    this.result = null;
  }

  /** The message is complete: its value, or the first error (qemu reports "premature EOI" when
   * tokens run out mid-value; with qemu's dispatch rule that cannot actually happen). */
  finish(): StreamItem {
    if (this.error !== null) return { kind: 'error', error: this.error };
    if (this.expect !== EXPECT_NOTHING) {
      return { kind: 'error', error: replyError(() => Errors.jsonParse('premature EOI')) };
    }
    return { kind: 'value', value: this.result };
  }

  fail(what: string): void {
    const message = what.length > PARSE_ERROR_MESSAGE_MAX ? what.slice(0, PARSE_ERROR_MESSAGE_MAX) : what;
    this.error = replyError(() => Errors.jsonParse(message));
  }

  /** True when the next token sits where qemu calls parse_value(); handles the closing shortcuts. */
  atValue(type: number): boolean {
    switch (this.expect) {
      case EXPECT_VALUE:
        return true;
      case EXPECT_ARRAY_FIRST:
        if (type === RSQUARE) {
          this.closeContainer();
          return false;
        }
        return true;
      case EXPECT_OBJECT_FIRST:
        if (type === RCURLY) {
          this.closeContainer();
          return false;
        }
        (this.frames[this.frames.length - 1] as Frame).parsingKey = true;
        return true;
      case EXPECT_ARRAY_SEPARATOR:
        if (type === RSQUARE) this.closeContainer();
        else if (type === COMMA) this.expect = EXPECT_VALUE;
        else this.fail('expected separator in list');
        return false;
      case EXPECT_OBJECT_SEPARATOR:
        if (type === RCURLY) {
          this.closeContainer();
        } else if (type === COMMA) {
          (this.frames[this.frames.length - 1] as Frame).parsingKey = true;
          this.expect = EXPECT_VALUE;
        } else {
          this.fail('expected separator in dict');
        }
        return false;
      case EXPECT_COLON:
        if (type === COLON) this.expect = EXPECT_VALUE;
        else this.fail('missing : in object pair');
        return false;
      default:
        // A complete value is always dispatched at once, so no token can follow it.
        this.fail('expecting value');
        return false;
    }
  }

  structural(type: number): void {
    if (!this.atValue(type)) return;
    if (type === LCURLY) {
      this.frames.push({ array: null, object: fastNullPrototypeObject(), parsingKey: true, key: '' });
      this.expect = EXPECT_OBJECT_FIRST;
    } else if (type === LSQUARE) {
      this.frames.push({ array: [], object: null, parsingKey: false, key: '' });
      this.expect = EXPECT_ARRAY_FIRST;
    } else {
      this.fail('expecting value');
    }
  }

  private closeContainer(): void {
    const frame = this.frames.pop() as Frame;
    this.complete(frame.array ?? (frame.object as JsonObject));
  }

  complete(value: JsonValue): void {
    // (frames[-1] would be a named-property lookup of "-1", V8's slow path)
    const depth = this.frames.length;
    const frame = depth === 0 ? undefined : this.frames[depth - 1];
    if (frame === undefined) {
      this.result = value;
      this.expect = EXPECT_NOTHING;
    } else if (frame.array !== null) {
      frame.array.push(value);
      this.expect = EXPECT_ARRAY_SEPARATOR;
    } else if (frame.parsingKey) {
      if (typeof value !== 'string') return this.fail('key is not a string in object');
      frame.parsingKey = false;
      frame.key = value;
      this.expect = EXPECT_COLON;
    } else {
      const object = frame.object as JsonObject;
      if (frame.key in object) return this.fail('duplicate key');
      object[frame.key] = value;
      this.expect = EXPECT_OBJECT_SEPARATOR;
    }
  }
}

/**
 * qemu's parse_string for tokens with escapes or non-ASCII bytes; `src[start]` is the opening
 * quote and `src[end - 1]` the closing one.
 */
function decodeString(src: Buffer, start: number, end: number): string | DecodeFailure {
  const close = end - 1;
  let out = '';
  let run = start + 1;
  let pos = run;
  while (pos < close) {
    const b = src[pos] as number;
    if (b < 0x80 && b !== 0x5c) {
      pos++;
      continue;
    }
    if (b !== 0x5c) {
      const seq = readModifiedUtf8(src, pos, end);
      if (seq < 0) return new DecodeFailure('invalid UTF-8 sequence in string');
      if (seq === 2) {
        // C0 80: qemu's spelling of U+0000
        out += src.toString('utf8', run, pos) + '\0';
        pos += 2;
        run = pos;
      } else {
        pos += seq & 7;
      }
      continue;
    }
    if (run < pos) out += src.toString('utf8', run, pos);
    const escapeAt = pos;
    const letter = src[pos + 1] as number;
    pos += 2;
    switch (letter) {
      case 0x22:
        out += '"';
        break;
      case 0x27:
        out += "'";
        break;
      case 0x5c:
        out += '\\';
        break;
      case 0x2f:
        out += '/';
        break;
      case 0x62:
        out += '\b';
        break;
      case 0x66:
        out += '\f';
        break;
      case 0x6e:
        out += '\n';
        break;
      case 0x72:
        out += '\r';
        break;
      case 0x74:
        out += '\t';
        break;
      case 0x75: {
        let cp = hex4(src, pos, end);
        pos += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && pos + 1 < end && src[pos] === 0x5c && src[pos + 1] === 0x75) {
          const low = hex4(src, pos + 2, end);
          if (low >= 0xdc00 && low <= 0xdfff) {
            cp = 0x10000 + ((cp & 0x3ff) << 10) + (low & 0x3ff);
            pos += 6;
          } else {
            cp = -1;
          }
        }
        if (!isValidCodepoint(cp)) {
          // qemu prints the escape with "%.*s", which stops at the token's terminating NUL
          const quoted = stringFromCBytes(src, escapeAt, Math.min(pos, end));
          return new DecodeFailure(`${quoted} is not a valid Unicode character`);
        }
        out += String.fromCodePoint(cp);
        break;
      }
      default:
        return new DecodeFailure('invalid escape sequence in string');
    }
    run = pos;
  }
  if (run < close) out += src.toString('utf8', run, close);
  return out;
}

/** Four hex digits at src[pos..] (bytes at or after `end` read as NUL), or -1. */
function hex4(src: Buffer, pos: number, end: number): number {
  let cp = 0;
  for (let i = 0; i < 4; i++) {
    const b = pos + i < end ? (src[pos + i] as number) : 0;
    let digit: number;
    if (b >= 0x30 && b <= 0x39) digit = b - 0x30;
    else if (b >= 0x61 && b <= 0x66) digit = b - 0x57;
    else if (b >= 0x41 && b <= 0x46) digit = b - 0x37;
    else return -1;
    cp = cp * 16 + digit;
  }
  return cp;
}
