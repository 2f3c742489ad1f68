/**
 * qemu's QDict iterates members by hash bucket (tdb_hash(key) % 512, ascending), the most
 * recently inserted key first within a bucket (reference §1.1, Appendix A). The dispatcher checks
 * request members in this order and the writer emits members in it, so replies match qemu-ga.
 */
const BUCKETS = 512;

export function qdictBucket(key: string): number {
  // tdb_hash over the UTF-8 bytes, all in uint32 arithmetic.
  const bytes = Buffer.from(key, 'utf8');
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + ((bytes[i]! << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  const hash = (Math.imul(1103515243, value) + 12345) >>> 0;
  return hash % BUCKETS;
}

/** Keys in insertion order → keys in QDict iteration order. */
export function qdictOrder(keys: readonly string[]): string[] {
  if (keys.length < 2) return keys.slice();
  const decorated = keys.map((k, i) => ({ k, i, b: qdictBucket(k) }));
  decorated.sort((x, y) => x.b - y.b || y.i - x.i);
  return decorated.map((d) => d.k);
}
