/**
 * guest-shutdown and guest-suspend-* with fake runners and a fake /sys/power/state: nothing here
 * shuts down or suspends this machine. createStatusRunner is checked with harmless programs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { createPowerHandlers, createStatusRunner, type PowerDeps } from '../../../src/commands/power';
import { Errors, QgaError } from '../../../src/protocol/errors';
import { createInjector } from '../../support/inject';

interface FakeSystem {
  /** programs in /sbin that exist as regular files */
  files?: string[];
  /** exit status per argv (joined by spaces); missing = -1, "not found" */
  status?: Record<string, number | QgaError>;
  /** ga_run_command outcome */
  runResult?: () => Promise<number>;
  powerState?: string | null;
  writeError?: string;
}

function setup(sys: FakeSystem = {}) {
  const runs: { argv: readonly string[]; input: unknown; action: string }[] = [];
  const statusCalls: string[] = [];
  const writes: string[] = [];
  const deps: PowerDeps = {
    runCommand: (argv, input, action) => {
      runs.push({ argv, input, action });
      return sys.runResult ? sys.runResult() : Promise.resolve(0);
    },
    runForStatus: async (argv) => {
      const key = argv.join(' ');
      statusCalls.push(key);
      const s = sys.status?.[key];
      if (s instanceof QgaError) throw s;
      return s ?? -1;
    },
    isRegularFile: async (p) => (sys.files ?? []).includes(p),
    readPowerState: async () => (sys.powerState === undefined || sys.powerState === null ? null : Buffer.from(sys.powerState).subarray(0, 31)),
    writePowerState: async (word) => {
      if (sys.writeError) throw Object.assign(new Error(sys.writeError), { code: sys.writeError });
      writes.push(word);
    },
  };
  const inj = createInjector({ handlers: createPowerHandlers(deps) });
  const request = async (line: string) => {
    let r = await inj.text(line);
    for (let i = 0; i < 20 && !r.endsWith('\n'); i++) r += await inj.text('');
    return r;
  };
  return { runs, statusCalls, writes, request };
}

/** The reply line as qemu-ga encodes it: non-ASCII as upper-case \\uXXXX. */
const error = (desc: string) =>
  `{"error": {"class": "GenericError", "desc": ${JSON.stringify(desc).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`)}}}\n`;
const SHUTDOWN_ARGS = (flag: string) => ['/sbin/shutdown', '-h', flag, '+0', 'hypervisor initiated shutdown'];

describe('guest-shutdown', () => {
  test('no program of its own: /sbin/shutdown -h -P|-H|-r +0 "hypervisor initiated shutdown"', async () => {
    for (const [mode, flag] of [[undefined, '-P'], ['powerdown', '-P'], ['halt', '-H'], ['reboot', '-r']] as const) {
      const { runs, request } = setup();
      const args = mode === undefined ? '' : `,"arguments":{"mode":"${mode}"}`;
      assert.equal(await request(`{"execute":"guest-shutdown"${args}}`), '', 'success writes nothing');
      assert.deepEqual(runs, [{ argv: SHUTDOWN_ARGS(flag), input: null, action: 'shutdown' }], String(mode));
    }
  });

  test('10.2: /sbin/poweroff, /sbin/halt or /sbin/reboot alone when it exists', async () => {
    for (const [mode, program] of [['powerdown', '/sbin/poweroff'], ['halt', '/sbin/halt'], ['reboot', '/sbin/reboot']] as const) {
      const { runs, request } = setup({ files: ['/sbin/poweroff', '/sbin/halt', '/sbin/reboot'] });
      assert.equal(await request(`{"execute":"guest-shutdown","arguments":{"mode":"${mode}"}}`), '');
      assert.deepEqual(runs[0]!.argv, [program]);
    }
    const { runs, request } = setup({ files: ['/sbin/reboot'] });
    await request('{"execute":"guest-shutdown"}');
    assert.deepEqual(runs[0]!.argv, SHUTDOWN_ARGS('-P'), 'only the matching program counts');
  });

  test('invalid mode (7.2 recording, with and without id; sic: no closing parenthesis)', async () => {
    const { runs, request } = setup();
    assert.equal(await request('{"execute":"guest-shutdown","arguments":{"mode":"bogus"}}'), error('mode is invalid (valid values are: halt|powerdown|reboot'));
    assert.equal(
      await request('{"execute":"guest-shutdown","arguments":{"mode":"bogus"},"id":"x"}'),
      '{"id": "x", "error": {"class": "GenericError", "desc": "mode is invalid (valid values are: halt|powerdown|reboot"}}\n',
    );
    assert.equal(await request('{"execute":"guest-shutdown","arguments":{"mode":""}}'), error('mode is invalid (valid values are: halt|powerdown|reboot'));
    assert.equal(await request('{"execute":"guest-shutdown","arguments":{"mode":"constructor"}}'), error('mode is invalid (valid values are: halt|powerdown|reboot'));
    assert.equal(runs.length, 0);
  });

  test('a failing shutdown program is an error reply', async () => {
    const { request } = setup({ runResult: () => Promise.reject(Errors.childProcessExitStatus('shutdown', 1)) });
    assert.equal(await request('{"execute":"guest-shutdown"}'), error('child process has failed to shutdown: exit status 1'));
  });
});

describe('guest-suspend-*', () => {
  test('systemd first: status 1..3 means supported, then systemctl <verb>', async () => {
    for (const [cmd, unit, verb] of [
      ['guest-suspend-disk', 'systemd-hibernate', 'hibernate'],
      ['guest-suspend-ram', 'systemd-suspend', 'suspend'],
      ['guest-suspend-hybrid', 'systemd-hybrid-sleep', 'hybrid-sleep'],
    ] as const) {
      const { statusCalls, request, writes } = setup({ status: { [`systemctl status ${unit}`]: 3, [`systemctl ${verb}`]: 0 } });
      assert.equal(await request(`{"execute":"${cmd}"}`), '');
      assert.deepEqual(statusCalls, [`systemctl status ${unit}`, `systemctl ${verb}`]);
      assert.deepEqual(writes, []);
    }
  });

  test('systemd status 0 or 4 is not support; pm-utils next', async () => {
    for (const st of [0, 4, -1]) {
      const { statusCalls, request } = setup({
        status: { 'systemctl status systemd-suspend': st, 'pm-is-supported --suspend': 0, 'pm-suspend': 0 },
      });
      assert.equal(await request('{"execute":"guest-suspend-ram"}'), '');
      assert.deepEqual(statusCalls, ['systemctl status systemd-suspend', 'pm-is-supported --suspend', 'pm-suspend'], String(st));
    }
    const { statusCalls, request } = setup({ status: { 'pm-is-supported --suspend-hybrid': 0, 'pm-suspend-hybrid': 0 } });
    assert.equal(await request('{"execute":"guest-suspend-hybrid"}'), '');
    assert.deepEqual(statusCalls.slice(1), ['pm-is-supported --suspend-hybrid', 'pm-suspend-hybrid']);
  });

  test('sysfs last: "mem" / "disk" written when /sys/power/state lists it', async () => {
    const ram = setup({ powerState: 'freeze mem disk\n' });
    assert.equal(await ram.request('{"execute":"guest-suspend-ram"}'), '');
    assert.deepEqual(ram.writes, ['mem']);
    const disk = setup({ powerState: 'freeze mem disk\n' });
    assert.equal(await disk.request('{"execute":"guest-suspend-disk"}'), '');
    assert.deepEqual(disk.writes, ['disk']);
  });

  test('only the first 31 bytes of /sys/power/state are looked at', async () => {
    const { request, writes } = setup({ powerState: `${'x'.repeat(31)} disk` });
    assert.equal(await request('{"execute":"guest-suspend-disk"}'), error('the requested suspend mode is not supported by the guest'));
    assert.deepEqual(writes, []);
  });

  test('nothing supports the mode: upstream text; hybrid has no sysfs way', async () => {
    const none = setup({ powerState: 'freeze\n' });
    assert.equal(await none.request('{"execute":"guest-suspend-ram"}'), error('the requested suspend mode is not supported by the guest'));
    const hybrid = setup({ powerState: 'freeze mem disk\n' });
    assert.equal(await hybrid.request('{"execute":"guest-suspend-hybrid"}'), error('the requested suspend mode is not supported by the guest'));
    const unreadable = setup({ powerState: null });
    assert.equal(await unreadable.request('{"execute":"guest-suspend-disk"}'), error('the requested suspend mode is not supported by the guest'));
  });

  test('a failing strategy falls through to the next one', async () => {
    const { statusCalls, writes, request } = setup({
      status: { 'systemctl status systemd-hibernate': 3, 'systemctl hibernate': 1, 'pm-is-supported --hibernate': 0, 'pm-hibernate': 2 },
      powerState: 'mem disk',
    });
    assert.equal(await request('{"execute":"guest-suspend-disk"}'), '');
    assert.deepEqual(statusCalls, ['systemctl status systemd-hibernate', 'systemctl hibernate', 'pm-is-supported --hibernate', 'pm-hibernate']);
    assert.deepEqual(writes, ['disk']);
  });

  test('sysfs write failure: upstream text', async () => {
    const { request } = setup({ powerState: 'mem', writeError: 'EBUSY' });
    assert.equal(await request('{"execute":"guest-suspend-ram"}'), error("suspend: cannot write to '/sys/power/state': Device or resource busy"));
  });

  test('hybrid claimed by systemd but failing: "unknown guest suspend mode", as upstream', async () => {
    const { request } = setup({ status: { 'systemctl status systemd-hybrid-sleep': 3, 'systemctl hybrid-sleep': 1 } });
    assert.equal(await request('{"execute":"guest-suspend-hybrid"}'), error('unknown guest suspend mode'));
  });

  test('deliberate difference: a claimed mode that fails with no sysfs way reports the failure (upstream: silence)', async () => {
    const exit = setup({ status: { 'systemctl status systemd-suspend': 3, 'systemctl suspend': 1 } });
    assert.equal(
      await exit.request('{"execute":"guest-suspend-ram"}'),
      error("the helper program 'systemctl suspend' returned an unexpected exit status code (1)"),
    );
    const gone = setup({ status: { 'systemctl status systemd-suspend': 3, 'pm-is-supported --suspend': 0 } });
    assert.equal(await gone.request('{"execute":"guest-suspend-ram"}'), error("the helper program 'pm-suspend' was not found"));
    const spawnErr = setup({
      status: { 'systemctl status systemd-suspend': 3, 'systemctl suspend': Errors.suspendSpawnFailed('Failed to execute child process \u201Csystemctl\u201D (Permission denied)') },
    });
    assert.equal(
      await spawnErr.request('{"execute":"guest-suspend-ram"}'),
      error("failed to create child process, error 'Failed to execute child process \u201Csystemctl\u201D (Permission denied)'"),
    );
  });
});

describe('createStatusRunner (run_process_child)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-status-test-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const run = createStatusRunner();

  test('exit status, -1 when not found, 0 for a signal (WEXITSTATUS of a signalled status)', async () => {
    assert.equal(await run(['true']), 0);
    assert.equal(await run(['sh', '-c', 'exit 3']), 3);
    assert.equal(await run(['qga-no-such-helper-42']), -1);
    assert.equal(await run(['sh', '-c', 'kill -9 $$']), 0);
  });

  test('stdio is /dev/null', async () => {
    assert.equal(await run(['sh', '-c', 'test "$(readlink /proc/self/fd/0)" = /dev/null && test "$(readlink /proc/self/fd/2)" = /dev/null']), 0);
  });

  test('any other spawn failure: "failed to create child process, error \'<GLib text>\'"', async () => {
    const file = path.join(tmp, 'plain');
    fs.writeFileSync(file, '', { mode: 0o644 });
    await assert.rejects(run([file]), (e: unknown) => {
      assert.ok(e instanceof QgaError);
      assert.equal(e.desc, `failed to create child process, error 'Failed to execute child process \u201C${file}\u201D (Permission denied)'`);
      return true;
    });
  });
});
