import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  collectDeviceDisks,
  hostNumbers,
  isPartitionName,
  listGuestDisks,
  parseCcwPath,
  parseHostReference,
  parsePciPath,
  parseScsiTarget,
  parseUdevDatabase,
  parseUevent,
  SysBlockUnreadable,
  type SysfsBlockSource,
  type SysfsReader,
} from '../../../../src/platform/linux/sysfs-block';
import { blockDevice, buildTree, pciDriver, rel, type TreeNode } from './sysfs-tree';

describe('sysfs path parsers', () => {
  it('parsePciPath follows bridges from the root bus', () => {
    const p = '/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1';
    const steps = parsePciPath(p);
    assert.deepEqual(
      steps.map((s) => s.address),
      [
        { domain: 0, bus: 0, slot: 0x1c, function: 0 },
        { domain: 0, bus: 1, slot: 0, function: 0 },
      ],
    );
    assert.equal(p.slice(0, steps[0]!.end), '/sys/devices/pci0000:00/0000:00:1c.0');
    assert.equal(p.slice(0, steps[1]!.end), '/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0');
    assert.deepEqual(parsePciPath('/sys/devices/pci0001:40/0001:40:1f.7/x')[0]!.address, { domain: 1, bus: 0x40, slot: 0x1f, function: 7 });
    assert.deepEqual(parsePciPath('/sys/devices/platform/a003e00.virtio_mmio/virtio0/block/vda'), []);
    assert.deepEqual(parsePciPath('/sys/devices/pci0000:00/garbage'), []);
  });

  it('parseScsiTarget takes channel, id and lun after the first /target', () => {
    assert.deepEqual(parseScsiTarget('/sys/devices/x/host2/target2:0:1/2:0:1:3/block/sdb'), [0, 1, 3]);
    assert.equal(parseScsiTarget('/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda'), null);
    assert.equal(parseScsiTarget('/sys/devices/x/target2:0:1/oops'), null);
  });

  it('parseHostReference prefers /ata, and never falls back to /host when /ata has no number', () => {
    assert.deepEqual(parseHostReference('/sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0'), {
      kind: 'ata',
      number: 3,
      parentDir: '/sys/devices/pci0000:00/0000:00:1f.2',
    });
    assert.deepEqual(parseHostReference('/sys/devices/pci0000:00/0000:00:07.0/host3/target3:0:4'), {
      kind: 'host',
      number: 3,
      parentDir: '/sys/devices/pci0000:00/0000:00:07.0',
    });
    assert.equal(parseHostReference('/sys/devices/pci0000:00/0000:00:07.0/ata_x/host3'), null);
    assert.equal(parseHostReference('/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda'), null);
  });

  it('hostNumbers keeps the first eight matches and sorts them', () => {
    assert.deepEqual(hostNumbers(['ata3', 'power', 'ata1', 'ata10', 'host0'], 'ata'), [1, 3, 10]);
    assert.deepEqual(hostNumbers(['host0', 'ata1', 'host2'], 'host'), [0, 2]);
    const many = ['ata9', 'ata8', 'ata7', 'ata6', 'ata5', 'ata4', 'ata3', 'ata2', 'ata1'];
    assert.deepEqual(hostNumbers(many, 'ata'), [2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('parseCcwPath reads the channel subsystem address', () => {
    assert.deepEqual(parseCcwPath('/sys/devices/css0/0.0.0002/0.0.000a/virtio3/block/vdx'), {
      cssid: 0n,
      ssid: 0n,
      subchno: 2n,
      devno: 10n,
    });
    assert.equal(parseCcwPath('/sys/devices/css0/garbage'), null);
  });

  it('parseUevent and parseUdevDatabase', () => {
    assert.deepEqual([...parseUevent('MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n')], [
      ['MAJOR', '254'],
      ['MINOR', '0'],
      ['DEVNAME', 'vda'],
      ['DEVTYPE', 'disk'],
    ]);
    const db = parseUdevDatabase('S:disk/by-id/virtio-abc\nI:123\nE:ID_SERIAL=abc=def\nE:DM_NAME=vg-root\nG:systemd\nQ:systemd\nV:1\n');
    assert.deepEqual([...db], [
      ['ID_SERIAL', 'abc=def'],
      ['DM_NAME', 'vg-root'],
    ]);
  });

  it('isPartitionName: <disk><digit> or <disk>p<digit>', () => {
    assert.equal(isPartitionName('vda', 'vda1'), true);
    assert.equal(isPartitionName('nvme0n1', 'nvme0n1p2'), true);
    assert.equal(isPartitionName('vda', 'vdab'), false);
    assert.equal(isPartitionName('vda', 'power'), false);
    assert.equal(isPartitionName('vda', 'vdap'), false);
  });
});

// ---------------------------------------------------------------------------------------------

const PCI = '/sys/devices/pci0000:00';
const VDA = `${PCI}/0000:00:02.0/virtio1/block/vda`;
const VDB = `${PCI}/0000:00:03.0/virtio2/block/vdb`;
const VDC = `${PCI}/0000:00:04.0/virtio3/block/vdc`;
const DM0 = '/sys/devices/virtual/block/dm-0';
const DM1 = '/sys/devices/virtual/block/dm-1';
const SDA = `${PCI}/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda`;
const SDB = `${PCI}/0000:00:05.0/virtio4/host0/target0:0:1/0:0:1:3/block/sdb`;
const NVME = `${PCI}/0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1`;
const SR0 = `${PCI}/0000:00:01.1/ata2/host1/target1:0:1/1:0:1:0/block/sr0`;
const SDD = `${PCI}/0000:00:07.0/host3/target3:0:4/3:0:4:0/block/sdd`;
const SDE = `${PCI}/0000:00:1d.0/usb2/2-1/2-1:1.0/host4/target4:0:0/4:0:0:0/block/sde`;
const SDF = `${PCI}/0000:00:06.0/host5/target5:0:0/5:0:0:0/block/sdf`;
const SDG = `${PCI}/0000:00:06.0/host5/target5:0:1/5:0:1:0/block/sdg`;
const VDX = '/sys/devices/css0/0.0.0002/0.0.000a/virtio3/block/vdx';
const VDM = '/sys/devices/platform/a003e00.virtio_mmio/virtio5/block/vdm';

const SPEC: Record<string, TreeNode> = {
  ...pciDriver(`${PCI}/0000:00:02.0`, 'virtio-pci'),
  ...pciDriver(`${PCI}/0000:00:03.0`, 'virtio-pci'),
  ...pciDriver(`${PCI}/0000:00:04.0`, 'virtio-pci'),
  ...pciDriver(`${PCI}/0000:00:05.0`, 'virtio-pci'),
  ...pciDriver(`${PCI}/0000:00:1f.2`, 'ahci'),
  ...pciDriver(`${PCI}/0000:00:1c.0`, 'pcieport'),
  ...pciDriver(`${PCI}/0000:00:1c.0/0000:01:00.0`, 'nvme'),
  ...pciDriver(`${PCI}/0000:00:01.1`, 'ata_piix'),
  ...pciDriver(`${PCI}/0000:00:07.0`, 'sym53c8xx'),
  ...pciDriver(`${PCI}/0000:00:1d.0`, 'ehci-pci'),
  ...pciDriver(`${PCI}/0000:00:06.0`, 'megaraid_sas'),
  ...blockDevice(VDA, { major: 254, minor: 0 }),
  ...blockDevice(`${VDA}/vda1`, { major: 254, minor: 1, partition: true }),
  ...blockDevice(`${VDA}/vda2`, { major: 254, minor: 2, partition: true }),
  '/run/udev/data/b254:0': 'S:disk/by-id/virtio-SER123\nE:ID_SERIAL=SER123\nE:ID_TYPE=disk\n',
  ...blockDevice(VDB, { major: 254, minor: 16 }),
  ...blockDevice(VDC, { major: 254, minor: 32 }),
  // LVM root on vda2; a striped LV over two whole disks
  ...blockDevice(DM0, { major: 253, minor: 0 }),
  [`${DM0}/dm/name`]: 'vg-root\n',
  [`${DM0}/slaves/vda2`]: rel(`${DM0}/slaves/vda2`, `${VDA}/vda2`),
  ...blockDevice(DM1, { major: 253, minor: 1 }),
  [`${DM1}/dm/name`]: 'vg-stripe\n',
  [`${DM1}/slaves/vdb`]: rel(`${DM1}/slaves/vdb`, VDB),
  [`${DM1}/slaves/vdc`]: rel(`${DM1}/slaves/vdc`, VDC),
  // AHCI port 3 of ports 1..3
  [`${PCI}/0000:00:1f.2/ata1`]: { dir: true },
  [`${PCI}/0000:00:1f.2/ata2`]: { dir: true },
  ...blockDevice(SDA, { major: 8, minor: 0 }),
  // virtio-scsi LUN 3
  ...blockDevice(SDB, { major: 8, minor: 16 }),
  // NVMe behind a PCIe root port
  ...blockDevice(NVME, { major: 259, minor: 0 }),
  ...blockDevice(`${NVME}/nvme0n1p1`, { major: 259, minor: 1, partition: true }),
  // IDE secondary channel (ata2 of ata1, ata2), target id 1
  [`${PCI}/0000:00:01.1/ata1`]: { dir: true },
  ...blockDevice(SR0, { major: 11, minor: 0 }),
  // LSI SCSI target 4
  ...blockDevice(SDD, { major: 8, minor: 48 }),
  // USB mass storage on EHCI
  ...blockDevice(SDE, { major: 8, minor: 64 }),
  // An unknown RAID controller: only udev's serial and the node are known
  ...blockDevice(SDF, { major: 8, minor: 80 }),
  '/run/udev/data/b8:80': 'E:ID_SERIAL=MR-0001\n',
  // ... and a disk on it with nothing known at all
  ...blockDevice(SDG, { major: 8, minor: 96, devname: undefined }),
  // s390 virtio-ccw, virtio-mmio
  ...blockDevice(VDX, { major: 254, minor: 48 }),
  ...blockDevice(VDM, { major: 254, minor: 64 }),
  // a detached loop device (size 0) and a virtual device without slaves/
  ...blockDevice('/sys/devices/virtual/block/loop0', { major: 7, minor: 0, size: '0\n' }),
  ...blockDevice('/sys/devices/virtual/block/zram0', { major: 252, minor: 0, size: '8192\n', slaves: false }),
};

const tree = buildTree(SPEC);
after(() => tree.remove());

const unknownPci = { domain: -1n, bus: -1n, slot: -1n, function: -1n };
const pci = (bus: number, slot: number, fn = 0) => ({ domain: 0n, bus: BigInt(bus), slot: BigInt(slot), function: BigInt(fn) });
const address = (o: {
  pci: ReturnType<typeof pci>;
  type: string;
  bus?: number;
  target?: number;
  unit?: number;
  serial?: string;
  dev?: string;
  ccw?: object;
}) => ({
  'pci-controller': o.pci,
  'bus-type': o.type,
  bus: BigInt(o.bus ?? 0),
  target: BigInt(o.target ?? 0),
  unit: BigInt(o.unit ?? 0),
  ...(o.serial !== undefined && { serial: o.serial }),
  ...(o.dev !== undefined && { dev: o.dev }),
  ...(o.ccw !== undefined && { 'ccw-address': o.ccw }),
});

function source(reader: SysfsReader = tree.reader): SysfsBlockSource & { problems: string[] } {
  const problems: string[] = [];
  return { reader, udevDataDir: '/run/udev/data', onProblem: (what) => void problems.push(what), problems };
}

describe('collectDeviceDisks (guest-get-fsinfo disk[])', () => {
  const cases: [string, string, string, object[]][] = [
    ['virtio-blk whole disk with udev serial', '254:0', 'vda', [address({ pci: pci(0, 2), type: 'virtio', serial: 'SER123', dev: '/dev/vda' })]],
    ['virtio-blk partition', '254:1', 'vda1', [address({ pci: pci(0, 2), type: 'virtio', dev: '/dev/vda1' })]],
    ['LVM on a partition', '253:0', 'dm-0', [address({ pci: pci(0, 2), type: 'virtio', dev: '/dev/vda2' })]],
    [
      'LVM over two disks: the last slave first',
      '253:1',
      'dm-1',
      [address({ pci: pci(0, 4), type: 'virtio', dev: '/dev/vdc' }), address({ pci: pci(0, 3), type: 'virtio', dev: '/dev/vdb' })],
    ],
    ['AHCI: unit is the port index', '8:0', 'sda', [address({ pci: pci(0, 0x1f, 2), type: 'sata', unit: 2, dev: '/dev/sda' })]],
    ['virtio-scsi: unit is the LUN', '8:16', 'sdb', [address({ pci: pci(0, 5), type: 'scsi', unit: 3, dev: '/dev/sdb' })]],
    ['NVMe behind a bridge: the nvme function', '259:0', 'nvme0n1', [address({ pci: pci(1, 0), type: 'nvme', dev: '/dev/nvme0n1' })]],
    ['IDE: bus is the channel index, unit the target id', '11:0', 'sr0', [address({ pci: pci(0, 1, 1), type: 'ide', bus: 1, unit: 1, dev: '/dev/sr0' })]],
    ['LSI SCSI: unit is the target id', '8:48', 'sdd', [address({ pci: pci(0, 7), type: 'scsi', unit: 4, dev: '/dev/sdd' })]],
    ['USB on EHCI', '8:64', 'sde', [address({ pci: pci(0, 0x1d), type: 'usb', dev: '/dev/sde' })]],
    ['unknown controller: placeholders plus what udev knows', '8:80', 'sdf', [address({ pci: unknownPci, type: 'unknown', serial: 'MR-0001', dev: '/dev/sdf' })]],
    ['unknown controller and nothing known: no entry', '8:96', 'sdg', []],
    [
      's390 virtio-ccw',
      '254:48',
      'vdx',
      [address({ pci: unknownPci, type: 'virtio', dev: '/dev/vdx', ccw: { cssid: 0n, ssid: 0n, subchno: 2n, devno: 10n } })],
    ],
    ['virtio-mmio', '254:64', 'vdm', [address({ pci: unknownPci, type: 'virtio', dev: '/dev/vdm' })]],
    ['virtual without slaves/', '252:0', 'zram0', []],
    ['missing device (containers): named after the path', '9:9', '9:9', []],
  ];
  for (const [title, majmin, name, disks] of cases) {
    it(title, async () => {
      const src = source();
      const got = await collectDeviceDisks(src, `/sys/dev/block/${majmin}`);
      assert.deepEqual(got, { name, disks });
      assert.deepEqual(src.problems, []);
    });
  }

  it('an unreadable slaves/ loses only the disks, and is reported', async () => {
    const failing: SysfsReader = {
      ...tree.reader,
      readDir: async (p) => {
        if (p.endsWith('/slaves')) throw Object.assign(new Error('denied'), { code: 'EACCES' });
        return tree.reader.readDir(p);
      },
    };
    const src = source(failing);
    assert.deepEqual(await collectDeviceDisks(src, '/sys/dev/block/253:0'), { name: 'dm-0', disks: [] });
    assert.deepEqual(src.problems, [`cannot list ${DM0}/slaves`]);
  });

  it('an unlistable AHCI host directory leaves the address unknown instead of failing', async () => {
    const failing: SysfsReader = {
      ...tree.reader,
      readDir: async (p) => {
        if (p === `${PCI}/0000:00:1f.2`) throw Object.assign(new Error('io'), { code: 'EIO' });
        return tree.reader.readDir(p);
      },
    };
    const src = source(failing);
    assert.deepEqual(await collectDeviceDisks(src, '/sys/dev/block/8:0'), {
      name: 'sda',
      disks: [address({ pci: unknownPci, type: 'unknown', dev: '/dev/sda' })],
    });
    assert.deepEqual(src.problems, [`cannot list ${PCI}/0000:00:1f.2`]);
  });

  it('a realpath error other than ENOENT is reported, and the path still names the filesystem', async () => {
    const failing: SysfsReader = {
      ...tree.reader,
      realpath: async () => {
        throw Object.assign(new Error('loop'), { code: 'ELOOP' });
      },
    };
    const src = source(failing);
    assert.deepEqual(await collectDeviceDisks(src, '/sys/dev/block/254:0'), { name: '254:0', disks: [] });
    assert.deepEqual(src.problems, ['cannot resolve /sys/dev/block/254:0']);
  });
});

describe('listGuestDisks (guest-get-disks)', () => {
  it('lists disks with partitions first, newest first, skipping empty and node-less disks', async () => {
    const src = source();
    const disks = await listGuestDisks(src);
    assert.deepEqual(
      disks.map((d) => d.name),
      [
        '/dev/zram0',
        '/dev/vdx',
        '/dev/vdm',
        '/dev/vdc',
        '/dev/vdb',
        '/dev/vda2',
        '/dev/vda1',
        '/dev/vda',
        '/dev/sr0',
        '/dev/sdf',
        '/dev/sde',
        '/dev/sdd',
        '/dev/sdb',
        '/dev/sda',
        '/dev/nvme0n1p1',
        '/dev/nvme0n1',
        '/dev/dm-1',
        '/dev/dm-0',
      ],
    );
    const byName = new Map(disks.map((d) => [d.name, d]));
    assert.deepEqual(byName.get('/dev/vda'), {
      name: '/dev/vda',
      partition: false,
      dependencies: [],
      address: address({ pci: pci(0, 2), type: 'virtio', serial: 'SER123', dev: '/dev/vda' }),
    });
    assert.deepEqual(byName.get('/dev/vda2'), { name: '/dev/vda2', partition: true, dependencies: ['/dev/vda'] });
    assert.deepEqual(byName.get('/dev/dm-0'), { name: '/dev/dm-0', partition: false, dependencies: ['/dev/vda2'], alias: 'vg-root' });
    assert.deepEqual(byName.get('/dev/dm-1'), {
      name: '/dev/dm-1',
      partition: false,
      dependencies: ['/dev/vdc', '/dev/vdb'],
      alias: 'vg-stripe',
    });
    assert.deepEqual(byName.get('/dev/zram0'), { name: '/dev/zram0', partition: false });
    assert.deepEqual(byName.get('/dev/nvme0n1p1'), { name: '/dev/nvme0n1p1', partition: true, dependencies: ['/dev/nvme0n1'] });
    assert.deepEqual(src.problems, []);
  });

  it('adds NVMe SMART when a reader is given, and only for NVMe disks', async () => {
    const asked: string[] = [];
    const disks = await listGuestDisks(source(), async (node) => {
      asked.push(node);
      return { type: 'nvme', 'critical-warning': 0n } as never;
    });
    assert.deepEqual(asked, ['/dev/nvme0n1']);
    assert.deepEqual(disks.find((d) => d.name === '/dev/nvme0n1')?.smart, { type: 'nvme', 'critical-warning': 0n });
  });

  it('rejects with SysBlockUnreadable only when /sys/block cannot be listed', async () => {
    const failing: SysfsReader = {
      ...tree.reader,
      readDir: async () => {
        throw Object.assign(new Error('gone'), { code: 'ENOENT' });
      },
    };
    await assert.rejects(listGuestDisks(source(failing)), (e: unknown) => e instanceof SysBlockUnreadable && (e.reason as { code: string }).code === 'ENOENT');
  });
});
