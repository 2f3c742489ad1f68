/**
 * Fake /sys (and /run/udev) trees for the block-device tests, built in a temp dir with real
 * relative symlinks as the kernel makes them, and read through createSysfsReader(root).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSysfsReader, type SysfsReader } from '../../../../src/platform/linux/sysfs-block';

/** A file's content, a symlink (its target, relative like sysfs' own), or an empty directory. */
export type TreeNode = string | { link: string } | { dir: true };

export interface FakeTree {
  root: string;
  /** Entries sorted by name, so test expectations do not depend on the temp filesystem's order. */
  reader: SysfsReader;
  remove(): void;
}

export function buildTree(spec: Record<string, TreeNode>): FakeTree {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-sysfs-'));
  for (const [p, node] of Object.entries(spec)) {
    const full = path.join(root, p);
    if (typeof node === 'object' && 'dir' in node) {
      fs.mkdirSync(full, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (typeof node === 'string') fs.writeFileSync(full, node);
    else fs.symlinkSync(node.link, full);
  }
  const real = createSysfsReader(root);
  return {
    root,
    reader: {
      ...real,
      readDir: async (p) => (await real.readDir(p)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    },
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/** The relative symlink from `from` (a path inside the tree) to `to`, as sysfs writes them. */
export function rel(from: string, to: string): { link: string } {
  return { link: path.posix.relative(path.posix.dirname(from), to) };
}

export function uevent(major: number, minor: number, devname: string | undefined, devtype = 'disk'): string {
  return `MAJOR=${major}\nMINOR=${minor}\n${devname === undefined ? '' : `DEVNAME=${devname}\n`}DEVTYPE=${devtype}\n`;
}

/**
 * A block device directory at `dir`, reachable as /sys/dev/block/M:m (and /sys/block/<name> for
 * whole disks). Partitions go inside their disk's directory.
 */
export function blockDevice(
  dir: string,
  opts: { major: number; minor: number; devname?: string; size?: string; partition?: boolean; slaves?: boolean },
): Record<string, TreeNode> {
  const name = path.posix.basename(dir);
  const devname = 'devname' in opts ? opts.devname : name;
  const spec: Record<string, TreeNode> = {
    [`${dir}/uevent`]: uevent(opts.major, opts.minor, devname, opts.partition ? 'partition' : 'disk'),
    [`${dir}/size`]: opts.size ?? '2048\n',
    [`${dir}/dev`]: `${opts.major}:${opts.minor}\n`,
  };
  const devLink = `/sys/dev/block/${opts.major}:${opts.minor}`;
  spec[devLink] = rel(devLink, dir);
  if (!opts.partition) {
    spec[`/sys/block/${name}`] = rel(`/sys/block/${name}`, dir);
    if (opts.slaves !== false) spec[`${dir}/slaves`] = { dir: true };
  }
  return spec;
}

/** `<device>/driver` pointing at /sys/bus/pci/drivers/<driver>. */
export function pciDriver(deviceDir: string, driver: string): Record<string, TreeNode> {
  return {
    [`/sys/bus/pci/drivers/${driver}`]: { dir: true },
    [`${deviceDir}/driver`]: rel(`${deviceDir}/driver`, `/sys/bus/pci/drivers/${driver}`),
  };
}
