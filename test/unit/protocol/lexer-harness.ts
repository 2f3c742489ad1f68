/**
 * Test helpers: run bytes through a StreamLexer and render what qemu-ga would write back, for the
 * two kinds of values the recorded fixtures let reach the dispatcher (non-objects, and
 * guest-ping with an optional id). Anything else is a fixture bug and throws.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Errors, type QgaError } from '../../../src/protocol/errors';
import { isJsonObject } from '../../../src/protocol/json-value';
import { encodeJson } from '../../../src/protocol/json-writer';
import { StreamLexer, type LexerLimits, type StreamItem } from '../../../src/protocol/stream-lexer';

/** test/fixtures/protocol, found by walking up so it works under tsx and from dist/test/unit too. */
export const FIXTURES = findFixtures(__dirname);

function findFixtures(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', 'protocol');
    if (existsSync(join(candidate, 'lexer-cases.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`test/fixtures/protocol not found above ${from}`);
  }
}

export interface RecordedCase {
  name: string;
  input: Buffer;
  output: string;
}

export function loadRecordedCases(): RecordedCase[] {
  const raw = JSON.parse(readFileSync(join(FIXTURES, 'lexer-cases.json'), 'utf8')) as {
    cases: Array<{ name: string; input: string; output: string }>;
  };
  return raw.cases.map((c) => ({ name: c.name, input: Buffer.from(c.input, 'hex'), output: c.output }));
}

/** The recorder ends every case with 0xFF + LF, which also produces this line. */
export const SENTINEL = Buffer.from([0xff, 0x0a]);
export const SENTINEL_REPLY =
  '{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n';

export function errorReply(error: QgaError): string {
  return encodeJson({ error: { class: error.errorClass, desc: error.desc } }) + '\n';
}

export function reply(item: StreamItem): string {
  if (item.kind === 'error') return errorReply(item.error);
  const value = item.value;
  if (!isJsonObject(value)) return errorReply(Errors.inputNotObject());
  const names = Object.keys(value);
  if (value.execute !== 'guest-ping' || names.some((k) => k !== 'execute' && k !== 'id')) {
    throw new Error(`fixture request outside what the test dispatcher answers: ${names.join(',')}`);
  }
  return encodeJson({ return: {}, id: value.id }) + '\n';
}

/** Feeds the chunks to a fresh lexer and returns the replies it caused, in order. */
export function replies(chunks: Uint8Array[], limits?: Partial<LexerLimits>): string[] {
  const out: string[] = [];
  const lexer = new StreamLexer((item) => out.push(reply(item)), limits);
  for (const chunk of chunks) lexer.feed(chunk);
  return out;
}

export function collect(chunks: Uint8Array[], limits?: Partial<LexerLimits>): StreamItem[] {
  const out: StreamItem[] = [];
  const lexer = new StreamLexer((item) => out.push(item), limits);
  for (const chunk of chunks) lexer.feed(chunk);
  return out;
}

/** Deterministic PRNG (mulberry32) so random splits are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
