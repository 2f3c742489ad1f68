/** The generated client surface (emit-client.ts) and the libvirt route's error mapping. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { methodName } from '../../../schema/codegen/emit-client';
import { QgaClient, toExactIntegers } from '../../../src/host/agent-client';
import { QgaConnectionError, QgaRemoteError, QgaTimeoutError, ReplyValidationError } from '../../../src/host/client-errors';
import { humanBytes, usageFromFsinfo, usePercent } from '../../../src/host/filesystem-usage';
import { formatJson, parseJsonText } from '../../../src/host/json-text';
import { LibvirtRoute, parseAgentChannels, type CommandResult } from '../../../src/host/libvirt-route';
import { validateReply } from '../../../src/host/reply-validation';
import { QGA_CLIENT_COMMANDS } from '../../../src/generated/qga-client';
import { QGA_COMMANDS } from '../../../src/generated/qga-commands';

describe('generated client table', () => {
  test('one entry and one typed method per schema command', () => {
    assert.deepEqual(Object.keys(QGA_CLIENT_COMMANDS), QGA_COMMANDS.map((c) => c.name));
    const client = new QgaClient({ target: 'x', exchange: async () => null, close: async () => undefined });
    for (const c of QGA_COMMANDS) assert.equal(typeof (client as unknown as Record<string, unknown>)[methodName(c.name)], 'function', c.name);
    assert.equal(methodName('guest-get-fsinfo'), 'guestGetFsinfo');
    assert.equal(QGA_CLIENT_COMMANDS['guest-shutdown'].successResponse, false);
  });

  test('reply validators: cpustats union, fsinfo with extra members, enums, integer ranges', () => {
    const cpu = QGA_CLIENT_COMMANDS['guest-get-cpustats'].validateReply;
    assert.deepEqual(validateReply('guest-get-cpustats', cpu, [{ type: 'linux', cpu: 0n, user: 1n, nice: 0n, system: 2n, idle: 3n }]), [{ type: 'linux', cpu: 0n, user: 1n, nice: 0n, system: 2n, idle: 3n }]);
    assert.throws(() => validateReply('guest-get-cpustats', cpu, [{ type: 'linux', cpu: 0n, user: -1n, nice: 0n, system: 2n, idle: 3n }]), /return\[0\]\.user: expected uint64, got integer -1/);
    assert.throws(() => validateReply('guest-get-cpustats', cpu, [{ type: 'windows', cpu: 0n }]), ReplyValidationError);
    const fsinfo = QGA_CLIENT_COMMANDS['guest-get-fsinfo'].validateReply;
    const entry = { name: 'vda1', mountpoint: '/', type: 'ext4', disk: [], 'used-bytes': 1n, 'from-the-future': 'kept' };
    assert.deepEqual(validateReply('guest-get-fsinfo', fsinfo, [entry]), [entry]);
    assert.throws(() => validateReply('guest-get-fsinfo', fsinfo, [{ name: 'vda1', mountpoint: '/', type: 'ext4' }]), /return\[0\]\.disk: missing/);
    const ifs = QGA_CLIENT_COMMANDS['guest-network-get-interfaces'].validateReply;
    assert.throws(() => validateReply('x', ifs, [{ name: 'eth0', 'ip-addresses': [{ 'ip-address': '1.2.3.4', 'ip-address-type': 'ipv5', prefix: 8n }] }]), /ip-address-type: expected one of ipv4\|ipv6/);
    // qemu writes an integral double (a login time) as an integer token
    assert.deepEqual(validateReply('x', QGA_CLIENT_COMMANDS['guest-get-users'].validateReply, [{ user: 'root', 'login-time': 1700000000n }]), [{ user: 'root', 'login-time': 1700000000 }]);
    assert.equal(validateReply('x', QGA_CLIENT_COMMANDS['guest-ping'].validateReply, {}), undefined);
  });

  test('numbers become exact bigints before validation; fractions do not', () => {
    assert.deepEqual(toExactIntegers({ a: 1, b: [2, 2.5], c: 'x', d: undefined }), Object.assign(Object.create(null), { a: 1n, b: [2n, 2.5], c: 'x' }));
  });

  test('JSON text: exact integers in and out, qemu single quotes accepted', () => {
    assert.deepEqual(parseJsonText("{'id': 18446744073709551615}"), Object.assign(Object.create(null), { id: 18446744073709551615n }));
    assert.equal(parseJsonText('42'), 42n);
    assert.throws(() => parseJsonText('{"a":'), SyntaxError);
    assert.equal(formatJson({ a: 2n ** 64n, b: [1, 'x'], c: undefined }), '{"a":18446744073709551616,"b":[1,"x"]}');
  });

  test('df figures: df -h rounding and Use%', () => {
    assert.equal(humanBytes(0n), '0');
    assert.equal(humanBytes(1023n), '1023');
    assert.equal(humanBytes(1536n), '1.5K');
    assert.equal(humanBytes(10n * 1024n ** 3n + 1n), '11G');
    assert.equal(humanBytes(null), '-');
    const u = usageFromFsinfo({ name: 'vda1', mountpoint: '/', type: 'ext4', disk: [], 'used-bytes': 25n, 'total-bytes': 100n });
    assert.deepEqual([u.sizeBytes, u.usedBytes, u.availBytes, usePercent(u)], [100n, 25n, 75n, 25]);
    assert.equal(usePercent({ ...u, usedBytes: 1n, availBytes: 199n }), 1, 'rounded up, as df does');
  });
});

describe('libvirt route', () => {
  const route = (result: CommandResult, seen: string[][] = []) =>
    new LibvirtRoute('web1', { uri: 'qemu:///system', run: async (argv) => (seen.push([...argv]), result) });

  test('a reply printed by virsh is the reply, integers exact', async () => {
    const seen: string[][] = [];
    const client = new QgaClient(route({ code: 0, stdout: '{"return":{"f_bsize":4096,"f_frsize":4096,"f_blocks":1,"f_bfree":1,"f_bavail":1,"f_files":1,"f_ffree":1,"f_favail":1,"f_fsid":13940728729374423703,"f_flag":0,"f_namemax":255}}\n', stderr: '' }, seen));
    const st = await client.guestGetStatvfs({ path: '/' }, { timeoutMs: 2500 });
    assert.equal(st.f_fsid, 13940728729374423703n);
    assert.deepEqual(seen[0], ['virsh', '-c', 'qemu:///system', 'qemu-agent-command', 'web1', '{"execute": "guest-get-statvfs", "arguments": {"path": "/"}}', '--timeout', '3']);
  });

  test('libvirt\'s error texts are mapped back to classes', async () => {
    const fail = (stderr: string) => new QgaClient(route({ code: 1, stdout: '', stderr }));
    await assert.rejects(fail("error: internal error: unable to execute QEMU agent command 'guest-get-load': The command guest-get-load has not been found\n").guestGetLoad(), (e: unknown) => e instanceof QgaRemoteError && e.commandUnavailable && e.desc === 'The command guest-get-load has not been found');
    await assert.rejects(fail("error: internal error: unable to execute QEMU agent command 'guest-file-open': failed to open file '/x' (mode: 'r'): No such file or directory\n").guestFileOpen({ path: '/x' }), { errorClass: 'GenericError', desc: "failed to open file '/x' (mode: 'r'): No such file or directory" });
    await assert.rejects(fail('error: Guest agent is not responding: Guest agent not available for now\n').guestPing(), QgaTimeoutError);
    await assert.rejects(fail('error: argument unsupported: QEMU guest agent is not configured\n').guestPing(), QgaConnectionError);
    await assert.rejects(new QgaClient(route({ code: null, stdout: '', stderr: '', spawnError: 'ENOENT' })).guestPing(), (e: unknown) => e instanceof QgaConnectionError && e.code === 'ENOENT');
    // shutdown stays silent: libvirt's timeout is its success
    assert.equal(await fail('error: Guest agent is not responding: Guest agent not available for now\n').guestShutdown(), undefined);
  });

  test('agent channels from the domain XML', () => {
    const xml = `<devices>
      <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
      <channel type="unix"><source mode="bind" path="/var/lib/libvirt/qemu/web1.agent"/><target type="virtio" name="com.163.spice.0"/><address type='virtio-serial' controller='0' bus='0' port='2'/></channel>
      <channel type='unix'><source mode='bind' path='/run/libvirt/qemu/channel/1-web1/org.qemu.guest_agent.0'/><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
    </devices>`;
    assert.deepEqual(parseAgentChannels(xml), [
      { name: 'com.163.spice.0', path: '/var/lib/libvirt/qemu/web1.agent' },
      { name: 'org.qemu.guest_agent.0', path: '/run/libvirt/qemu/channel/1-web1/org.qemu.guest_agent.0' },
    ]);
  });
});
