/**
 * Block devices as sysfs describes them, for guest-get-fsinfo and guest-get-disks: where a disk
 * sits in the hardware (PCI function, bus type, SCSI/ATA bus-target-unit, s390 channel address),
 * which disks a device-mapper or md device is built on, and what udev knows about it (device
 * node, serial, device-mapper name).
 *
 * The rules follow qemu-ga 10.2's build_guest_fsinfo_for_* and qmp_guest_get_disks. qemu-ga asks
 * libudev for the device node, ID_SERIAL and DM_NAME; libudev takes the node from the device's
 * `uevent` (DEVNAME) and the properties from the udev database (/run/udev/data/b<major>:<minor>),
 * which is what this file reads, so no libudev is needed and the answers are the same.
 *
 * All I/O goes through a SysfsReader, so a fixture tree (or an in-memory fake) can stand in for
 * /sys and /run/udev. Unlike qemu-ga, a device that cannot be read is never fatal here: the walk
 * reports the problem and leaves that device's address out, so one odd disk cannot make libvirt's
 * domfsinfo fail for every filesystem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  GuestCCWAddress,
  GuestDiskAddress,
  GuestDiskBusType,
  GuestDiskInfo,
  GuestDiskSmart,
} from '../../generated/qga-types';

export type SysfsEntryKind = 'symlink' | 'directory' | 'file' | 'other';

export interface SysfsDirent {
  name: string;
  /** d_type as readdir reports it (not followed) */
  kind: SysfsEntryKind;
}

/** Absolute system paths in, errno-coded rejections out (like node:fs). */
export interface SysfsReader {
  realpath(p: string): Promise<string>;
  readlink(p: string): Promise<string>;
  /** Entries in the order the kernel returns them, without `.` and `..`. */
  readDir(p: string): Promise<SysfsDirent[]>;
  readFile(p: string): Promise<string>;
}

export const SYS_BLOCK = '/sys/block';
export const UDEV_DATA_DIR = '/run/udev/data';
/** realpath() of these is a software device: its disks are the ones under `slaves/`. */
const VIRTUAL_BLOCK_MARKER = '/devices/virtual/block/';
/** dm on dm on md on ...: far deeper than any real stack, and a stop for a looping fake tree. */
const MAX_SLAVE_DEPTH = 16;
/** qemu-ga's build_hosts collects at most this many host/ata numbers. */
const MAX_HOSTS = 8;

/** Called for each device the walk had to skip, with why; qemu-ga would have failed the command. */
export type WalkProblem = (what: string, err: unknown) => void;

export interface SysfsBlockSource {
  reader: SysfsReader;
  udevDataDir?: string;
  onProblem?: WalkProblem;
}

// ---------------------------------------------------------------------------------------------
// Pure parsers of sysfs paths and files

export interface PciFunctionAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

/** One PCI function on the way from the root complex to the disk; `end` indexes the path. */
export interface PciPathStep {
  address: PciFunctionAddress;
  end: number;
}

const HEX = '([0-9a-fA-F]+)';
const PCI_ROOT = new RegExp(`^[0-9a-fA-F]+:[0-9a-fA-F]+/${HEX}:${HEX}:${HEX}\\.${HEX}`);
const PCI_CHILD = new RegExp(`^/${HEX}:${HEX}:${HEX}\\.${HEX}`);

function pciAddress(m: RegExpExecArray): PciFunctionAddress {
  const hex = (i: number) => parseInt(m[i] as string, 16);
  return { domain: hex(1), bus: hex(2), slot: hex(3), function: hex(4) };
}

/**
 * `/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/...` → the PCI functions in path order: the
 * one right under the root bus, then each function behind a bridge. Empty when the path is not
 * under a PCI root (qemu-ga: "only pci device is supported").
 */
export function parsePciPath(syspath: string): PciPathStep[] {
  const at = syspath.indexOf('/devices/pci');
  if (at < 0) return [];
  const rootStart = at + '/devices/pci'.length;
  const root = PCI_ROOT.exec(syspath.slice(rootStart));
  if (root === null) return [];
  const steps: PciPathStep[] = [{ address: pciAddress(root), end: rootStart + root[0].length }];
  for (;;) {
    const from = (steps[steps.length - 1] as PciPathStep).end;
    const child = PCI_CHILD.exec(syspath.slice(from));
    if (child === null) return steps;
    steps.push({ address: pciAddress(child), end: from + child[0].length });
  }
}

/** `.../target2:0:1/2:0:1:3/...` → [channel, id, lun] = [0, 1, 3] (qemu-ga's tgt[]). */
export function parseScsiTarget(syspath: string): [number, number, number] | null {
  const at = syspath.indexOf('/target');
  if (at < 0) return null;
  const m = /^\d+:\d+:\d+\/\d+:(\d+):(\d+):(\d+)/.exec(syspath.slice(at + '/target'.length));
  return m === null ? null : [Number(m[1]), Number(m[2]), Number(m[3])];
}

export interface HostReference {
  kind: 'ata' | 'host';
  number: number;
  /** The directory whose ataN / hostN entries number the buses. */
  parentDir: string;
}

/**
 * The first `/ata<N>` component, or (only when there is no `/ata` at all) the first `/host<N>`;
 * null when that component has no number, as in qemu-ga.
 */
export function parseHostReference(syspath: string): HostReference | null {
  let at = syspath.indexOf('/ata');
  let kind: HostReference['kind'] = 'ata';
  if (at < 0) {
    at = syspath.indexOf('/host');
    kind = 'host';
  }
  if (at < 0) return null;
  const m = /^\d+/.exec(syspath.slice(at + 1 + kind.length));
  return m === null ? null : { kind, number: Number(m[0]), parentDir: syspath.slice(0, at) };
}

/** The numbers of the first eight `ata<N>` or `host<N>` entries, sorted (qemu-ga's build_hosts). */
export function hostNumbers(entryNames: readonly string[], kind: HostReference['kind']): number[] {
  const pattern = kind === 'ata' ? /^ata(\d+)/ : /^host(\d+)/;
  const numbers: number[] = [];
  for (const name of entryNames) {
    if (numbers.length >= MAX_HOSTS) break;
    const m = pattern.exec(name);
    if (m !== null) numbers.push(Number(m[1]));
  }
  return numbers.sort((a, b) => a - b);
}

/** `/sys/devices/css0/0.0.0000/0.0.0001/virtio0/...` → the s390 channel address. */
export function parseCcwPath(syspath: string): GuestCCWAddress | null {
  const at = syspath.indexOf('/devices/css');
  if (at < 0) return null;
  const m = new RegExp(`^[0-9a-fA-F]+/${HEX}\\.${HEX}\\.${HEX}/[0-9a-fA-F]+\\.[0-9a-fA-F]+\\.${HEX}`).exec(
    syspath.slice(at + '/devices/css'.length),
  );
  if (m === null) return null;
  const hex = (i: number) => BigInt(parseInt(m[i] as string, 16));
  return { cssid: hex(1), ssid: hex(2), subchno: hex(3), devno: hex(4) };
}

/** A sysfs `uevent` file: KEY=VALUE lines. */
export function parseUevent(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return props;
}

/** A udev database entry: the `E:KEY=VALUE` lines are the device's properties. */
export function parseUdevDatabase(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('E:')) continue;
    const eq = line.indexOf('=');
    if (eq > 2) props.set(line.slice(2, eq), line.slice(eq + 1));
  }
  return props;
}

/**
 * A partition directory of disk `diskName`: `<disk><digit>...` or `<disk>p<digit>...`
 * (vda1, nvme0n1p2, mmcblk0p1).
 */
export function isPartitionName(diskName: string, entryName: string): boolean {
  if (!entryName.startsWith(diskName)) return false;
  const rest = entryName.slice(diskName.length);
  return /^[0-9]/.test(rest) || /^p[0-9]/.test(rest);
}

// ---------------------------------------------------------------------------------------------
// udev, the way libudev answers for a syspath

interface UdevDevice {
  devnode: string | undefined;
  properties: Map<string, string>;
}

async function udevDevice(src: SysfsBlockSource, syspath: string): Promise<UdevDevice | undefined> {
  let uevent: string;
  try {
    uevent = await src.reader.readFile(`${syspath}/uevent`);
  } catch {
    return undefined;
  }
  const properties = parseUevent(uevent);
  const devname = properties.get('DEVNAME');
  const devnode = devname === undefined || devname === '' ? undefined : devname.startsWith('/') ? devname : `/dev/${devname}`;
  const major = properties.get('MAJOR');
  const minor = properties.get('MINOR');
  if (major !== undefined && minor !== undefined) {
    try {
      const db = await src.reader.readFile(`${src.udevDataDir ?? UDEV_DATA_DIR}/b${major}:${minor}`);
      for (const [k, v] of parseUdevDatabase(db)) properties.set(k, v);
    } catch {
      // No database entry: udev is not running (containers, minimal images) or not done yet.
    }
  }
  return { devnode, properties };
}

async function devnodeOf(src: SysfsBlockSource, syspath: string): Promise<string | undefined> {
  return (await udevDevice(src, syspath))?.devnode;
}

// ---------------------------------------------------------------------------------------------
// Disk addresses

interface DiskAddressDraft {
  pci: PciFunctionAddress;
  busType: GuestDiskBusType;
  bus: number;
  target: number;
  unit: number;
  serial?: string;
  dev?: string;
  ccw?: GuestCCWAddress;
}

/** Schema member order, integers as bigint. */
function toWire(d: DiskAddressDraft): GuestDiskAddress {
  return {
    'pci-controller': {
      domain: BigInt(d.pci.domain),
      bus: BigInt(d.pci.bus),
      slot: BigInt(d.pci.slot),
      function: BigInt(d.pci.function),
    },
    'bus-type': d.busType,
    bus: BigInt(d.bus),
    target: BigInt(d.target),
    unit: BigInt(d.unit),
    ...(d.serial !== undefined && { serial: d.serial }),
    ...(d.dev !== undefined && { dev: d.dev }),
    ...(d.ccw !== undefined && { 'ccw-address': d.ccw }),
  };
}

/** PCI drivers qemu-ga knows how to turn into a bus type. */
const KNOWN_PCI_DRIVERS: ReadonlySet<string> = new Set([
  'ata_piix',
  'sym53c8xx',
  'virtio-pci',
  'ahci',
  'nvme',
  'xhci_hcd',
  'ehci-pci',
]);

async function driverOf(src: SysfsBlockSource, deviceDir: string): Promise<string | undefined> {
  try {
    return path.posix.basename(await src.reader.readlink(`${deviceDir}/driver`));
  } catch {
    return undefined;
  }
}

/** Index of `number` among the sorted host numbers, or -1. */
async function hostIndex(src: SysfsBlockSource, host: HostReference): Promise<number> {
  const entries = await src.reader.readDir(host.parentDir);
  return hostNumbers(
    entries.map((e) => e.name),
    host.kind,
  ).indexOf(host.number);
}

/** build_guest_fsinfo_for_pci_dev: true when the address is known. May fill `disk` partly. */
async function fillPciAddress(src: SysfsBlockSource, syspath: string, disk: DiskAddressDraft): Promise<boolean> {
  let driver: string | undefined;
  let address: PciFunctionAddress | undefined;
  // The first function along the path whose driver we know is the disk's controller.
  for (const step of parsePciPath(syspath)) {
    const d = await driverOf(src, syspath.slice(0, step.end));
    if (d !== undefined && KNOWN_PCI_DRIVERS.has(d)) {
      driver = d;
      address = step.address;
      break;
    }
  }
  if (driver === undefined || address === undefined) return false;

  const tgt = parseScsiTarget(syspath);
  const host = parseHostReference(syspath);
  let index = -1;
  if (host !== null) {
    try {
      index = await hostIndex(src, host);
    } catch (e) {
      src.onProblem?.(`cannot list ${host.parentDir}`, e);
      return false;
    }
  }
  disk.pci = address;

  switch (driver) {
    case 'ata_piix': // one host per IDE bus; target*:0:<unit>:0
      if (host === null || tgt === null || index < 0) return false;
      disk.busType = 'ide';
      disk.bus = index;
      disk.unit = tgt[1];
      return true;
    case 'sym53c8xx': // LSI SCSI: target*:0:<unit>:0
      if (tgt === null) return false;
      disk.busType = 'scsi';
      disk.unit = tgt[1];
      return true;
    case 'virtio-pci':
      if (tgt !== null) {
        disk.busType = 'scsi'; // virtio-scsi: target*:0:0:<unit>
        disk.unit = tgt[2];
      } else {
        disk.busType = 'virtio'; // virtio-blk: one disk per PCI function
      }
      return true;
    case 'ahci': // one host per port
      if (host === null || tgt === null || index < 0) return false;
      disk.busType = 'sata';
      disk.unit = index;
      return true;
    case 'nvme':
      disk.busType = 'nvme';
      return true;
    default: // xhci_hcd, ehci-pci
      disk.busType = 'usb';
      return true;
  }
}

/** build_guest_fsinfo_for_nonpci_virtio (virtio-ccw and virtio-mmio disks). */
function fillNonPciVirtio(syspath: string, disk: DiskAddressDraft): boolean {
  if (!syspath.includes('/virtio') || !syspath.includes('/block')) return false;
  const tgt = parseScsiTarget(syspath);
  if (tgt !== null) {
    disk.busType = 'scsi';
    [disk.bus, disk.target, disk.unit] = tgt;
  } else {
    disk.busType = 'virtio';
  }
  return true;
}

function fillCcw(syspath: string, disk: DiskAddressDraft): boolean {
  const ccw = parseCcwPath(syspath);
  if (ccw === null) return false;
  disk.ccw = ccw;
  if (syspath.slice(syspath.indexOf('/devices/css')).includes('/virtio')) fillNonPciVirtio(syspath, disk);
  return true;
}

/**
 * The address of a real (non-virtual) block device, or undefined when nothing at all is known
 * about it. Unknown parts keep qemu-ga's placeholders: PCI -1, bus type "unknown", bus, target
 * and unit 0, so every entry carries the members libvirt requires.
 */
export async function realDeviceAddress(src: SysfsBlockSource, syspath: string): Promise<GuestDiskAddress | undefined> {
  const disk: DiskAddressDraft = {
    pci: { domain: -1, bus: -1, slot: -1, function: -1 },
    busType: 'unknown',
    bus: 0,
    target: 0,
    unit: 0,
  };
  const udev = await udevDevice(src, syspath);
  if (udev?.devnode !== undefined) disk.dev = udev.devnode;
  const serial = udev?.properties.get('ID_SERIAL');
  if (serial !== undefined && serial !== '') disk.serial = serial;

  let known: boolean;
  if (syspath.includes('/devices/pci')) known = await fillPciAddress(src, syspath, disk);
  else if (syspath.includes('/devices/css')) known = fillCcw(syspath, disk);
  else if (syspath.includes('/virtio')) known = fillNonPciVirtio(syspath, disk);
  else known = false;

  return known || disk.dev !== undefined || disk.serial !== undefined ? toWire(disk) : undefined;
}

// ---------------------------------------------------------------------------------------------
// The device walk behind guest-get-fsinfo

export interface DeviceDisks {
  /** basename of the first resolved device path (vda1, dm-0), as qemu-ga names a filesystem */
  name: string | undefined;
  /** in qemu-ga's order: each new disk goes first */
  disks: GuestDiskAddress[];
}

/**
 * build_guest_fsinfo_for_device: resolve `devpath` (e.g. /sys/dev/block/253:0); a virtual device
 * contributes the disks of its slaves, recursively, a real one its own address.
 */
export async function collectDeviceDisks(src: SysfsBlockSource, devpath: string, into?: DeviceDisks, depth = 0): Promise<DeviceDisks> {
  const acc: DeviceDisks = into ?? { name: undefined, disks: [] };
  let syspath: string;
  try {
    syspath = await src.reader.realpath(devpath);
  } catch (e) {
    // ENOENT is normal in containers; qemu-ga still names the filesystem after the path.
    if ((e as { code?: unknown }).code !== 'ENOENT') src.onProblem?.(`cannot resolve ${devpath}`, e);
    acc.name ??= path.posix.basename(devpath);
    return acc;
  }
  acc.name ??= path.posix.basename(syspath);

  if (!syspath.includes(VIRTUAL_BLOCK_MARKER)) {
    const address = await realDeviceAddress(src, syspath);
    if (address !== undefined) acc.disks.unshift(address);
    return acc;
  }
  if (depth >= MAX_SLAVE_DEPTH) {
    src.onProblem?.(`slaves of ${syspath} nested deeper than ${MAX_SLAVE_DEPTH}`, undefined);
    return acc;
  }
  let slaves: SysfsDirent[];
  try {
    slaves = await src.reader.readDir(`${syspath}/slaves`);
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') src.onProblem?.(`cannot list ${syspath}/slaves`, e);
    return acc;
  }
  for (const slave of slaves) {
    if (slave.kind === 'symlink') await collectDeviceDisks(src, `${syspath}/slaves/${slave.name}`, acc, depth + 1);
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// guest-get-disks

/** The NVMe health log of a disk, when the system can read it (NVME_IOCTL_ADMIN_CMD). */
export type NvmeSmartReader = (devnode: string) => Promise<GuestDiskSmart | undefined>;

async function isVirtualDisk(src: SysfsBlockSource, diskDir: string): Promise<boolean> {
  try {
    return (await src.reader.realpath(diskDir)).includes(VIRTUAL_BLOCK_MARKER);
  } catch (e) {
    src.onProblem?.(`cannot resolve ${diskDir}`, e);
    return true; // qemu-ga: then do not look for an address
  }
}

/** The device-mapper name: sysfs has it for every dm device; udev's DM_NAME is the same. */
async function aliasOf(src: SysfsBlockSource, diskDir: string): Promise<string | undefined> {
  try {
    const name = (await src.reader.readFile(`${diskDir}/dm/name`)).replace(/\n$/, '');
    if (name !== '') return name;
  } catch {
    // not a device-mapper device
  }
  const dmName = (await udevDevice(src, diskDir))?.properties.get('DM_NAME');
  return dmName === undefined || dmName === '' ? undefined : dmName;
}

/** `slaves/` as device nodes, newest first as qemu-ga lists them; undefined without `slaves/`. */
async function dependenciesOf(src: SysfsBlockSource, diskDir: string): Promise<string[] | undefined> {
  let entries: SysfsDirent[];
  try {
    entries = await src.reader.readDir(`${diskDir}/slaves`);
  } catch {
    return undefined;
  }
  const deps: string[] = [];
  for (const e of entries) {
    const node = await devnodeOf(src, `${diskDir}/slaves/${e.name}`);
    if (node !== undefined) deps.unshift(node);
  }
  return deps;
}

/** /sys/block itself could not be listed; `reason` carries the errno error. */
export class SysBlockUnreadable extends Error {
  constructor(readonly reason: unknown) {
    super(`cannot list ${SYS_BLOCK}`);
  }
}

/**
 * qmp_guest_get_disks over /sys/block: every disk with a non-zero size and a device node, and each
 * of its partitions right before it, in qemu-ga's (reversed) order. Rejects (SysBlockUnreadable)
 * only when /sys/block itself cannot be listed.
 */
export async function listGuestDisks(src: SysfsBlockSource, readSmart?: NvmeSmartReader): Promise<GuestDiskInfo[]> {
  let entries: SysfsDirent[];
  try {
    entries = await src.reader.readDir(SYS_BLOCK);
  } catch (e) {
    throw new SysBlockUnreadable(e);
  }
  const result: GuestDiskInfo[] = [];
  for (const entry of entries) {
    if (entry.kind !== 'symlink') continue;
    const diskDir = `${SYS_BLOCK}/${entry.name}`;
    try {
      if ((await src.reader.readFile(`${diskDir}/size`)) === '0\n') continue;
    } catch {
      continue;
    }
    const name = await devnodeOf(src, diskDir);
    if (name === undefined) continue;

    let address: GuestDiskAddress | undefined;
    if (!(await isVirtualDisk(src, diskDir))) address = (await collectDeviceDisks(src, diskDir)).disks[0];
    const alias = await aliasOf(src, diskDir);
    const dependencies = await dependenciesOf(src, diskDir);
    let smart: GuestDiskSmart | undefined;
    if (address?.['bus-type'] === 'nvme' && readSmart !== undefined) {
      try {
        smart = await readSmart(name);
      } catch (e) {
        src.onProblem?.(`cannot read the NVMe health log of ${name}`, e);
      }
    }
    result.unshift({
      name,
      partition: false,
      ...(dependencies !== undefined && { dependencies }),
      ...(address !== undefined && { address }),
      ...(alias !== undefined && { alias }),
      ...(smart !== undefined && { smart }),
    });

    let children: SysfsDirent[] = [];
    try {
      children = await src.reader.readDir(diskDir);
    } catch (e) {
      src.onProblem?.(`cannot list ${diskDir}`, e);
    }
    for (const child of children) {
      if (child.kind !== 'directory' || !isPartitionName(entry.name, child.name)) continue;
      const partition = await devnodeOf(src, `${diskDir}/${child.name}`);
      if (partition === undefined) continue;
      result.unshift({ name: partition, partition: true, dependencies: [name] });
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// The real reader

function direntKind(d: fs.Dirent): SysfsEntryKind {
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isDirectory()) return 'directory';
  if (d.isFile()) return 'file';
  return 'other';
}

/**
 * node:fs under `root` ('' for the real system; a fixture directory in tests). Paths in and out
 * are system paths: `root` is added before each call and taken off realpath's answer. opendir
 * keeps the kernel's entry order (fs.readdir would sort), which decides qemu-ga's output order.
 */
export function createSysfsReader(root = ''): SysfsReader {
  const real = root === '' ? '' : fs.realpathSync(root);
  const inside = (p: string) => real + p;
  return {
    async realpath(p) {
      const resolved = await fs.promises.realpath(inside(p));
      if (real === '') return resolved;
      if (resolved !== real && !resolved.startsWith(real + '/')) {
        throw Object.assign(new Error(`${p} resolves outside ${root}`), { code: 'EXDEV' });
      }
      return resolved.slice(real.length) || '/';
    },
    readlink: (p) => fs.promises.readlink(inside(p)),
    async readDir(p) {
      const dir = await fs.promises.opendir(inside(p));
      const entries: SysfsDirent[] = [];
      for await (const d of dir) entries.push({ name: d.name, kind: direntKind(d) });
      return entries;
    },
    readFile: (p) => fs.promises.readFile(inside(p), 'utf8'),
  };
}
