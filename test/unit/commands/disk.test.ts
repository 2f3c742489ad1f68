import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createDiskHandlers, filesystemUsage, type DiskDeps, type FilesystemSizes } from '../../../src/commands/disk';
import { createInjector } from '../../support/inject';
import { blockDevice, buildTree, pciDriver, rel } from '../platform/linux/sysfs-tree';
import { fakeMountTable, gate, mountinfoLine } from './fake-filesystems';

const PCI = '/sys/devices/pci0000:00';
const VDA = `${PCI}/0000:00:02.0/virtio1/block/vda`;
const DM0 = '/sys/devices/virtual/block/dm-0';

const tree = buildTree({
  ...pciDriver(`${PCI}/0000:00:02.0`, 'virtio-pci'),
  ...blockDevice(VDA, { major: 254, minor: 0 }),
  ...blockDevice(`${VDA}/vda1`, { major: 254, minor: 1, partition: true }),
  ...blockDevice(`${VDA}/vda2`, { major: 254, minor: 2, partition: true }),
  ...blockDevice(DM0, { major: 253, minor: 0 }),
  [`${DM0}/dm/name`]: 'vg-data\n',
  [`${DM0}/slaves/vda2`]: rel(`${DM0}/slaves/vda2`, `${VDA}/vda2`),
});
after(() => tree.remove());

// The sizes of the 7.2 recording (reference §6.2): used 25431289856, total 108944293888.
const ROOT_SIZES: FilesystemSizes = { f_frsize: 4096n, f_blocks: 27000000n, f_bfree: 20791189n, f_bavail: 20388917n };

function setup(overrides: Partial<DiskDeps> = {}) {
  const statvfsCalls: string[] = [];
  const deps: DiskDeps = {
    mountTable: fakeMountTable(mountinfoLine(21, '254:0', '/', 'ext4', '/dev/vda') + '\n'),
    sysfs: tree.reader,
    udevDataDir: '/run/udev/data',
    statvfs: async (p) => {
      statvfsCalls.push(p);
      return ROOT_SIZES;
    },
    statvfsTimeoutMs: 1000,
    readDiskstats: async () => '   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n 254       0 vda 1 2 3 4 5 6 7 8 9 10 11\n',
    ...overrides,
  };
  return { inj: createInjector({ handlers: createDiskHandlers(deps) }), statvfsCalls };
}

async function request(inj: ReturnType<typeof createInjector>, line: string): Promise<string> {
  let out = await inj.text(line);
  const deadline = Date.now() + 5000;
  while (!out.endsWith('\n') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2));
    out += await inj.text('');
  }
  return out;
}

describe('guest-get-fsinfo', () => {
  it('matches the 7.2 recording byte for byte, plus total-bytes-privileged (9.1+)', async () => {
    const { inj } = setup();
    assert.equal(
      await request(inj, '{"execute":"guest-get-fsinfo"}'),
      '{"return": [{"name": "vda", "total-bytes": 108944293888, "total-bytes-privileged": 110592000000, "mountpoint": "/", ' +
        '"disk": [{"bus-type": "virtio", "bus": 0, "unit": 0, "pci-controller": {"bus": 0, "slot": 2, "domain": 0, "function": 0}, ' +
        '"dev": "/dev/vda", "target": 0}], "used-bytes": 25431289856, "type": "ext4"}]}\n',
    );
  });

  it('one entry per device, newest mount first, names as qemu-ga gives them', async () => {
    const mountinfo = [
      mountinfoLine(21, '254:0', '/', 'ext4', '/dev/vda'),
      mountinfoLine(22, '254:1', '/boot', 'vfat', '/dev/vda1'),
      mountinfoLine(23, '253:0', '/data', 'xfs', '/dev/mapper/vg-data'),
      mountinfoLine(24, '253:0', '/srv/data', 'xfs', '/dev/mapper/vg-data'),
      mountinfoLine(25, '0:40', '/run', 'tmpfs', 'tmpfs'),
      mountinfoLine(26, '9:9', '/media/usb', 'vfat', '/dev/sdz1'),
      '',
    ].join('\n');
    const { inj } = setup({ mountTable: fakeMountTable(mountinfo) });
    const reply = JSON.parse(await request(inj, '{"execute":"guest-get-fsinfo"}')) as { return: { name: string; mountpoint: string; disk: { dev?: string }[] }[] };
    assert.deepEqual(
      reply.return.map((f) => [f.name, f.mountpoint, f.disk.map((d) => d.dev)]),
      [
        ['9:9', '/media/usb', []],
        ['dm-0', '/data', ['/dev/vda2']],
        ['vda1', '/boot', ['/dev/vda1']],
        ['vda', '/', ['/dev/vda']],
      ],
    );
  });

  it('a statvfs that fails leaves the sizes out (as qemu-ga)', async () => {
    const { inj } = setup({ statvfs: async () => Promise.reject(Object.assign(new Error('x'), { code: 'EACCES' })) });
    assert.equal(
      await request(inj, '{"execute":"guest-get-fsinfo"}'),
      '{"return": [{"name": "vda", "mountpoint": "/", "disk": [{"bus-type": "virtio", "bus": 0, "unit": 0, ' +
        '"pci-controller": {"bus": 0, "slot": 2, "domain": 0, "function": 0}, "dev": "/dev/vda", "target": 0}], "type": "ext4"}]}\n',
    );
  });

  it('a statvfs that hangs costs one mount its sizes, not the reply; the next poll reuses the pending call', async () => {
    const hung = gate();
    const mountinfo = [mountinfoLine(21, '254:0', '/', 'ext4', '/dev/vda'), mountinfoLine(22, '254:1', '/boot', 'vfat', '/dev/vda1'), ''].join('\n');
    const calls: string[] = [];
    const { inj } = setup({
      mountTable: fakeMountTable(mountinfo),
      statvfsTimeoutMs: 50,
      statvfs: async (p) => {
        calls.push(p);
        if (p === '/boot') await hung.promise;
        return ROOT_SIZES;
      },
    });
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const reply = JSON.parse(await request(inj, '{"execute":"guest-get-fsinfo"}')) as { return: Record<string, unknown>[] };
      assert.ok(Date.now() - started < 1000);
      assert.equal(reply.return[0]!['mountpoint'], '/boot');
      assert.equal('used-bytes' in reply.return[0]!, false);
      assert.equal(reply.return[1]!['used-bytes'], 25431289856);
    }
    assert.deepEqual(calls, ['/', '/boot', '/']);
    hung.release();
    await new Promise((r) => setTimeout(r, 10));
    const reply = JSON.parse(await request(inj, '{"execute":"guest-get-fsinfo"}')) as { return: Record<string, unknown>[] };
    assert.equal(reply.return[0]!['used-bytes'], 25431289856);
  });

  it('no mount table: the mtab error', async () => {
    const { inj } = setup({ mountTable: fakeMountTable(new Error('EACCES')) });
    assert.equal(
      await request(inj, '{"execute":"guest-get-fsinfo"}'),
      `{"error": {"class": "GenericError", "desc": "failed to open mtab file: '/proc/self/mounts'"}}\n`,
    );
  });

  it('filesystemUsage: qemu-ga formulas in unsigned 64-bit arithmetic', () => {
    assert.deepEqual(filesystemUsage(ROOT_SIZES), { used: 25431289856n, total: 108944293888n, totalPrivileged: 110592000000n });
    assert.deepEqual(filesystemUsage({ f_frsize: 4096n, f_blocks: 10n, f_bfree: 11n, f_bavail: 0n }), {
      used: 2n ** 64n - 4096n,
      total: 2n ** 64n - 4096n,
      totalPrivileged: 40960n,
    });
  });
});

describe('guest-get-disks', () => {
  it('matches the shape of the 7.2 recording', async () => {
    const { inj } = setup();
    const reply = await request(inj, '{"execute":"guest-get-disks"}');
    assert.equal(
      reply,
      '{"return": [' +
        '{"name": "/dev/vda2", "dependencies": ["/dev/vda"], "partition": true}, ' +
        '{"name": "/dev/vda1", "dependencies": ["/dev/vda"], "partition": true}, ' +
        '{"name": "/dev/vda", "dependencies": [], "partition": false, "address": {"bus-type": "virtio", "bus": 0, "unit": 0, ' +
        '"pci-controller": {"bus": 0, "slot": 2, "domain": 0, "function": 0}, "dev": "/dev/vda", "target": 0}}, ' +
        '{"name": "/dev/dm-0", "dependencies": ["/dev/vda2"], "partition": false, "alias": "vg-data"}]}\n',
    );
  });

  it('no /sys/block: qemu-ga text', async () => {
    const { inj } = setup({
      sysfs: { ...tree.reader, readDir: async () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOENT' })) },
    });
    assert.equal(
      await request(inj, '{"execute":"guest-get-disks"}'),
      '{"error": {"class": "GenericError", "desc": "Can\'t open directory \\"/sys/block\\": No such file or directory"}}\n',
    );
  });
});

describe('guest-get-diskstats', () => {
  it('parses /proc/diskstats in file order with the field-count rules', async () => {
    const { inj } = setup();
    assert.equal(
      await request(inj, '{"execute":"guest-get-diskstats"}'),
      '{"return": [{"name": "loop0", "stats": {"discard-sectors": 0, "write-ios": 0, "discard-ios": 0, "discard-ticks": 0, ' +
        '"weight-ticks": 0, "read-ios": 0, "flush-ios": 0, "write-sectors": 0, "write-merges": 0, "write-ticks": 0, "ios-pgr": 0, ' +
        '"read-sectors": 0, "read-merges": 0, "total-ticks": 0, "discard-merges": 0, "flush-ticks": 0, "read-ticks": 0}, ' +
        '"minor": 0, "major": 7}, {"name": "vda", "stats": {"write-ios": 5, "weight-ticks": 11, "read-ios": 1, "write-sectors": 7, ' +
        '"write-merges": 6, "write-ticks": 8, "ios-pgr": 9, "read-sectors": 3, "read-merges": 2, "total-ticks": 10, "read-ticks": 4}, ' +
        '"minor": 0, "major": 254}]}\n',
    );
  });

  it('unreadable: qemu-ga text', async () => {
    const { inj } = setup({ readDiskstats: async () => Promise.reject(Object.assign(new Error('x'), { code: 'EACCES' })) });
    assert.equal(
      await request(inj, '{"execute":"guest-get-diskstats"}'),
      '{"error": {"class": "GenericError", "desc": "open(\\"/proc/diskstats\\"): Permission denied"}}\n',
    );
  });
});
