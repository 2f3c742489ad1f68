/**
 * /proc/meminfo → name → value. Lines with a `kB` unit are converted to bytes (× 1024); the few
 * unit-less lines (HugePages_Total, HugePages_Free, …) are counts and are kept as they are.
 * Lines that do not look like `Name: number [kB]` are ignored. The record has no prototype, so a
 * key can never collide with an Object method.
 */
export function parseMeminfo(text: string): Record<string, bigint> {
  const values = Object.create(null) as Record<string, bigint>;
  for (const line of text.split('\n')) {
    const match = /^([^:\s]+):\s*([0-9]+)(?:\s+(kB))?\s*$/.exec(line);
    if (match === null) continue;
    const value = BigInt(match[2] as string);
    values[match[1] as string] = match[3] === 'kB' ? value * 1024n : value;
  }
  return values;
}
