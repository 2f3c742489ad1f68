/**
 * /sys/devices/system/memory/block_size_bytes → bytes. The kernel writes the size in hex without
 * `0x` (`8000000` is 128 MiB). qemu-ga reads at most 20 bytes and converts them with
 * strtol(buf, NULL, 16), so this follows strtol: leading whitespace, an optional sign and `0x`
 * prefix, then hex digits up to the first other character; no digits gives 0, and an out-of-range
 * value saturates at LONG_MAX / LONG_MIN. The long is then stored in the uint64 `size`.
 */
export function parseMemoryBlockSize(text: string): bigint {
  const head = text.slice(0, 20);
  const match = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]*)/.exec(head) as RegExpExecArray;
  const digits = match[2] as string;
  if (digits === '') return 0n;
  const magnitude = BigInt(`0x${digits}`);
  const longMax = (1n << 63n) - 1n;
  let value = match[1] === '-' ? -magnitude : magnitude;
  if (value > longMax) value = longMax;
  if (value < -longMax - 1n) value = -longMax - 1n;
  return BigInt.asUintN(64, value);
}
