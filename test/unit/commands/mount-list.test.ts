import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { loadMountList, splitDevT, statDevice } from '../../../src/commands/mount-list';
import { fakeMountTable, STANDARD_MOUNTINFO } from './fake-filesystems';

describe('loadMountList', () => {
  it('mountinfo: major 0 skipped, bind mounts deduplicated, mount order kept', async () => {
    const mounts = await loadMountList(fakeMountTable(STANDARD_MOUNTINFO));
    assert.deepEqual(mounts, [
      { mountPoint: '/', fsType: 'ext4', major: 254, minor: 0 },
      { mountPoint: '/boot', fsType: 'ext4', major: 254, minor: 1 },
      { mountPoint: '/home', fsType: 'xfs', major: 254, minor: 16 },
    ]);
  });

  it('falls back to /proc/self/mounts only when mountinfo cannot be read', async () => {
    const table = fakeMountTable(new Error('ENOENT'), '/dev/vda / ext4 rw 0 0\n', { '/dev/vda': { kind: 'block', major: 254, minor: 0 } });
    assert.deepEqual(await loadMountList(table), [{ mountPoint: '/', fsType: 'ext4', major: 254, minor: 0 }]);
    assert.deepEqual(await loadMountList(fakeMountTable('')), []);
  });

  it('neither readable: qemu-ga mtab text', async () => {
    await assert.rejects(loadMountList(fakeMountTable(new Error('a'), new Error('b'))), {
      desc: "failed to open mtab file: '/proc/self/mounts'",
    });
  });
});

describe('device numbers', () => {
  it('splitDevT decodes glibc dev_t, large numbers included', () => {
    assert.deepEqual(splitDevT(0xfe00n), { major: 254, minor: 0 });
    assert.deepEqual(splitDevT(0x10301n), { major: 259, minor: 1 });
    // makedev(0x12345, 0x6789a)
    const major = 0x12345n;
    const minor = 0x6789an;
    const dev = ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    assert.deepEqual(splitDevT(dev), { major: 0x12345, minor: 0x6789a });
  });

  it('statDevice tells block devices, directories and the rest apart', { skip: fs.existsSync('/dev/loop-control') ? false : 'no /dev/loop-control' }, () => {
    const loop0 = fs.statSync('/dev/loop0', { throwIfNoEntry: false });
    if (loop0?.isBlockDevice()) assert.deepEqual(statDevice('/dev/loop0'), { kind: 'block', major: 7, minor: 0 });
    assert.deepEqual(statDevice('/dev'), { kind: 'directory' });
    assert.deepEqual(statDevice('/dev/loop-control'), { kind: 'other' });
    assert.deepEqual(statDevice('/nonexistent/device'), { kind: 'other' });
  });
});
