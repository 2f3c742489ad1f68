/** Writes small TZif files (RFC 8536) for the time-zone tests. */

export interface TzifSpec {
  /** '\0', '2', '3' … */
  version?: string;
  transitions?: number[];
  transitionTypes?: number[];
  types: Array<{ utOffset: number; isDst: boolean; abbreviation: string }>;
  /** v2+: the footer's TZ string ('' for an empty footer) */
  footer?: string;
  leapSeconds?: number;
}

function block(spec: TzifSpec, timeSize: 4 | 8): Buffer {
  const transitions = spec.transitions ?? [];
  const abbreviations: string[] = [];
  const indexOf = (a: string): number => {
    let at = 0;
    for (const known of abbreviations) {
      if (known === a) return at;
      at += known.length + 1;
    }
    abbreviations.push(a);
    return at;
  };
  const typeBytes = spec.types.map((t) => {
    const b = Buffer.alloc(6);
    b.writeInt32BE(t.utOffset, 0);
    b.writeUInt8(t.isDst ? 1 : 0, 4);
    b.writeUInt8(indexOf(t.abbreviation), 5);
    return b;
  });
  const chars = Buffer.from(abbreviations.map((a) => `${a}\0`).join(''), 'latin1');
  const leaps = spec.leapSeconds ?? 0;
  const header = Buffer.alloc(44);
  header.write('TZif', 0, 'latin1');
  header.write(spec.version ?? '2', 4, 'latin1');
  header.writeUInt32BE(0, 20);
  header.writeUInt32BE(0, 24);
  header.writeUInt32BE(leaps, 28);
  header.writeUInt32BE(transitions.length, 32);
  header.writeUInt32BE(spec.types.length, 36);
  header.writeUInt32BE(chars.length, 40);
  const times = Buffer.alloc(transitions.length * timeSize);
  // The 32-bit block cannot hold every instant; clamping keeps the builder simple (readers of v2+ skip it).
  const clamp32 = (t: number): number => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, t));
  transitions.forEach((t, i) => (timeSize === 8 ? times.writeBigInt64BE(BigInt(t), i * 8) : times.writeInt32BE(clamp32(t), i * 4)));
  const leapRecords = Buffer.alloc(leaps * (timeSize + 4));
  return Buffer.concat([header, times, Buffer.from(spec.transitionTypes ?? []), ...typeBytes, chars, leapRecords]);
}

export function buildTzif(spec: TzifSpec): Buffer {
  const version = spec.version ?? '2';
  if (version === '\0') return block(spec, 4);
  // A real v2 file repeats the data with 32-bit times first; old readers stop there.
  return Buffer.concat([block(spec, 4), block(spec, 8), Buffer.from(`\n${spec.footer ?? ''}\n`, 'latin1')]);
}
