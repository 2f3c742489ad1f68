/**
 * TZif files (RFC 8536: /etc/localtime, /usr/share/zoneinfo/*) → transitions, local time types and
 * the footer's POSIX TZ string. qemu-ga gets its guest-get-timezone answer from GLib's GTimeZone,
 * which reads these files itself (not through the C library), so we read them the same way instead
 * of asking Intl, whose abbreviations are CLDR's ("GMT+1") rather than the file's ("CET").
 */

export interface TzifLocalTimeType {
  /** seconds east of UTC */
  utOffset: number;
  isDst: boolean;
  abbreviation: string;
}

export interface TzifData {
  /** '\0' → 1, '2' → 2, … */
  version: number;
  /** transition instants, seconds since the epoch, ascending */
  transitions: number[];
  /** for each transition, the index into `types` that applies from it on */
  transitionTypes: number[];
  types: TzifLocalTimeType[];
  /** the POSIX TZ string of a version 2+ footer ('' when the footer is empty), null for v1 */
  footer: string | null;
}

const HEADER_SIZE = 44;

interface Counts {
  isUt: number;
  isStd: number;
  leap: number;
  time: number;
  type: number;
  char: number;
}

function readCounts(view: DataView, at: number): Counts {
  return {
    isUt: view.getUint32(at + 20),
    isStd: view.getUint32(at + 24),
    leap: view.getUint32(at + 28),
    time: view.getUint32(at + 32),
    type: view.getUint32(at + 36),
    char: view.getUint32(at + 40),
  };
}

function blockSize(c: Counts, timeSize: 4 | 8): number {
  return c.time * timeSize + c.time + c.type * 6 + c.char + c.leap * (timeSize + 4) + c.isStd + c.isUt;
}

/** A NUL-terminated string inside the abbreviation table (the whole rest if no NUL). */
function abbreviationAt(bytes: Uint8Array, start: number, end: number, index: number): string | null {
  if (index >= end - start) return null;
  let stop = start + index;
  while (stop < end && bytes[stop] !== 0) stop++;
  return Buffer.from(bytes.subarray(start + index, stop)).toString('latin1');
}

/** The parsed file, or null when it is not a well-formed TZif file. */
export function parseTzif(bytes: Uint8Array): TzifData | null {
  if (bytes.length < HEADER_SIZE) return null;
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== 'TZif') return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const versionByte = bytes[4] as number;
  const version = versionByte === 0 ? 1 : versionByte - 0x30;
  if (version < 1 || version > 9) return null;

  let header = 0;
  let timeSize: 4 | 8 = 4;
  let counts = readCounts(view, header);
  if (version >= 2) {
    // The version 1 block only exists for old readers; the 64-bit block after it is complete.
    header = HEADER_SIZE + blockSize(counts, 4);
    if (header + HEADER_SIZE > bytes.length) return null;
    if (Buffer.from(bytes.subarray(header, header + 4)).toString('latin1') !== 'TZif') return null;
    counts = readCounts(view, header);
    timeSize = 8;
  }
  if (counts.type === 0) return null;
  const dataStart = header + HEADER_SIZE;
  const dataEnd = dataStart + blockSize(counts, timeSize);
  if (dataEnd > bytes.length) return null;

  const transitions: number[] = [];
  let at = dataStart;
  for (let i = 0; i < counts.time; i++, at += timeSize) {
    transitions.push(timeSize === 8 ? Number(view.getBigInt64(at)) : view.getInt32(at));
  }
  const transitionTypes: number[] = [];
  for (let i = 0; i < counts.time; i++, at++) {
    const type = bytes[at] as number;
    if (type >= counts.type) return null;
    transitionTypes.push(type);
  }
  const typesStart = at;
  const charsStart = typesStart + counts.type * 6;
  const charsEnd = charsStart + counts.char;
  const types: TzifLocalTimeType[] = [];
  for (let i = 0; i < counts.type; i++) {
    const entry = typesStart + i * 6;
    const abbreviation = abbreviationAt(bytes, charsStart, charsEnd, bytes[entry + 5] as number);
    if (abbreviation === null) return null;
    types.push({ utOffset: view.getInt32(entry), isDst: bytes[entry + 4] !== 0, abbreviation });
  }

  let footer: string | null = null;
  if (version >= 2) {
    // "\n" TZ-string "\n" right after the data block.
    if (bytes[dataEnd] === 0x0a) {
      const close = bytes.indexOf(0x0a, dataEnd + 1);
      if (close > dataEnd) footer = Buffer.from(bytes.subarray(dataEnd + 1, close)).toString('latin1');
    }
  }
  return { version, transitions, transitionTypes, types, footer };
}
