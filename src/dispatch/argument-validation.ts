/**
 * The building blocks the generated validators (src/generated/qga-validators.ts) are made of:
 * zod schemas over the exact JSON tree (integers are bigint), whose failures carry enough to
 * rebuild qemu-ga's texts (reference §1.2). `firstArgumentError` turns the first zod issue into the
 * QgaError qemu-ga would report: zod reports issues in schema member order and an object's
 * unknown keys after its declared members, which is qemu's order too.
 */
import { z, type ZodIssue, type ZodTypeAny } from 'zod';
import { Errors, type QgaError } from '../protocol/errors';
import { INT64_MAX, INT64_MIN, UINT64_MAX } from '../protocol/json-value';

type Failure =
  | { qga: 'missing' }
  | { qga: 'type'; expected: string }
  | { qga: 'expects'; what: string }
  | { qga: 'enum'; value: string };

type Check<T> = (v: unknown) => { value: T } | Failure;

function leaf<T>(check: Check<T>) {
  return z.any().transform((v: unknown, ctx): T => {
    const r: { value: T } | Failure = v === undefined ? { qga: 'missing' } : check(v);
    if ('qga' in r) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, params: r });
      return z.NEVER;
    }
    return r.value;
  });
}

const isInt = (v: unknown): v is bigint => typeof v === 'bigint';

function signed(bits: number): Check<bigint> {
  const min = -(2n ** BigInt(bits - 1));
  const max = 2n ** BigInt(bits - 1) - 1n;
  return (v) => {
    if (!isInt(v) || v < INT64_MIN || v > INT64_MAX) return { qga: 'type', expected: 'integer' };
    if (v < min || v > max) return { qga: 'expects', what: `int${bits}_t` };
    return { value: v };
  };
}

/** qemu's input visitor takes a uint64 from any int64 too, wrapping negatives. */
function unsigned(bits: number, what: string): Check<bigint> {
  const max = 2n ** BigInt(bits) - 1n;
  return (v) => {
    if (!isInt(v) || v < INT64_MIN || v > UINT64_MAX) return { qga: 'expects', what: bits === 64 ? what : 'uint64' };
    const u = v < 0n ? v + 2n ** 64n : v;
    if (u > max) return { qga: 'expects', what };
    return { value: u };
  };
}

const int64: Check<bigint> = (v) => (isInt(v) && v >= INT64_MIN && v <= INT64_MAX ? { value: v } : { qga: 'type', expected: 'integer' });

export const builtin = {
  str: leaf<string>((v) => (typeof v === 'string' ? { value: v } : { qga: 'type', expected: 'string' })),
  bool: leaf<boolean>((v) => (typeof v === 'boolean' ? { value: v } : { qga: 'type', expected: 'boolean' })),
  number: leaf<number>((v) =>
    typeof v === 'number' ? { value: v } : typeof v === 'bigint' ? { value: Number(v) } : { qga: 'type', expected: 'number' },
  ),
  null: leaf<null>((v) => (v === null ? { value: null } : { qga: 'type', expected: 'null' })),
  any: leaf<unknown>((v) => ({ value: v })),
  int: leaf(int64),
  int64: leaf(int64),
  int8: leaf(signed(8)),
  int16: leaf(signed(16)),
  int32: leaf(signed(32)),
  uint8: leaf(unsigned(8, 'uint8_t')),
  uint16: leaf(unsigned(16, 'uint16_t')),
  uint32: leaf(unsigned(32, 'uint32_t')),
  uint64: leaf(unsigned(64, 'uint64')),
  size: leaf(unsigned(64, 'size')),
};

export function enumOf<V extends string>(values: readonly V[]) {
  const allowed = new Set<string>(values);
  return leaf<V>((v) => {
    if (typeof v !== 'string') return { qga: 'type', expected: 'string' };
    return allowed.has(v) ? { value: v as V } : { qga: 'enum', value: v };
  });
}

export function struct<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape).strict();
}

/** A command's top-level arguments: like a struct (an absent `arguments` is validated as {}). */
export const args = struct;

export function list<T extends ZodTypeAny>(item: T) {
  return z.array(item);
}

/** Alternates pick their branch by the JSON type of the input, as qemu's generated visitors do. */
export function alternate<B extends Partial<Record<string, ZodTypeAny>>>(typeName: string, branches: B) {
  return z.any().transform((v: unknown, ctx) => {
    if (v === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, params: { qga: 'missing' } });
      return z.NEVER;
    }
    const kind = jsonKind(v);
    const branch = branches[kind] ?? (kind !== 'any' ? branches['any'] : undefined);
    if (!branch) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, params: { qga: 'type', expected: typeName } });
      return z.NEVER;
    }
    const r = branch.safeParse(v);
    if (r.success) return r.data as z.output<NonNullable<B[keyof B]>>;
    for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  });
}

/** Unions are output-only in qga's schema; as input they validate the base, then the branch. */
export function union<D extends string>(discriminator: D, base: z.AnyZodObject, branches: Record<string, z.AnyZodObject>) {
  return z.any().superRefine((v, ctx) => {
    const b = base.passthrough().safeParse(v);
    if (!b.success) {
      for (const issue of b.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
      return;
    }
    const branch = branches[String((b.data as Record<string, unknown>)[discriminator])];
    const merged = branch ? base.merge(branch).strict() : base.strict();
    const r = merged.safeParse(v);
    if (!r.success) for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
  });
}

function jsonKind(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** qemu's full_name(): `vcpus[0].online` */
function fullName(path: (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

export function issueToError(issue: ZodIssue): QgaError {
  const name = fullName(issue.path);
  if (issue.code === z.ZodIssueCode.custom) {
    const f = issue.params as Failure;
    switch (f.qga) {
      case 'missing':
        return Errors.parameterMissing(name);
      case 'type':
        return Errors.invalidParameterType(name, f.expected);
      case 'expects':
        return Errors.parameterExpects(name, f.what);
      case 'enum':
        return Errors.parameterValueRejected(name, f.value);
    }
  }
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const key = issue.keys[0] ?? '';
    return Errors.parameterUnexpected(name === '' ? key : `${name}.${key}`);
  }
  if (issue.code === z.ZodIssueCode.invalid_type) {
    if (issue.received === 'undefined') return Errors.parameterMissing(name);
    return Errors.invalidParameterType(name, issue.expected === 'object' ? 'object' : issue.expected === 'array' ? 'array' : issue.expected);
  }
  return Errors.generic(`Invalid parameter '${name}'`);
}

/** The outcome of validating a command's arguments. */
export type ArgumentCheck = { ok: true; value: unknown } | { ok: false; error: QgaError };

/** Validate, returning the typed arguments or qemu-ga's error for the first problem. */
export function validateArguments<T extends ZodTypeAny>(schema: T, input: unknown): { ok: true; value: z.output<T> } | { ok: false; error: QgaError } {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: issueToError(r.error.issues[0]!) };
}
