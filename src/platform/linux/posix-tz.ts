/**
 * POSIX TZ rule strings ("CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30", "EST5EDT,M3.2.0,M11.1.0")
 * as GLib's GTimeZone accepts them. They reach guest-get-timezone two ways: the TZ environment
 * variable, and the footer of a TZif file (which rules the times after its last transition).
 *
 * Acceptance follows GLib 2.74 (what Debian 12's qemu-ga links), checked against that agent with
 * crafted TZ values:
 * - a name is three or more ASCII letters, or `<…>` holding three or more letters, digits, `+`
 *   or `-`; longer names are cut to 32 characters;
 * - an offset is `[+-]h[h][[:]mm[[:]ss]]` with at most 24 hours (minutes and seconds 00–59) and is
 *   west-positive, as POSIX says ("EST5" is UTC−5);
 * - a daylight name requires the `,start,end` rules (GLib, unlike glibc, has no default rules);
 *   a daylight offset that is missing — or zero, GLib cannot tell them apart — means one hour
 *   ahead of standard time;
 * - rule times are `[+-]hhh[:mm[:ss]]` up to ±167 hours (RFC 8536), default 02:00;
 *   `Jn` counts 1–365 without Feb 29, `n` counts 0–365 with it, `Mm.w.d` is weekday d of week w
 *   (5 = the last) of month m.
 *
 * The transition dates themselves are computed as POSIX defines them. Two GLib 2.74 quirks, seen
 * with crafted TZ values, are deliberately not copied: it reads `Jn` one day late (in 2026,
 * `J329` is Nov 25 for POSIX and Nov 26 for GLib), and a daylight period that wraps the year
 * (`J1/-1,J365/25`, always daylight) confuses its interval search into standard time. Neither form
 * occurs in tzdata footers, only in hand-written TZ values.
 */

export type PosixTzDate =
  | { kind: 'month-week-day'; month: number; week: number; weekday: number }
  | { kind: 'julian-no-leap'; day: number }
  | { kind: 'julian-zero'; day: number };

export interface PosixTzBoundary {
  date: PosixTzDate;
  /** seconds after local midnight; may be negative or beyond 24 h */
  time: number;
}

export interface PosixTz {
  standardName: string;
  /** seconds east of UTC */
  standardOffset: number;
  daylight?: {
    name: string;
    /** seconds east of UTC */
    offset: number;
    start: PosixTzBoundary;
    end: PosixTzBoundary;
  };
}

/** What a zone says about one instant. */
export interface ZoneInterval {
  /** seconds east of UTC */
  offset: number;
  abbreviation: string;
  isDst: boolean;
}

const NAME_MAX = 32;
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAsciiAlpha = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z]$/.test(c);
const isQuotedNameChar = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9+-]$/.test(c);

interface Cursor {
  text: string;
  pos: number;
}

function readName(cursor: Cursor): string | null {
  const { text } = cursor;
  let start = cursor.pos;
  let end: number;
  if (text[start] === '<') {
    start++;
    end = start;
    while (isQuotedNameChar(text[end])) end++;
    if (text[end] !== '>') return null;
    cursor.pos = end + 1;
  } else {
    end = start;
    while (isAsciiAlpha(text[end])) end++;
    cursor.pos = end;
  }
  if (end - start < 3) return null;
  return text.slice(start, Math.min(end, start + NAME_MAX));
}

/**
 * GLib's parse_time. `value` holds what was accumulated even when parsing fails part-way: GLib
 * keeps that partial daylight offset, and so do we.
 */
function parseClock(text: string, rfc8536: boolean): { ok: boolean; value: number } {
  let i = 0;
  let value = 0;
  const fail = () => ({ ok: false, value });
  if (!isDigit(text[i])) return fail();
  value = 3600 * Number(text[i++]);
  if (i === text.length) return { ok: true, value };
  if (text[i] !== ':') {
    if (!isDigit(text[i])) return fail();
    value = value * 10 + 3600 * Number(text[i++]);
    if (rfc8536) {
      if (isDigit(text[i])) value = value * 10 + 3600 * Number(text[i++]);
      if (value > 167 * 3600) return fail();
    } else if (value > 24 * 3600) {
      return fail();
    }
    if (i === text.length) return { ok: true, value };
  }
  if (text[i] === ':') i++;
  else if (rfc8536) return fail();
  if (!(text[i] !== undefined && text[i]! >= '0' && text[i]! <= '5')) return fail();
  value += 600 * Number(text[i++]);
  if (!isDigit(text[i])) return fail();
  value += 60 * Number(text[i++]);
  if (i === text.length) return { ok: true, value };
  if (text[i] === ':') i++;
  else if (rfc8536) return fail();
  if (!(text[i] !== undefined && text[i]! >= '0' && text[i]! <= '5')) return fail();
  value += 10 * Number(text[i++]);
  if (!isDigit(text[i])) return fail();
  value += Number(text[i++]);
  return { ok: i === text.length, value };
}

/** GLib's parse_constant_offset: the value as written (east-positive), with its partial result. */
function parseSignedClock(text: string, rfc8536: boolean): { ok: boolean; value: number } {
  if (isDigit(text[0])) return parseClock(text, rfc8536);
  if (text[0] === '+') return parseClock(text.slice(1), rfc8536);
  if (text[0] === '-') {
    const r = parseClock(text.slice(1), rfc8536);
    return r.ok ? { ok: true, value: 0 - r.value } : r;
  }
  return { ok: false, value: 0 };
}

/**
 * A constant-offset zone name as GLib takes it before anything else (TZ=`UTC`, `Z`, `+05:30`,
 * `-3`, `0530`…): RFC 3339 style, east-positive, hours up to 24. Null when it is not one.
 */
export function parseConstantOffset(text: string): number | null {
  if (text === 'UTC') return 0;
  if (text[0] === 'Z') return text === 'Z' ? 0 : null;
  const r = parseSignedClock(text, false);
  return r.ok ? r.value : null;
}

/** The run of `[+-:0-9]` at the cursor, as a signed clock value. */
function readOffset(cursor: Cursor): { ok: boolean; value: number } {
  const start = cursor.pos;
  while (/^[+\-:0-9]$/.test(cursor.text[cursor.pos] ?? '')) cursor.pos++;
  return parseSignedClock(cursor.text.slice(start, cursor.pos), false);
}

function parseDate(text: string): { date: PosixTzDate; rest: string } | null {
  if (text[0] === 'M') {
    let i = 1;
    if (!isDigit(text[i])) return null;
    let month = Number(text[i++]);
    if ((month === 1 && /^[0-2]$/.test(text[i] ?? '')) || (month === 0 && isDigit(text[i]))) {
      month = month * 10 + Number(text[i++]);
    }
    if (text[i++] !== '.' || month === 0) return null;
    if (!/^[1-5]$/.test(text[i] ?? '')) return null;
    const week = Number(text[i++]);
    if (text[i++] !== '.') return null;
    if (!/^[0-6]$/.test(text[i] ?? '')) return null;
    const weekday = Number(text[i++]);
    return { date: { kind: 'month-week-day', month, week, weekday }, rest: text.slice(i) };
  }
  const noLeap = text[0] === 'J';
  let i = noLeap ? 1 : 0;
  if (!noLeap && !isDigit(text[0])) return null;
  let day = 0;
  while (isDigit(text[i])) day = day * 10 + Number(text[i++]);
  if (noLeap ? day < 1 || day > 365 : day > 365) return null;
  return { date: noLeap ? { kind: 'julian-no-leap', day } : { kind: 'julian-zero', day }, rest: text.slice(i) };
}

function parseBoundary(text: string): PosixTzBoundary | null {
  const parsed = parseDate(text);
  if (parsed === null) return null;
  if (parsed.rest === '') return { date: parsed.date, time: 2 * 3600 };
  if (parsed.rest[0] !== '/') return null;
  const time = parseSignedClock(parsed.rest.slice(1), true);
  return time.ok ? { date: parsed.date, time: time.value } : null;
}

/** GLib's rules_from_identifier: the rule, or null when GLib would not take the string as one. */
export function parsePosixTz(text: string): PosixTz | null {
  const cursor: Cursor = { text, pos: 0 };
  const standardName = readName(cursor);
  if (standardName === null) return null;
  const standard = readOffset(cursor);
  if (!standard.ok) return null;
  // `0 - x`, not `-x`: an offset of zero must not become -0 (JSON would print "-0").
  const rule: PosixTz = { standardName, standardOffset: 0 - standard.value };
  if (cursor.pos === text.length) return rule;

  const daylightName = readName(cursor);
  if (daylightName === null) return null;
  const daylight = readOffset(cursor);
  // GLib keeps whatever the offset parser accumulated and takes 0 as "not given".
  const daylightWest = daylight.value === 0 ? 0 - rule.standardOffset - 3600 : daylight.value;
  if (text[cursor.pos] !== ',') return null;
  const [startText, endText] = text.slice(cursor.pos + 1).split(',');
  if (startText === undefined || endText === undefined) return null;
  const start = parseBoundary(startText);
  const end = parseBoundary(endText);
  if (start === null || end === null) return null;
  rule.daylight = { name: daylightName, offset: 0 - daylightWest, start, end };
  return rule;
}

const DAY = 86400;

const isLeapYear = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Days since the epoch of a proleptic Gregorian date (month 1–12). */
function daysFromCivil(year: number, month: number, day: number): number {
  return Math.floor(Date.UTC(year, month - 1, day) / 1000 / DAY);
}

/** The local date (days since the epoch) a rule date names in `year`. */
function ruleDay(date: PosixTzDate, year: number): number {
  const jan1 = daysFromCivil(year, 1, 1);
  switch (date.kind) {
    case 'julian-zero':
      return jan1 + date.day;
    case 'julian-no-leap':
      return jan1 + date.day - 1 + (isLeapYear(year) && date.day >= 60 ? 1 : 0);
    case 'month-week-day': {
      const first = daysFromCivil(year, date.month, 1);
      const daysInMonth = daysFromCivil(year + (date.month === 12 ? 1 : 0), (date.month % 12) + 1, 1) - first;
      // 1970-01-01 was a Thursday (weekday 4).
      const firstWeekday = (((first + 4) % 7) + 7) % 7;
      let offset = (date.weekday - firstWeekday + 7) % 7 + 7 * (date.week - 1);
      while (offset >= daysInMonth) offset -= 7;
      return first + offset;
    }
  }
}

/** Which part of a rule applies at `utcSeconds`. */
export function posixTzAt(rule: PosixTz, utcSeconds: number): ZoneInterval {
  const standard: ZoneInterval = { offset: rule.standardOffset, abbreviation: rule.standardName, isDst: false };
  const dst = rule.daylight;
  if (dst === undefined) return standard;
  const daylight: ZoneInterval = { offset: dst.offset, abbreviation: dst.name, isDst: true };
  const year = new Date((utcSeconds + rule.standardOffset) * 1000).getUTCFullYear();
  const changes: Array<{ at: number; to: ZoneInterval }> = [];
  for (let y = year - 1; y <= year + 1; y++) {
    // A change happens at the local wall-clock time of the rule, read in the offset in force before it.
    changes.push({ at: ruleDay(dst.start.date, y) * DAY + dst.start.time - rule.standardOffset, to: daylight });
    changes.push({ at: ruleDay(dst.end.date, y) * DAY + dst.end.time - dst.offset, to: standard });
  }
  changes.sort((a, b) => a.at - b.at);
  let current = standard;
  for (const change of changes) {
    if (change.at > utcSeconds) break;
    current = change.to;
  }
  return current;
}
