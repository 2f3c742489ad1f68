/**
 * JSON text for people and scripts on the host side: parsing exactly as the agent does (integers
 * stay exact bigints, qemu's single quotes are accepted) and printing in ordinary JSON (member
 * order kept, bigints as plain digits), unlike the agent's qemu-compatible writer.
 */
import type { JsonValue } from '../protocol/json-value';
import { StreamLexer } from '../protocol/stream-lexer';

/** Parse one JSON text (bigint integers, qemu's extensions). */
export function parseJsonText(text: string): JsonValue {
  const values: JsonValue[] = [];
  let error: string | null = null;
  const lexer = new StreamLexer((item) => {
    if (item.kind === 'value') values.push(item.value);
    else error ??= item.error.desc;
  });
  lexer.feed(Buffer.from(text, 'utf8'));
  // A bare number only ends at a delimiter.
  lexer.feed(Buffer.from(' ', 'latin1'));
  if (error !== null) throw new SyntaxError(error);
  if (values.length !== 1) throw new SyntaxError(values.length === 0 ? 'incomplete JSON text' : 'more than one JSON value');
  return values[0]!;
}

/** JSON.stringify for trees with bigints (written as exact digits); undefined members are left out. */
export function formatJson(value: unknown, indent = 0): string {
  const pad = (depth: number) => (indent > 0 ? '\n' + ' '.repeat(indent * depth) : '');
  const sep = indent > 0 ? ': ' : ':';
  const write = (v: unknown, depth: number): string => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (v === null || v === undefined) return 'null';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[${v.map((x) => pad(depth + 1) + write(x, depth + 1)).join(',')}${pad(depth)}]`;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    return `{${entries.map(([k, x]) => `${pad(depth + 1)}${JSON.stringify(k)}${sep}${write(x, depth + 1)}`).join(',')}${pad(depth)}}`;
  };
  return write(value, 0);
}
