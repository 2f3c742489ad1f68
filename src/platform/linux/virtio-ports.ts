/**
 * Finding a virtio-serial port by name without udev.
 *
 * udev's rule makes `/dev/virtio-ports/<name>` a link to `../vportNpM`. Minimal guests (an
 * initramfs, a container-like image without udev) have only the `/dev/vportNpM` nodes that
 * devtmpfs creates; the name is then in `/sys/class/virtio-ports/vportNpM/name`.
 */
import * as path from 'node:path';

export const VIRTIO_PORTS_DIR = '/dev/virtio-ports';
export const VIRTIO_PORTS_SYSFS = '/sys/class/virtio-ports';

/** The filesystem calls the lookup makes, injected so tests need no sysfs. */
export interface VirtioPortsIo {
  /** true when the path (or what its link points to) exists */
  exists(file: string): boolean;
  readdir(dir: string): string[];
  readFile(file: string): string;
}

/** One entry of /sys/class/virtio-ports: its device name (vport0p2) and its port name. */
export interface SysfsPort {
  device: string;
  name: string;
}

/** The port name a `/dev/virtio-ports/<name>` path asks for, or undefined for any other path. */
export function portNameOf(portPath: string): string | undefined {
  const normal = path.posix.normalize(portPath);
  if (path.posix.dirname(normal) !== VIRTIO_PORTS_DIR) return undefined;
  const name = path.posix.basename(normal);
  return name === '' || name === '.' || name === '..' ? undefined : name;
}

/** The device node of the port called `name`; sysfs `name` files end in a newline. */
export function findPortDevice(name: string, ports: readonly SysfsPort[]): string | undefined {
  const match = ports.find((p) => p.name.trim() === name);
  return match === undefined ? undefined : `/dev/${match.device}`;
}

/** Every port sysfs knows, with its name; ports that have no name yet are left out. */
export function listSysfsPorts(io: Pick<VirtioPortsIo, 'readdir' | 'readFile'>): SysfsPort[] {
  let devices: string[];
  try {
    devices = io.readdir(VIRTIO_PORTS_SYSFS);
  } catch {
    return [];
  }
  const ports: SysfsPort[] = [];
  for (const device of [...devices].sort()) {
    try {
      const name = io.readFile(`${VIRTIO_PORTS_SYSFS}/${device}/name`).trim();
      if (name !== '') ports.push({ device, name });
    } catch {
      // a port going away while we look, or one without a name attribute
    }
  }
  return ports;
}

export interface ResolvedPort {
  /** what to open */
  device: string;
  /** set when the /dev/virtio-ports link was missing and sysfs named the device */
  viaSysfs: boolean;
}

/**
 * What to open for `portPath`: the path itself when it exists or is not a
 * `/dev/virtio-ports/<name>` path; otherwise the `/dev/vportNpM` that sysfs names. When neither
 * exists the path itself is returned, so the open reports the usual ENOENT on the path asked for.
 */
export function resolveVirtioPort(portPath: string, io: VirtioPortsIo): ResolvedPort {
  if (io.exists(portPath)) return { device: portPath, viaSysfs: false };
  const name = portNameOf(portPath);
  if (name === undefined) return { device: portPath, viaSysfs: false };
  const device = findPortDevice(name, listSysfsPorts(io));
  if (device === undefined || !io.exists(device)) return { device: portPath, viaSysfs: false };
  return { device, viaSysfs: true };
}
