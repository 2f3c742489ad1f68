/**
 * qemu's QDict iterates members by hash bucket (tdb_hash(key) % 512, ascending), the most
 * recently inserted key first within a bucket (reference §1.1, Appendix A). The dispatcher checks
 * request members in this order, as qmp_dispatch does; the JSON writer emits members in it.
 */
import { qdictBucket } from './json-writer';

/** Keys in insertion order → keys in QDict iteration order. */
export function qdictOrder(keys: readonly string[]): string[] {
  if (keys.length < 2) return keys.slice();
  const decorated = keys.map((k, i) => ({ k, i, b: qdictBucket(k) }));
  decorated.sort((x, y) => x.b - y.b || y.i - x.i);
  return decorated.map((d) => d.k);
}
