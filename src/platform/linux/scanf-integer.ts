/**
 * How glibc's sscanf turns one whitespace-delimited token into the C variable qemu-ga declared.
 * qemu-ga reads /proc files with sscanf into `int`, `unsigned int`, `unsigned long` and
 * `long long` variables; the wire value is whatever ended up in that variable, including the
 * wrap-around of a `%x` read into an `int` (see proc-net-route.ts). Reproducing the conversion
 * rather than "parsing a number" keeps those corner cases identical.
 *
 * glibc converts every integer with strtoul/strtol on a 64-bit long, then narrows to the
 * destination width by truncation: `%u`/`%x` → (unsigned int), `%d` → (int).
 *
 * Deliberate simplification: a token must be a number as a whole. sscanf would also accept the
 * numeric prefix of `12abc` and fail on the next conversion; the kernel never prints such tokens.
 */
export type ScanfIntegerConversion =
  | '%d' // int
  | '%u' // unsigned int
  | '%x' // unsigned int, hexadecimal
  | '%lu' // unsigned long (64-bit)
  | '%lld'; // long long

const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

const DECIMAL = /^([+-]?)([0-9]+)$/;
const HEXADECIMAL = /^([+-]?)(?:0[xX])?([0-9a-fA-F]+)$/;

/** The value stored by `sscanf(token, conversion, &var)`, or null when the conversion fails. */
export function scanfInteger(token: string, conversion: ScanfIntegerConversion): bigint | null {
  const match = (conversion === '%x' ? HEXADECIMAL : DECIMAL).exec(token);
  if (match === null) return null;
  const negative = match[1] === '-';
  const magnitude = BigInt(conversion === '%x' ? `0x${match[2]}` : (match[2] as string));

  if (conversion === '%d' || conversion === '%lld') {
    // strtol: clamps to the long range.
    let value = negative ? -magnitude : magnitude;
    if (value > I64_MAX) value = I64_MAX;
    if (value < I64_MIN) value = I64_MIN;
    return conversion === '%d' ? BigInt.asIntN(32, value) : value;
  }

  // strtoul: an out-of-range magnitude gives ULONG_MAX; a minus sign negates modulo 2^64.
  let value = magnitude > U64_MAX ? U64_MAX : negative ? BigInt.asUintN(64, -magnitude) : magnitude;
  if (conversion !== '%lu') value = BigInt.asUintN(32, value);
  return value;
}

/** Splits a line the way a run of `%…` conversions separated by spaces consumes it. */
export function scanfTokens(line: string): string[] {
  return line.split(/[ \t\n\v\f\r]+/).filter((t) => t !== '');
}
