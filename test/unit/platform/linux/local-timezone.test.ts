import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as path from 'node:path';
import {
  resolveLocalZone,
  zoneIntervalAt,
  type TimezoneFileAccess,
} from '../../../../src/platform/linux/local-timezone';
import { readFixtureBytes } from './fixture';
import { buildTzif } from './tzif-builder';

/** The instant the expected answers were recorded from Debian 12's qemu-ga (GLib 2.74). */
const RECORDED = Date.parse('2026-11-25T21:20:00Z') / 1000;

interface FakeFs {
  files?: Record<string, Buffer | string>;
  /** symlinks: path → target */
  links?: Record<string, string>;
}

function fakeFiles(fs: FakeFs): TimezoneFileAccess & { reads: string[] } {
  const files = fs.files ?? {};
  const links = fs.links ?? {};
  const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
  const resolve = (p: string): string => {
    p = path.posix.normalize(p);
    for (let i = 0; i < 10 && links[p] !== undefined; i++) {
      const t = links[p]!;
      p = path.posix.normalize(t.startsWith('/') ? t : `${p.slice(0, p.lastIndexOf('/'))}/${t}`);
    }
    return p;
  };
  const reads: string[] = [];
  return {
    reads,
    readFile: async (p) => {
      reads.push(p);
      const content = files[resolve(p)];
      if (content === undefined) throw enoent(p);
      return Buffer.isBuffer(content) ? content : Buffer.from(content);
    },
    readLink: async (p) => {
      if (links[p] !== undefined) return links[p]!;
      if (files[p] !== undefined) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      throw enoent(p);
    },
    isRegularFileNoFollow: async (p) => {
      p = path.posix.normalize(p);
      if (links[p] !== undefined) return false;
      if (files[p] !== undefined) return true;
      throw enoent(p);
    },
    exists: async (p) => files[resolve(p)] !== undefined,
  };
}

const ZONEINFO = {
  '/usr/share/zoneinfo/Europe/Berlin': readFixtureBytes('tzif-Europe-Berlin.bin'),
  '/usr/share/zoneinfo/Etc/UTC': readFixtureBytes('tzif-Etc-UTC.bin'),
  '/usr/share/zoneinfo/Australia/Lord_Howe': readFixtureBytes('tzif-Australia-Lord_Howe.bin'),
  '/usr/share/zoneinfo/Asia/Tokyo': buildTzif({
    transitions: [-683802000],
    transitionTypes: [0],
    types: [{ utOffset: 32400, isDst: false, abbreviation: 'JST' }],
    footer: 'JST-9',
  }),
};
const ZONE_LINKS = { '/usr/share/zoneinfo/UTC': 'Etc/UTC', '/usr/share/zoneinfo/Japan': 'Asia/Tokyo' };

async function answer(tz: string | undefined, fs: FakeFs, tzdir?: string, when = RECORDED) {
  const zone = await resolveLocalZone(tz, tzdir, fakeFiles(fs));
  const i = zoneIntervalAt(zone, when);
  return { zone: i.abbreviation, offset: i.offset };
}

describe('resolveLocalZone with TZ set', () => {
  const fs: FakeFs = { files: { ...ZONEINFO }, links: { ...ZONE_LINKS } };

  it('gives what qemu-ga 7.2 gave for the same TZ values', async () => {
    const cases: Array<[string, string, number]> = [
      ['Europe/Berlin', 'CET', 3600],
      [':Europe/Berlin', 'CET', 3600],
      ['/usr/share/zoneinfo/Asia/Tokyo', 'JST', 32400],
      ['Japan', 'JST', 32400], // a symlinked name is read through the link
      ['Australia/Lord_Howe', '+11', 39600],
      // constant offsets come first and are named by the TZ text itself
      ['UTC', 'UTC', 0],
      ['+05:30', '+05:30', 19800],
      ['5', '5', 18000],
      ['Z', 'Z', 0],
      ['-3', '-3', -10800],
      ['24', '24', 86400],
      // then POSIX rules, before any file of the same name
      ['XYZ-3', 'XYZ', 10800],
      ['<+0330>-3:30', '+0330', 12600],
      ['UTC0', 'UTC', 0],
      ['UTC-3', 'UTC', 10800],
      ['CET-1CEST,M3.5.0,M10.5.0/3', 'CET', 3600],
      // and UTC when nothing fits
      ['Foo/Bar', 'UTC', 0],
      ['Europe/Berlin ', 'UTC', 0],
      ['', 'UTC', 0],
      [':', 'UTC', 0],
      ['25', 'UTC', 0],
      ['XYZ3XYY', 'UTC', 0],
      ['NST3:30NDT', 'UTC', 0],
      ['/nonexistent', 'UTC', 0],
    ];
    for (const [tz, zone, offset] of cases) assert.deepEqual(await answer(tz, fs), { zone, offset }, JSON.stringify(tz));
  });

  it('looks names up under TZDIR', async () => {
    const custom: FakeFs = { files: { '/opt/zones/Here': ZONEINFO['/usr/share/zoneinfo/Asia/Tokyo'] } };
    assert.deepEqual(await answer('Here', custom, '/opt/zones'), { zone: 'JST', offset: 32400 });
    assert.deepEqual(await answer('Here', custom), { zone: 'UTC', offset: 0 });
  });

  it('takes a file that is not TZif as no zone (UTC)', async () => {
    assert.deepEqual(await answer('Bogus', { files: { '/usr/share/zoneinfo/Bogus': 'not a zone' } }), { zone: 'UTC', offset: 0 });
  });
});

describe('resolveLocalZone with TZ unset (GLib reads /etc/localtime only when it can name the zone)', () => {
  const scenarios: Array<[string, FakeFs, string, number]> = [
    ['symlink to a zone file', { links: { '/etc/localtime': '/usr/share/zoneinfo/Asia/Tokyo' } }, 'JST', 32400],
    ['relative symlink', { links: { '/etc/localtime': '../usr/share/zoneinfo/Asia/Tokyo' } }, 'JST', 32400],
    ['regular file, no /etc/timezone', { files: { '/etc/localtime': ZONEINFO['/usr/share/zoneinfo/Asia/Tokyo'] } }, 'UTC', 0],
    [
      'regular file with /etc/timezone',
      { files: { '/etc/localtime': ZONEINFO['/usr/share/zoneinfo/Asia/Tokyo'], '/etc/timezone': 'Asia/Tokyo\n' } },
      'JST',
      32400,
    ],
    ['symlink to a symlink, no /etc/timezone', { links: { '/etc/localtime': '/usr/share/zoneinfo/Japan' } }, 'UTC', 0],
    [
      'symlink to a symlink with /etc/timezone',
      { links: { '/etc/localtime': '/usr/share/zoneinfo/Japan' }, files: { '/etc/timezone': 'Japan\n' } },
      'JST',
      32400,
    ],
    ['no /etc/localtime', {}, 'UTC', 0],
    ['dangling symlink', { links: { '/etc/localtime': '/usr/share/zoneinfo/Nowhere' }, files: { '/etc/timezone': 'x' } }, 'UTC', 0],
    ['garbage file', { files: { '/etc/localtime': 'garbage\n', '/etc/timezone': 'Asia/Tokyo\n' } }, 'UTC', 0],
  ];
  for (const [name, extra, zone, offset] of scenarios) {
    it(`${name} → ${zone} (as qemu-ga 7.2 answered)`, async () => {
      const fs: FakeFs = { files: { ...ZONEINFO, ...extra.files }, links: { ...ZONE_LINKS, ...extra.links } };
      assert.deepEqual(await answer(undefined, fs), { zone, offset });
    });
  }
});

describe('zoneIntervalAt for zone files', () => {
  const berlin = readFixtureBytes('tzif-Europe-Berlin.bin');
  const zoneOf = (bytes: Buffer) => resolveLocalZone('Z1', undefined, fakeFiles({ files: { '/usr/share/zoneinfo/Z1': bytes } }));

  it('follows the transitions', async () => {
    const zone = await zoneOf(berlin);
    assert.deepEqual(zoneIntervalAt(zone, Date.parse('2026-07-01T00:00:00Z') / 1000), { offset: 7200, abbreviation: 'CEST', isDst: true });
    assert.deepEqual(zoneIntervalAt(zone, Date.parse('1945-06-01T00:00:00Z') / 1000), { offset: 10800, abbreviation: 'CEMT', isDst: true });
    assert.equal(zoneIntervalAt(zone, Date.parse('2026-03-29T01:00:00Z') / 1000).abbreviation, 'CEST');
    assert.equal(zoneIntervalAt(zone, Date.parse('2026-03-29T00:59:59Z') / 1000).abbreviation, 'CET');
  });

  it('uses the footer after the last transition (slim files, and fat ones after 2037)', async () => {
    const zone = await zoneOf(berlin);
    assert.equal(zoneIntervalAt(zone, Date.parse('2050-07-01T00:00:00Z') / 1000).abbreviation, 'CEST');
    assert.equal(zoneIntervalAt(zone, Date.parse('2050-12-01T00:00:00Z') / 1000).abbreviation, 'CET');
    const slim = buildTzif({
      transitions: [0],
      transitionTypes: [0],
      types: [{ utOffset: 3600, isDst: false, abbreviation: 'CET' }],
      footer: 'CET-1CEST,M3.5.0,M10.5.0/3',
    });
    assert.equal(zoneIntervalAt(await zoneOf(slim), Date.parse('2026-07-01T00:00:00Z') / 1000).abbreviation, 'CEST');
  });

  it('keeps the last type when the footer is empty (right/ zones; GLib answers the same)', async () => {
    const bytes = buildTzif({
      transitions: [0, 100],
      transitionTypes: [0, 1],
      types: [
        { utOffset: 3600, isDst: false, abbreviation: 'CET' },
        { utOffset: 7200, isDst: true, abbreviation: 'CEST' },
      ],
      leapSeconds: 2,
      footer: '',
    });
    assert.equal(zoneIntervalAt(await zoneOf(bytes), RECORDED).abbreviation, 'CEST');
  });

  it('takes the first standard-time type before the first transition (GLib, not RFC 8536 type 0)', async () => {
    const bytes = buildTzif({
      transitions: [1000],
      transitionTypes: [1],
      types: [
        { utOffset: 7200, isDst: true, abbreviation: 'DST' },
        { utOffset: 3600, isDst: false, abbreviation: 'STD' },
      ],
    });
    assert.equal(zoneIntervalAt(await zoneOf(bytes), 0).abbreviation, 'STD');
  });
});
