import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { createSystemInfoHandlers, type SystemInfoDeps } from '../../../src/commands/system-info';
import type { CommandContext } from '../../../src/dispatch/command-context';
import { createInjector } from '../../support/inject';
import { fixturePath, readFixtureBytes } from '../platform/linux/fixture';

const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });

interface FakeSystem {
  files?: Record<string, Buffer | string>;
  dirs?: Record<string, Array<{ name: string; isFile: boolean }>>;
  env?: Record<string, string>;
  hostname?: () => string;
  links?: Record<string, string>;
}

function deps(sys: FakeSystem = {}): SystemInfoDeps & { reads: string[] } {
  const files = sys.files ?? {};
  const reads: string[] = [];
  const read = async (p: string) => {
    reads.push(p);
    const content = files[sys.links?.[p] ?? p];
    if (content === undefined) throw enoent(p);
    if (content === 'EACCES') throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    return Buffer.isBuffer(content) ? content : Buffer.from(content);
  };
  return {
    reads,
    hostname: sys.hostname ?? (() => 'vm'),
    uname: () => ({ release: '6.18.44-fc-v657', version: '#1 SMP PREEMPT_DYNAMIC @0', machine: 'x86_64' }),
    env: (name) => sys.env?.[name],
    readFile: read,
    listDirectory: async (p) => {
      const entries = sys.dirs?.[p];
      if (entries === undefined) throw enoent(p);
      return entries;
    },
    timezoneFiles: {
      readFile: read,
      readLink: async (p) => {
        const target = sys.links?.[p];
        if (target !== undefined) return target;
        if (files[p] !== undefined) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
        throw enoent(p);
      },
      isRegularFileNoFollow: async (p) => {
        if (sys.links?.[p] !== undefined) return false;
        if (files[p] !== undefined) return true;
        throw enoent(p);
      },
      exists: async (p) => files[p] !== undefined,
    },
  };
}

const DEBIAN_OS_RELEASE = fs.readFileSync(fixturePath('os-release-debian.txt'));
const QGA_TEST_OS_RELEASE = fs.readFileSync(fixturePath('os-release-qga-test.txt'));

const request = async (d: SystemInfoDeps, execute: string, nowNs?: bigint): Promise<string> => {
  const inj = createInjector({ handlers: createSystemInfoHandlers(d), ...(nowNs === undefined ? {} : { nowNs: () => nowNs }) });
  return inj.text(`{"execute":"${execute}"}`);
};

describe('guest-get-host-name', () => {
  it("answers gethostname's name, and localhost when it fails", async () => {
    assert.equal(await request(deps(), 'guest-get-host-name'), '{"return": {"host-name": "vm"}}\n');
    const failing = deps({
      hostname: () => {
        throw new Error('ENAMETOOLONG');
      },
    });
    assert.equal(await request(failing, 'guest-get-host-name'), '{"return": {"host-name": "localhost"}}\n');
  });
});

describe('guest-get-osinfo', () => {
  it('gives the reply qemu-ga 7.2 gave on Debian 12 (reference §6.2)', async () => {
    const d = deps({ files: { '/etc/os-release': DEBIAN_OS_RELEASE } });
    assert.equal(
      await request(d, 'guest-get-osinfo'),
      '{"return": {"name": "Debian GNU/Linux", "kernel-release": "6.18.44-fc-v657", "version": "12 (bookworm)", "pretty-name": "Debian GNU/Linux 12 (bookworm)", ' +
        '"version-id": "12", "kernel-version": "#1 SMP PREEMPT_DYNAMIC @0", "machine": "x86_64", "id": "debian"}}\n',
    );
  });

  it('reads only QGA_OS_RELEASE when it is set (reference §6.7)', async () => {
    const d = deps({ env: { QGA_OS_RELEASE: '/srv/test-os-release' }, files: { '/srv/test-os-release': QGA_TEST_OS_RELEASE, '/etc/os-release': DEBIAN_OS_RELEASE } });
    assert.equal(
      await request(d, 'guest-get-osinfo'),
      '{"return": {"name": "QEMU-GA", "kernel-release": "6.18.44-fc-v657", "version": "Test 1", "variant": "Unit test \\"\'$`\\\\ and \\\\\\\\ etc.", ' +
        '"pretty-name": "QEMU Guest Agent test", "version-id": "1", "variant-id": "unit-test", "kernel-version": "#1 SMP PREEMPT_DYNAMIC @0", "machine": "x86_64", "id": "qemu-ga-test"}}\n',
    );
    const missing = deps({ env: { QGA_OS_RELEASE: '/nowhere' }, files: { '/etc/os-release': DEBIAN_OS_RELEASE } });
    assert.equal(
      await request(missing, 'guest-get-osinfo'),
      '{"return": {"kernel-release": "6.18.44-fc-v657", "kernel-version": "#1 SMP PREEMPT_DYNAMIC @0", "machine": "x86_64"}}\n',
    );
  });

  it('falls back to /usr/lib/os-release when /etc/os-release is missing, unreadable or invalid', async () => {
    for (const etc of [undefined, 'EACCES', 'garbage line\n', Buffer.from([0x49, 0x44, 0x3d, 0xff, 0x0a])]) {
      const files: Record<string, Buffer | string> = { '/usr/lib/os-release': 'ID=fallback\n' };
      if (etc !== undefined) files['/etc/os-release'] = etc;
      const info = await createSystemInfoHandlers(deps({ files }))['guest-get-osinfo']({}, {} as CommandContext);
      assert.equal(info.id, 'fallback', String(etc));
    }
  });
});

describe('guest-get-timezone', () => {
  const nov = 1795637613630933000n; // 2026-11-25T…Z, the recorded qemu-ga run
  const jul = BigInt(Date.parse('2026-07-01T12:00:00Z')) * 1_000_000n;
  const berlin = readFixtureBytes('tzif-Europe-Berlin.bin');

  it('answers the abbreviation and offset in force now', async () => {
    const d = deps({ files: { '/usr/share/zoneinfo/Europe/Berlin': berlin }, links: { '/etc/localtime': '/usr/share/zoneinfo/Europe/Berlin' } });
    assert.equal(await request(d, 'guest-get-timezone', nov), '{"return": {"zone": "CET", "offset": 3600}}\n');
    assert.equal(await request(d, 'guest-get-timezone', jul), '{"return": {"zone": "CEST", "offset": 7200}}\n');
  });

  it('follows TZ and TZDIR from the environment', async () => {
    const d = deps({ env: { TZ: 'Here', TZDIR: '/zones' }, files: { '/zones/Here': berlin } });
    assert.equal(await request(d, 'guest-get-timezone', jul), '{"return": {"zone": "CEST", "offset": 7200}}\n');
    const posix = deps({ env: { TZ: '<+0330>-3:30' } });
    assert.equal(await request(posix, 'guest-get-timezone', nov), '{"return": {"zone": "+0330", "offset": 12600}}\n');
  });

  it('answers UTC (never -0) when nothing names a zone, like qemu-ga (reference §6.2)', async () => {
    assert.equal(await request(deps(), 'guest-get-timezone', nov), '{"return": {"zone": "UTC", "offset": 0}}\n');
    const utc = deps({ files: { '/usr/share/zoneinfo/Etc/UTC': readFixtureBytes('tzif-Etc-UTC.bin') }, links: { '/etc/localtime': '/usr/share/zoneinfo/Etc/UTC' } });
    assert.equal(await request(utc, 'guest-get-timezone', nov), '{"return": {"zone": "UTC", "offset": 0}}\n');
  });
});

describe('guest-get-users', () => {
  const SESSIONS = '/run/systemd/sessions';

  it('reads utmp like getutxent', async () => {
    const d = deps({ files: { '/var/run/utmp': readFixtureBytes('utmp-users.bin') } });
    assert.equal(
      await request(d, 'guest-get-users'),
      '{"return": [{"login-time": 1700000050.000001, "user": "alice"}, {"login-time": 1700000200.5, "user": "bob"}, ' +
        '{"login-time": 1700000300, "user": "abcdefghijklmnopqrstuvwxyz012345"}, {"login-time": 1700000400.999999, "user": "root"}]}\n',
    );
  });

  it('answers [] for an empty or unreadable utmp, without looking at logind', async () => {
    const empty = deps({ files: { '/var/run/utmp': Buffer.alloc(0) }, dirs: { [SESSIONS]: [{ name: '3', isFile: true }] } });
    assert.equal(await request(empty, 'guest-get-users'), '{"return": []}\n');
    const denied = deps({ files: { '/var/run/utmp': 'EACCES' }, dirs: { [SESSIONS]: [{ name: '3', isFile: true }] } });
    assert.equal(await request(denied, 'guest-get-users'), '{"return": []}\n');
    assert.ok(!denied.reads.some((p) => p.startsWith(SESSIONS)));
  });

  it('falls back to logind session files when there is no utmp (beyond qemu-ga, which answers [])', async () => {
    const dir = fixturePath('logind-sessions');
    const files: Record<string, Buffer> = {};
    const entries = fs.readdirSync(dir).map((name) => {
      files[`${SESSIONS}/${name}`] = fs.readFileSync(`${dir}/${name}`);
      return { name, isFile: true };
    });
    // logind's .ref FIFOs would block a reader; they must not be opened.
    entries.push({ name: '3.ref', isFile: false }, { name: '7.ref', isFile: true });
    const d = deps({ files, dirs: { [SESSIONS]: entries } });
    assert.equal(
      await request(d, 'guest-get-users'),
      '{"return": [{"login-time": 1700000050.000001, "user": "alice"}, {"login-time": 1700000200.5, "user": "bob"}, {"login-time": 1700000400.999999, "user": "root"}]}\n',
    );
    assert.ok(!d.reads.some((p) => p.endsWith('.ref')));
    assert.equal(await request(deps(), 'guest-get-users'), '{"return": []}\n', 'neither utmp nor logind');
  });
});
