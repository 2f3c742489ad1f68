import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findPortDevice, listSysfsPorts, portNameOf, resolveVirtioPort, type VirtioPortsIo } from '../../../../src/platform/linux/virtio-ports';

const enoent = () => Object.assign(new Error('ENOENT'), { code: 'ENOENT' });

function sysfs(files: Record<string, string>, devices: string[]): VirtioPortsIo {
  return {
    exists: (p) => devices.includes(p),
    readdir: (d) => {
      if (d !== '/sys/class/virtio-ports') throw enoent();
      return Object.keys(files).map((f) => f.split('/')[4]!);
    },
    readFile: (f) => {
      const text = files[f];
      if (text === undefined) throw enoent();
      return text;
    },
  };
}

describe('virtio-ports', () => {
  test('portNameOf takes only /dev/virtio-ports/<name>', () => {
    assert.equal(portNameOf('/dev/virtio-ports/org.qemu.guest_agent.0'), 'org.qemu.guest_agent.0');
    assert.equal(portNameOf('/dev/virtio-ports//com.163.spice.0'), 'com.163.spice.0');
    assert.equal(portNameOf('/dev/vport0p1'), undefined);
    assert.equal(portNameOf('/dev/virtio-ports/'), undefined);
    assert.equal(portNameOf('/dev/virtio-ports/a/b'), undefined);
  });

  test('findPortDevice matches the trimmed sysfs name', () => {
    const ports = [
      { device: 'vport0p1', name: 'com.163.spice.0\n' },
      { device: 'vport1p1', name: 'org.qemu.guest_agent.0\n' },
    ];
    assert.equal(findPortDevice('org.qemu.guest_agent.0', ports), '/dev/vport1p1');
    assert.equal(findPortDevice('org.qemu.guest_agent', ports), undefined);
  });

  test('listSysfsPorts skips unnamed ports and survives a missing class directory', () => {
    const io = sysfs({ '/sys/class/virtio-ports/vport0p2/name': 'b\n', '/sys/class/virtio-ports/vport0p1/name': '', '/sys/class/virtio-ports/vport0p3/name': 'c' }, []);
    assert.deepEqual(listSysfsPorts(io), [
      { device: 'vport0p2', name: 'b' },
      { device: 'vport0p3', name: 'c' },
    ]);
    assert.deepEqual(listSysfsPorts({ readdir: () => { throw enoent(); }, readFile: () => '' }), []);
  });

  test('resolveVirtioPort: the link when present, sysfs when the link is missing, the path itself otherwise', () => {
    const io = sysfs(
      { '/sys/class/virtio-ports/vport0p1/name': 'com.163.spice.0\n', '/sys/class/virtio-ports/vport0p2/name': 'org.qemu.guest_agent.0\n' },
      ['/dev/vport0p1', '/dev/vport0p2', '/dev/virtio-ports/com.163.spice.0'],
    );
    assert.deepEqual(resolveVirtioPort('/dev/virtio-ports/com.163.spice.0', io), { device: '/dev/virtio-ports/com.163.spice.0', viaSysfs: false });
    assert.deepEqual(resolveVirtioPort('/dev/virtio-ports/org.qemu.guest_agent.0', io), { device: '/dev/vport0p2', viaSysfs: true });
    assert.deepEqual(resolveVirtioPort('/dev/virtio-ports/absent', io), { device: '/dev/virtio-ports/absent', viaSysfs: false });
    assert.deepEqual(resolveVirtioPort('/dev/ttyS9', io), { device: '/dev/ttyS9', viaSysfs: false });
  });
});
