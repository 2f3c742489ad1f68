import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMountName,
  decodeMtabField,
  freezableMounts,
  freezableMountsFromMtab,
  parseMountInfo,
  parseMtab,
  type DevStat,
  type StatDev,
} from '../../../../src/platform/linux/mountinfo';
import { readFixture } from './fixture';

/** A fake stat(2) over a table of paths; anything unknown behaves like a failed stat. */
function fakeStat(table: Record<string, DevStat>): StatDev & { calls: string[] } {
  const calls: string[] = [];
  const stat = (source: string): DevStat => {
    calls.push(source);
    return table[source] ?? { kind: 'other' };
  };
  return Object.assign(stat, { calls });
}

// proc-self-mountinfo-loop.txt was captured in a private mount namespace after
// test/fixtures/linux/make-mountinfo-loop.sh mounted: an ext4 image on "mnt with space", a bind
// mount of it on "bind\back", a bind of its "sub dir" on "subbind", a btrfs image on "btr", its
// subvolume "sub" on "btr-sub", and a tmpfs on "tab<TAB>dir". `stat -c %t:%T /dev/loop1` gave 7:1
// (see proc-self-mountinfo-loop.stat.txt).
const loopStat = fakeStat({ '/dev/loop1': { kind: 'block', major: 7, minor: 1 } });

describe('parseMountInfo', () => {
  it('reads the captured mountinfo of this machine', () => {
    const entries = parseMountInfo(readFixture('proc-self-mountinfo.txt'));
    assert.equal(entries.length, 20);
    assert.deepEqual(entries[5], {
      mountId: 26,
      parentId: 1,
      major: 254,
      minor: 0,
      root: '/',
      mountPoint: '/',
      options: 'rw,relatime',
      optionalFields: [],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: 'rw,discard,resv_strict,resuid=65534,resgid=65534',
    });
  });

  it('decodes \\040 \\134 \\011 in mount point, root and source', () => {
    const entries = parseMountInfo(readFixture('proc-self-mountinfo-loop.txt'));
    const loop = entries.filter((e) => e.mountPoint.startsWith('/tmp/qga-fix/'));
    assert.deepEqual(
      loop.map((e) => [e.mountPoint, e.root, `${e.major}:${e.minor}`, e.fsType, e.source]),
      [
        ['/tmp/qga-fix/mnt with space', '/', '7:0', 'ext4', '/dev/loop0'],
        ['/tmp/qga-fix/bind\\back', '/', '7:0', 'ext4', '/dev/loop0'],
        ['/tmp/qga-fix/subbind', '/sub dir', '7:0', 'ext4', '/dev/loop0'],
        ['/tmp/qga-fix/btr', '/', '0:38', 'btrfs', '/dev/loop1'],
        ['/tmp/qga-fix/btr-sub', '/sub', '0:38', 'btrfs', '/dev/loop1'],
        ['/tmp/qga-fix/tab\tdir', '/', '0:41', 'tmpfs', 'tmpfs'],
      ],
    );
  });

  it('handles optional fields and skips malformed lines', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue',
      '37 35 98:0 /a /b rw - ext3 /dev/root',
      'garbage',
      '38 35 x:y / /c rw - ext4 /dev/sda rw',
      '39 35 8:1 / /d rw shared:1 ext4 /dev/sda1 rw',
      '',
    ].join('\n');
    const entries = parseMountInfo(text);
    assert.equal(entries.length, 2);
    assert.deepEqual(entries[0]?.optionalFields, ['master:1', 'shared:7']);
    assert.equal(entries[0]?.root, '/mnt1');
    assert.equal(entries[0]?.mountPoint, '/mnt2');
    assert.equal(entries[0]?.superOptions, 'rw,errors=continue');
    assert.equal(entries[1]?.superOptions, '');
  });
});

describe('decodeMountName (qemu-ga decode_mntname)', () => {
  it('decodes any \\[0-3][0-7][0-7] and \\\\, keeps other backslashes', () => {
    assert.equal(decodeMountName('a\\040b\\011c\\012d\\134e'), 'a b\tc\nd\\e');
    assert.equal(decodeMountName('x\\\\y'), 'x\\y');
    assert.equal(decodeMountName('\\101\\102'), 'AB');
    assert.equal(decodeMountName('keep\\8\\400\\x\\'), 'keep\\8\\400\\x\\');
    assert.equal(decodeMountName('\\303\\251t\\303\\251'), 'été');
    assert.equal(decodeMountName('plain'), 'plain');
  });
});

describe('freezableMounts (upstream 10.x list rule)', () => {
  it('keeps only / on this machine (everything else is a major-0 pseudo filesystem)', () => {
    const stat = fakeStat({});
    assert.deepEqual(freezableMounts(parseMountInfo(readFixture('proc-self-mountinfo.txt')), stat), [
      { mountPoint: '/', fsType: 'ext4', major: 254, minor: 0 },
    ]);
    assert.deepEqual(stat.calls, []);
  });

  // qemu-ga 7.2's guest-get-fsinfo in that namespace listed, in its reversed order:
  // btr-sub (loop1), btr (loop1), subbind (loop0), bind\back (loop0), mnt with space (loop0), / (vda).
  // 10.x drops the repeats of a major:minor, keeping the first in file order.
  it('stats btrfs sources for the real device and drops repeated devices, first wins', () => {
    assert.deepEqual(freezableMounts(parseMountInfo(readFixture('proc-self-mountinfo-loop.txt')), loopStat), [
      { mountPoint: '/', fsType: 'ext4', major: 254, minor: 0 },
      { mountPoint: '/tmp/qga-fix/mnt with space', fsType: 'ext4', major: 7, minor: 0 },
      { mountPoint: '/tmp/qga-fix/btr', fsType: 'btrfs', major: 7, minor: 1 },
    ]);
  });

  it('skips a btrfs mount whose source is not a block device, without stat for other fs types', () => {
    const text = [
      '1 0 0:40 / /a rw - btrfs /dev/gone rw',
      '2 0 0:41 / /b rw - btrfs /some/dir rw',
      '3 0 0:42 / /c rw - nfs server:/export rw',
      '4 0 0:43 / /d rw - btrfs /dev/sdb rw',
      '5 0 8:16 / /e rw - ext4 /dev/sdb rw',
    ].join('\n');
    const stat = fakeStat({
      '/some/dir': { kind: 'directory' },
      '/dev/sdb': { kind: 'block', major: 8, minor: 16 },
    });
    assert.deepEqual(freezableMounts(parseMountInfo(text), stat), [
      { mountPoint: '/d', fsType: 'btrfs', major: 8, minor: 16 },
    ]);
    assert.deepEqual(stat.calls, ['/dev/gone', '/some/dir', '/dev/sdb']);
  });
});

describe('parseMtab (glibc getmntent)', () => {
  it('reads the captured /proc/self/mounts with glibc decoding', () => {
    const entries = parseMtab(readFixture('proc-self-mounts-loop.txt'));
    const loop = entries.filter((e) => e.mountPoint.startsWith('/tmp/qga-fix/'));
    assert.deepEqual(loop.map((e) => [e.source, e.mountPoint, e.fsType]), [
      ['/dev/loop0', '/tmp/qga-fix/mnt with space', 'ext4'],
      ['/dev/loop0', '/tmp/qga-fix/bind\\back', 'ext4'],
      ['/dev/loop0', '/tmp/qga-fix/subbind', 'ext4'],
      ['/dev/loop1', '/tmp/qga-fix/btr', 'btrfs'],
      ['/dev/loop1', '/tmp/qga-fix/btr-sub', 'btrfs'],
      ['tmpfs', '/tmp/qga-fix/tab\tdir', 'tmpfs'],
    ]);
    assert.deepEqual(entries[0], { source: '/dev/vda', mountPoint: '/', fsType: 'ext4', options: 'rw,relatime,discard,resv_strict,resuid=65534,resgid=65534', freq: 0, passno: 0 });
  });

  it('follows getmntent on comments, blanks, missing fields and freq/passno', () => {
    const text = '# comment\n\n   \t\n  /dev/sda1\t/boot  ext2 defaults 1 2  \n/dev/sdb /x\nUUID=1 /y xfs rw 3\n/dev/sdc /z xfs rw 1x 5\n';
    assert.deepEqual(parseMtab(text), [
      { source: '/dev/sda1', mountPoint: '/boot', fsType: 'ext2', options: 'defaults', freq: 1, passno: 2 },
      { source: '/dev/sdb', mountPoint: '/x', fsType: '', options: '', freq: 0, passno: 0 },
      { source: 'UUID=1', mountPoint: '/y', fsType: 'xfs', options: 'rw', freq: 3, passno: 0 },
      { source: '/dev/sdc', mountPoint: '/z', fsType: 'xfs', options: 'rw', freq: 1, passno: 0 },
    ]);
  });

  it('decodes only the escapes glibc knows', () => {
    assert.equal(decodeMtabField('a\\040b\\011c\\012d\\134e\\\\f'), 'a b\tc\nd\\e\\f');
    assert.equal(decodeMtabField('\\101\\303\\251'), '\\101\\303\\251');
  });
});

describe('freezableMountsFromMtab (upstream 10.x fallback rule)', () => {
  it('keeps only / from this machine\'s /proc/self/mounts (the rest are pseudo sources)', () => {
    const stat = fakeStat({ '/dev/vda': { kind: 'block', major: 254, minor: 0 } });
    assert.deepEqual(freezableMountsFromMtab(parseMtab(readFixture('proc-self-mounts.txt')), stat), [
      { mountPoint: '/', fsType: 'ext4', major: 254, minor: 0 },
    ]);
    assert.deepEqual(stat.calls, ['/dev/vda']);
  });

  it('keeps / and the first mount of each loop device from the captured mounts', () => {
    const stat = fakeStat({
      '/dev/vda': { kind: 'block', major: 254, minor: 0 },
      '/dev/loop0': { kind: 'block', major: 7, minor: 0 },
      '/dev/loop1': { kind: 'block', major: 7, minor: 1 },
    });
    assert.deepEqual(freezableMountsFromMtab(parseMtab(readFixture('proc-self-mounts-loop.txt')), stat), [
      { mountPoint: '/', fsType: 'ext4', major: 254, minor: 0 },
      { mountPoint: '/tmp/qga-fix/mnt with space', fsType: 'ext4', major: 7, minor: 0 },
      { mountPoint: '/tmp/qga-fix/btr', fsType: 'btrfs', major: 7, minor: 1 },
    ]);
  });

  it('skips non-/ sources, smbfs, cifs and directory sources; keeps others as 0:0 once', () => {
    const text = [
      'proc /proc proc rw 0 0',
      '//server/share /mnt/smb cifs rw 0 0',
      '/srv/share /mnt/smb2 smbfs rw 0 0',
      '/srv/data /mnt/bind none rw,bind 0 0',
      '/images/disk.img /mnt/img ext4 rw 0 0',
      '/dev/missing /mnt/missing ext4 rw 0 0',
      '/dev/sda1 /data ext4 rw 0 0',
    ].join('\n');
    const stat = fakeStat({
      '/srv/data': { kind: 'directory' },
      '/dev/sda1': { kind: 'block', major: 8, minor: 1 },
    });
    assert.deepEqual(freezableMountsFromMtab(parseMtab(text), stat), [
      { mountPoint: '/mnt/img', fsType: 'ext4', major: 0, minor: 0 },
      { mountPoint: '/data', fsType: 'ext4', major: 8, minor: 1 },
    ]);
    assert.deepEqual(stat.calls, ['/srv/data', '/images/disk.img', '/dev/missing', '/dev/sda1']);
  });
});
