/**
 * The building blocks of the generated reply validators (src/generated/qga-client.ts): zod schemas
 * over the JSON tree the stream lexer builds (integers are exact bigints), checking what an agent
 * sends back against the schema before a caller sees it.
 *
 * Deliberately more lenient than the argument validators in one way: an object may carry members
 * the schema does not know (they are kept). A newer agent adds members (total-bytes-privileged
 * came in 9.1), and a client must not break on them. Everything the schema does say is checked:
 * required members, JSON types, integer ranges, enum values, union branches.
 */
import { z, type ZodIssue, type ZodTypeAny } from 'zod';
import { INT64_MAX, INT64_MIN, UINT64_MAX } from '../protocol/json-value';
import { ReplyValidationError } from './client-errors';

type Leaf<T> = (v: unknown) => { value: T } | { expected: string };

function jsonKind(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function leaf<T>(check: Leaf<T>) {
  return z.any().transform((v: unknown, ctx): T => {
    const r = check(v);
    if ('expected' in r) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected ${r.expected}, got ${describeValue(v)}` });
      return z.NEVER;
    }
    return r.value;
  });
}

function describeValue(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return `${jsonKind(v)} ${String(v)}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return jsonKind(v);
}

function integer(min: bigint, max: bigint, what: string): Leaf<bigint> {
  return (v) => (typeof v === 'bigint' && v >= min && v <= max ? { value: v } : { expected: what });
}

export const builtin = {
  str: leaf<string>((v) => (typeof v === 'string' ? { value: v } : { expected: 'string' })),
  bool: leaf<boolean>((v) => (typeof v === 'boolean' ? { value: v } : { expected: 'boolean' })),
  // qemu prints a double with %.17g, so an integral value (a login time) arrives as an integer token.
  number: leaf<number>((v) =>
    typeof v === 'number' ? { value: v } : typeof v === 'bigint' ? { value: Number(v) } : { expected: 'number' },
  ),
  null: leaf<null>((v) => (v === null ? { value: null } : { expected: 'null' })),
  any: leaf<unknown>((v) => (v === undefined ? { expected: 'a value' } : { value: v })),
  int: leaf(integer(INT64_MIN, INT64_MAX, 'int64')),
  int64: leaf(integer(INT64_MIN, INT64_MAX, 'int64')),
  int8: leaf(integer(-128n, 127n, 'int8')),
  int16: leaf(integer(-32768n, 32767n, 'int16')),
  int32: leaf(integer(-(2n ** 31n), 2n ** 31n - 1n, 'int32')),
  uint8: leaf(integer(0n, 255n, 'uint8')),
  uint16: leaf(integer(0n, 65535n, 'uint16')),
  uint32: leaf(integer(0n, 2n ** 32n - 1n, 'uint32')),
  uint64: leaf(integer(0n, UINT64_MAX, 'uint64')),
  size: leaf(integer(0n, UINT64_MAX, 'size')),
};

export function enumOf(values: readonly string[]) {
  const allowed = new Set(values);
  return leaf<string>((v) => (typeof v === 'string' && allowed.has(v) ? { value: v } : { expected: `one of ${values.join('|')}` }));
}

export function struct<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape).passthrough();
}

export function list<T extends ZodTypeAny>(item: T) {
  return z.array(item);
}

/** Alternates pick their branch by the JSON type of the value, as qemu's visitors do. */
export function alternate(typeName: string, branches: Partial<Record<string, ZodTypeAny>>) {
  return z.any().transform((v: unknown, ctx) => {
    const kind = jsonKind(v) === 'integer' ? 'number' : jsonKind(v);
    const branch = branches[kind] ?? branches['any'];
    if (!branch) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected ${typeName}, got ${describeValue(v)}` });
      return z.NEVER;
    }
    const r = branch.safeParse(v);
    if (r.success) return r.data as unknown;
    for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  });
}

/** A union: the base members (with the discriminator), then the branch its value selects. */
export function union(discriminator: string, base: z.AnyZodObject, branches: Record<string, z.AnyZodObject>) {
  return z.any().transform((v: unknown, ctx) => {
    const b = base.safeParse(v);
    if (!b.success) {
      for (const issue of b.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
      return z.NEVER;
    }
    const branch = branches[String((b.data as Record<string, unknown>)[discriminator])];
    if (!branch) return b.data as unknown;
    const r = base.merge(branch).passthrough().safeParse(v);
    if (r.success) return r.data as unknown;
    for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  });
}

/** A command without a declared return value answers `{}`; anything else is tolerated as an object. */
export const emptyReturn = z
  .record(z.any())
  .transform((): undefined => undefined);

function pathText(path: (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? 'return' : `return.${out}`.replace('.[', '[');
}

function issueText(issue: ZodIssue): string {
  if (issue.code === z.ZodIssueCode.invalid_type) {
    return issue.received === 'undefined' ? `${pathText(issue.path)}: missing` : `${pathText(issue.path)}: expected ${issue.expected}, got ${issue.received}`;
  }
  return `${pathText(issue.path)}: ${issue.message}`;
}

/** Validate the `return` value of `command`'s reply. */
export function validateReply<T>(command: string, schema: ZodTypeAny, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data as T;
  throw new ReplyValidationError(command, r.error.issues.map(issueText), value);
}
