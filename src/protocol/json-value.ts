/**
 * The JSON tree the protocol works on. JSON.parse cannot be used for requests: it loses int64
 * precision and cannot tell `1e3` from `1000`. So the lexer builds this tree itself:
 *
 * - integers (a number token without fraction or exponent) are `bigint`, exact at any size that
 *   fits int64/uint64; an integer token beyond uint64 becomes a `number`, as in qemu (QNum double);
 * - every other number token is a `number` (double);
 * - objects are null-prototype records, so a key like `__proto__` is an ordinary member.
 *
 * Values going out (handler results) may also use plain `number` for integers that fit in 2^53
 * and leave optional members `undefined`; the encoder skips undefined members.
 */
export type JsonValue = null | boolean | string | bigint | number | JsonValue[] | JsonObject;

export interface JsonObject {
  [key: string]: JsonValue;
}

export function newJsonObject(): JsonObject {
  // setPrototypeOf on a literal keeps V8 fast properties; Object.create(null) starts in dictionary mode.
  return Object.setPrototypeOf({}, null) as JsonObject;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;
