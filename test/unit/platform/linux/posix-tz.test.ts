import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConstantOffset, parsePosixTz, posixTzAt } from '../../../../src/platform/linux/posix-tz';

const at = (iso: string): number => Date.parse(iso) / 1000;

describe('parsePosixTz', () => {
  it('reads a standard-time-only rule (offsets are west-positive)', () => {
    assert.deepEqual(parsePosixTz('EST5'), { standardName: 'EST', standardOffset: -18000 });
    assert.deepEqual(parsePosixTz('XYZ-3:30:30'), { standardName: 'XYZ', standardOffset: 12630 });
    assert.deepEqual(parsePosixTz('<+0330>-3:30'), { standardName: '+0330', standardOffset: 12600 });
    assert.deepEqual(parsePosixTz('<-02>+2'), { standardName: '-02', standardOffset: -7200 });
    assert.deepEqual(parsePosixTz('xyz3'), { standardName: 'xyz', standardOffset: -10800 });
  });

  it('never produces -0 (JSON would print it)', () => {
    assert.ok(Object.is(parsePosixTz('UTC0')?.standardOffset, 0));
    assert.ok(Object.is(parsePosixTz('UTC-0')?.standardOffset, 0));
    assert.ok(Object.is(parseConstantOffset('-0'), 0));
  });

  it('reads daylight rules in all three date forms', () => {
    assert.deepEqual(parsePosixTz('CET-1CEST,M3.5.0,M10.5.0/3'), {
      standardName: 'CET',
      standardOffset: 3600,
      daylight: {
        name: 'CEST',
        offset: 7200,
        start: { date: { kind: 'month-week-day', month: 3, week: 5, weekday: 0 }, time: 7200 },
        end: { date: { kind: 'month-week-day', month: 10, week: 5, weekday: 0 }, time: 10800 },
      },
    });
    const j = parsePosixTz('XYZ3XYW2,J60/-1,300/167');
    assert.deepEqual(j?.daylight?.start, { date: { kind: 'julian-no-leap', day: 60 }, time: -3600 });
    assert.deepEqual(j?.daylight?.end, { date: { kind: 'julian-zero', day: 300 }, time: 167 * 3600 });
    assert.equal(j?.daylight?.offset, -7200);
  });

  it('takes a missing or zero daylight offset as one hour ahead, and keeps a half-parsed one', () => {
    assert.equal(parsePosixTz('EST5EDT,M3.2.0,M11.1.0')?.daylight?.offset, -14400);
    assert.equal(parsePosixTz('XYZ3XYW0,M3.2.0,M11.1.0')?.daylight?.offset, -7200);
    // GLib's parse_time stops at ":7" but has already stored 2 hours.
    assert.equal(parsePosixTz('XYZ3XYW2:7,M11.1.0,M3.2.0')?.daylight?.offset, -7200);
  });

  it('cuts long names at 32 characters', () => {
    assert.equal(parsePosixTz('ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ3')?.standardName, 'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF');
  });

  it("refuses what GLib 2.74 refuses (checked against Debian's qemu-ga)", () => {
    for (const text of [
      'XYZ3XYY', // daylight name without rules
      'NST3:30NDT',
      'XYZ+3:30:30XYW+2',
      'XYZ25', // more than 24 hours
      'XYZ3:60',
      '<A>3', // names need three characters
      '<AB>3',
      'A1B3', // unquoted names are letters only
      'XYZ 3',
      'XYZ3 ',
      'XYZ3XYZ',
      'XYZ3XYW2,M13.1.0,M11.1.0', // month 13
      'XYZ3XYW,M3.2.0,M11.1.0/', // empty time
      'XYZ3XYZ2,M3.2.0/168,M11.1.0', // rule times stop at 167 hours
      'XYZ3XYW,M3.2.0', // no end
      'Europe/Berlin',
      'abc',
      '',
    ]) {
      assert.equal(parsePosixTz(text), null, text);
    }
    assert.ok(parsePosixTz('XYZ24'));
    assert.ok(parsePosixTz('XYZ-24:59'));
    assert.ok(parsePosixTz('XYZ3XYZ2,M3.2.0/-167,M11.1.0'));
    assert.ok(parsePosixTz('XYZ3XYW,M11.4.0,M3.2.0,xyz'), 'text after the end rule is ignored');
  });
});

describe('parseConstantOffset', () => {
  it('reads RFC 3339 / ISO 8601 offsets east-positive, as GLib tries them first', () => {
    const cases: Array<[string, number | null]> = [
      ['UTC', 0],
      ['Z', 0],
      ['+05:30', 19800],
      ['+0530', 19800],
      ['5', 18000],
      ['-3', -10800],
      ['0530', 19800],
      ['24', 86400],
      ['+24:00', 86400],
      ['05:30:30', 19830],
      ['0530:30', 19830],
      ['1:30', 5400],
      ['25', null],
      ['Z1', null],
      ['UTC0', null],
      ['+', null],
      ['-', null],
      ['', null],
      ['EST5', null],
    ];
    for (const [text, expected] of cases) assert.equal(parseConstantOffset(text), expected, text);
  });
});

describe('posixTzAt', () => {
  it('switches at the rule instants, read in the offset in force before each change', () => {
    const cet = parsePosixTz('CET-1CEST,M3.5.0,M10.5.0/3')!;
    // 2026: last Sunday of March is the 29th (02:00 CET = 01:00Z), of October the 25th (03:00 CEST = 01:00Z).
    assert.equal(posixTzAt(cet, at('2026-03-29T00:59:59Z')).abbreviation, 'CET');
    assert.deepEqual(posixTzAt(cet, at('2026-03-29T01:00:00Z')), { offset: 7200, abbreviation: 'CEST', isDst: true });
    assert.equal(posixTzAt(cet, at('2026-10-25T00:59:59Z')).abbreviation, 'CEST');
    assert.deepEqual(posixTzAt(cet, at('2026-10-25T01:00:00Z')), { offset: 3600, abbreviation: 'CET', isDst: false });
  });

  it('handles the southern hemisphere (daylight over new year)', () => {
    const rule = parsePosixTz('XYZ3XYW,M11.1.0,M3.2.0')!;
    assert.equal(posixTzAt(rule, at('2026-11-25T21:20:00Z')).abbreviation, 'XYW');
    assert.equal(posixTzAt(rule, at('2027-01-15T00:00:00Z')).abbreviation, 'XYW');
    assert.equal(posixTzAt(rule, at('2026-06-01T00:00:00Z')).abbreviation, 'XYZ');
  });

  it('finds "the last weekday" in 30-day months', () => {
    // November 2026 starts on a Sunday: the last Tuesday is the 24th (qemu-ga 7.2 agrees).
    const nov = parsePosixTz('XYZ3XYW,M11.5.2,M3.2.0')!;
    assert.equal(posixTzAt(nov, at('2026-11-24T04:59:59Z')).abbreviation, 'XYZ');
    assert.equal(posixTzAt(nov, at('2026-11-24T05:00:00Z')).abbreviation, 'XYW');
    // April 2026 starts on a Wednesday: the last Friday is the 24th.
    const egypt = parsePosixTz('EET-2EEST,M4.5.5/0,M10.5.4/24')!;
    assert.equal(posixTzAt(egypt, at('2026-04-23T21:59:59Z')).abbreviation, 'EET');
    assert.equal(posixTzAt(egypt, at('2026-04-23T22:00:00Z')).abbreviation, 'EEST');
    // The last Thursday of October 2026 is the 29th; "/24" is the end of that day.
    assert.equal(posixTzAt(egypt, at('2026-10-29T20:59:59Z')).abbreviation, 'EEST');
    assert.equal(posixTzAt(egypt, at('2026-10-29T21:00:00Z')).abbreviation, 'EET');
  });

  it('counts Jn without Feb 29 and n with it', () => {
    const julian = parsePosixTz('XYZ0XYW,J60/0,J61/0')!; // DST on March 1 only
    assert.equal(posixTzAt(julian, at('2028-02-29T12:00:00Z')).abbreviation, 'XYZ', 'leap day is not J60');
    assert.equal(posixTzAt(julian, at('2028-03-01T12:00:00Z')).abbreviation, 'XYW');
    const zero = parsePosixTz('XYZ0XYW,59/0,60/0')!; // day 59: Feb 29 in a leap year, March 1 otherwise
    assert.equal(posixTzAt(zero, at('2028-02-29T12:00:00Z')).abbreviation, 'XYW');
    assert.equal(posixTzAt(zero, at('2027-03-01T12:00:00Z')).abbreviation, 'XYW');
    assert.equal(posixTzAt(zero, at('2027-02-28T12:00:00Z')).abbreviation, 'XYZ');
  });

  it("differs from GLib's Jn, which is one day late", () => {
    // qemu-ga 7.2 answered XYW here: for GLib, J329 of 2026 is November 26.
    assert.equal(posixTzAt(parsePosixTz('XYZ3XYW,M3.2.0,J329')!, at('2026-11-25T21:20:00Z')).abbreviation, 'XYZ');
  });

  it('matches the answers of qemu-ga 7.2 (GLib 2.74) at 2026-11-25T21:20Z', () => {
    const now = at('2026-11-25T21:20:00Z');
    const cases: Array<[string, string, number]> = [
      ['XYZ3XYY,M3.2.0,M11.1.0', 'XYZ', -10800],
      ['NST+3:30NDT,M3.2.0,M11.1.0', 'NST', -12600],
      ['XYZ3XYZ2,J60,J300', 'XYZ', -10800],
      ['XYZ3XYZ2,0,364', 'XYZ', -7200],
      ['XYZ3XYW,M11.4.3/2,M3.2.0', 'XYW', -7200],
      ['XYZ3XYW,M11.4.4/2,M3.2.0', 'XYZ', -10800],
      ['XYZ3XYW,M11.4.0/25,M3.2.0', 'XYW', -7200],
      ['XYZ3XYW,M11.4.3/23,M3.2.0', 'XYZ', -10800],
      ['XYZ3XYW,M11.5.0,M3.2.0', 'XYZ', -10800],
      ['XYZ3XYW,328,60', 'XYW', -7200],
      ['XYZ3XYW,329,60', 'XYZ', -10800],
      ['XYZ3XYW,M11.5.1,M3.2.0', 'XYZ', -10800],
      ['XYZ3XYW,J60,M3.2.0', 'XYZ', -10800],
      ['AAA+5BBB,M1.1.0,M12.5.0', 'BBB', -14400],
      ['AAA-5BBB-6,M11.4.3/0,M12.1.0', 'BBB', 21600],
      ['EST+5EDT,M3.2.0/2,M11.1.0/2', 'EST', -18000],
    ];
    for (const [text, zone, offset] of cases) {
      const got = posixTzAt(parsePosixTz(text)!, now);
      assert.deepEqual([got.abbreviation, got.offset], [zone, offset], text);
    }
  });
});
