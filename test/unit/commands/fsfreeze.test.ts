/**
 * The freeze commands with every piece of system I/O faked: mounts, FIFREEZE/FITHAW, the hook.
 * Nothing here can reach a real filesystem except the marker file, which lives in a temp dir.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  createFsfreezeGroup,
  fileMarker,
  FROZEN_MARKER_NAME,
  realTimers,
  type FsfreezeDeps,
  type FsfreezeGroup,
  type WatchdogTimers,
} from '../../../src/commands/fsfreeze';
import type { CommandContext } from '../../../src/dispatch/command-context';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import { Errors } from '../../../src/protocol/errors';
import { AgentState } from '../../../src/state/agent-state';
import { createInjector, type Injector } from '../../support/inject';
import { errnoError, fakeMountTable, FakeFilesystems, FakeHook, gate, mountinfoLine, STANDARD_MOUNTINFO } from './fake-filesystems';

const HOOK = '/etc/qemu/fsfreeze-hook';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Polls: the first async fs calls of a test process can take hundreds of ms under tsx. */
async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

interface Setup {
  fsx: FakeFilesystems;
  hook: FakeHook;
  group: FsfreezeGroup;
  inj: Injector;
  marker: string;
  statedir: string;
  /** log lines of the group's own logger, with whether the agent was frozen when written */
  log: { line: string; frozen: boolean }[];
  request(line: string): Promise<string>;
}

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function setup(opts: Partial<FsfreezeDeps> & { hook?: boolean; frozen?: boolean; statedir?: string } = {}): Setup {
  const statedir = opts.statedir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'qga-fsfreeze-'));
  if (opts.statedir === undefined) temps.push(statedir);
  const marker = path.join(statedir, FROZEN_MARKER_NAME);
  const fsx = new FakeFilesystems();
  const hook = new FakeHook();
  const log: Setup['log'] = [];
  let state: AgentState | undefined;
  const { logger } = createAgentLogger({ verbose: true, sink: { write: (line) => void log.push({ line, frozen: state?.frozen ?? false }) } });
  const group = createFsfreezeGroup({
    native: fsx,
    mountTable: fakeMountTable(STANDARD_MOUNTINFO),
    ...(opts.hook !== false && { hookPath: HOOK }),
    runCommand: hook.run,
    marker: fileMarker(marker),
    freezeTimeoutMs: 0,
    timers: realTimers,
    log: logger,
    ...opts,
  });
  const inj = createInjector({ handlers: group.handlers, frozen: opts.frozen ?? false });
  state = inj.state;
  const request = async (line: string) => {
    let out = await inj.text(line);
    const deadline = Date.now() + 5000;
    while (!out.endsWith('\n') && Date.now() < deadline) {
      await sleep(2);
      out += await inj.text('');
    }
    return out;
  };
  return { fsx, hook, group, inj, marker, statedir, log, request };
}

const DISABLED = (cmd: string) => `{"error": {"class": "CommandNotFound", "desc": "Command ${cmd} has been disabled: the command is not allowed"}}\n`;
const FREEZE_ALLOW_LIST = [
  'guest-fsfreeze-status',
  'guest-fsfreeze-thaw',
  'guest-info',
  'guest-ping',
  'guest-sync',
  'guest-sync-delimited',
];

describe('guest-fsfreeze-freeze / -thaw / -status', () => {
  it('freezes in reverse mount order, gates the other commands, thaws, and keeps the marker in step', async () => {
    const s = setup();
    const seen: string[] = [];
    s.fsx.onCall = (call) => seen.push(`${call} frozen=${s.inj.state.frozen} marker=${fs.existsSync(s.marker)}`);
    s.hook.onRun = (argv) => seen.push(`hook ${argv[1]} frozen=${s.inj.state.frozen} marker=${fs.existsSync(s.marker)}`);

    assert.equal(await s.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze","id":1}'), '{"return": 3, "id": 1}\n');
    assert.equal(await s.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "frozen"}\n');
    assert.deepEqual(s.fsx.frozenMounts(), ['/', '/boot', '/home']);
    assert.equal(fs.existsSync(s.marker), true);
    assert.equal((fs.statSync(s.marker).mode & 0o777).toString(8), '600');

    // the frozen gate: only the six allow-listed commands
    assert.equal(await s.request('{"execute":"guest-get-time"}'), DISABLED('guest-get-time'));
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), DISABLED('guest-fsfreeze-freeze'));
    assert.equal(await s.request('{"execute":"guest-fstrim"}'), DISABLED('guest-fstrim'));
    assert.deepEqual(
      s.inj.dispatcher
        .commandInfo()
        .filter((c) => c.enabled)
        .map((c) => c.name)
        .sort(),
      FREEZE_ALLOW_LIST,
    );

    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 3}\n');
    assert.equal(await s.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
    assert.equal(fs.existsSync(s.marker), false);
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(await s.request('{"execute":"guest-ping"}'), '{"return": {}}\n');

    assert.deepEqual(seen, [
      `hook freeze frozen=false marker=false`,
      'freeze /home frozen=true marker=true',
      'freeze /boot frozen=true marker=true',
      'freeze / frozen=true marker=true',
      // thaw walks the mounts concurrently; each loops until EINVAL
      'thaw / frozen=true marker=true',
      'thaw /boot frozen=true marker=true',
      'thaw /home frozen=true marker=true',
      'thaw / frozen=true marker=true',
      'thaw /boot frozen=true marker=true',
      'thaw /home frozen=true marker=true',
      // the hook runs after the frozen state is gone (qemu-ga: ga_unset_frozen, then the hook)
      'hook thaw frozen=false marker=false',
    ]);
    assert.deepEqual(s.hook.calls, [
      [HOOK, 'freeze'],
      [HOOK, 'thaw'],
    ]);
    // nothing logged by the group while frozen
    assert.deepEqual(s.log.filter((l) => l.frozen), []);
  });

  it('freeze-list freezes exact matches only, in reverse mount order', async () => {
    const s = setup();
    const reply = await s.request('{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["/boot","/","/home/","/srv/home","/nonexistent"]}}');
    assert.equal(reply, '{"return": 2}\n');
    assert.deepEqual(s.fsx.calls, ['freeze /boot', 'freeze /']);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 2}\n');
  });

  it('freeze-list of nothing known: 0, not frozen, no marker (as recorded from 7.2)', async () => {
    const s = setup();
    const reply = await s.request('{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["/nonexistent-mountpoint"]}}');
    assert.equal(reply, '{"return": 0}\n');
    assert.equal(await s.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
    assert.equal(fs.existsSync(s.marker), false);
    assert.deepEqual(s.fsx.calls, []);
    // qemu-ga runs the freeze hook and no thaw hook in this case
    assert.deepEqual(s.hook.calls, [[HOOK, 'freeze']]);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 0}\n');
  });

  it('thaw with nothing frozen returns 0 and still runs the hook', async () => {
    const s = setup();
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 0}\n');
    assert.deepEqual(s.hook.calls, [[HOOK, 'thaw']]);
  });

  it('EOPNOTSUPP and EBUSY are skipped and not counted', async () => {
    const s = setup();
    s.fsx.behaviour.set('/home', { freezeError: { code: 'EOPNOTSUPP' } });
    s.fsx.frozen.set('/boot', 1); // frozen by someone else: EBUSY
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 1}\n');
    assert.deepEqual(s.fsx.calls, ['freeze /home', 'freeze /boot', 'freeze /']);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "frozen"}\n');
    // thaw also thaws /boot (frozen by someone else) and counts it
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 2}\n');
  });

  it('a filesystem frozen twice needs two FITHAWs and counts once', async () => {
    const s = setup();
    s.fsx.frozen.set('/boot', 2);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 1}\n');
    assert.deepEqual(
      s.fsx.calls.filter((c) => c === 'thaw /boot'),
      ['thaw /boot', 'thaw /boot', 'thaw /boot'],
    );
    assert.deepEqual(s.fsx.frozenMounts(), []);
  });

  it('all EOPNOTSUPP: returns 0 and unsets the frozen state at once', async () => {
    const s = setup({ hook: false });
    for (const m of ['/', '/boot', '/home']) s.fsx.behaviour.set(m, { freezeError: { code: 'EOPNOTSUPP' } });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 0}\n');
    assert.equal(s.inj.state.frozen, false);
    assert.equal(fs.existsSync(s.marker), false);
  });

  it('a failed FIFREEZE thaws everything (hook included) and reports the failure', async () => {
    const s = setup();
    s.fsx.behaviour.set('/boot', { freezeError: { code: 'EIO' } });
    const reply = await s.request('{"execute":"guest-fsfreeze-freeze"}');
    assert.equal(reply, '{"error": {"class": "GenericError", "desc": "failed to freeze /boot: Input/output error"}}\n');
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(s.fsx.calls.includes('freeze /'), false, 'the walk stops at the failure');
    assert.equal(s.inj.state.frozen, false);
    assert.equal(fs.existsSync(s.marker), false);
    assert.deepEqual(s.hook.calls, [
      [HOOK, 'freeze'],
      [HOOK, 'thaw'],
    ]);
    assert.equal(await s.request('{"execute":"guest-get-time"}').then((r) => r.startsWith('{"return": ')), true);
  });

  it('a mount that cannot be opened: "failed to open <dir>"', async () => {
    const s = setup({ hook: false });
    s.fsx.behaviour.set('/home', { freezeError: { code: 'ENOENT', syscall: 'open' } });
    const reply = await s.request('{"execute":"guest-fsfreeze-freeze"}');
    assert.equal(reply, '{"error": {"class": "GenericError", "desc": "failed to open /home: No such file or directory"}}\n');
    assert.equal(s.inj.state.frozen, false);
  });

  it('a failing hook leaves everything untouched and its error is the reply', async () => {
    const s = setup();
    s.hook.failures.freeze = Errors.childProcessFailed('execute fsfreeze hook', 'database busy\n');
    assert.equal(
      await s.request('{"execute":"guest-fsfreeze-freeze"}'),
      '{"error": {"class": "GenericError", "desc": "child process has failed to execute fsfreeze hook: database busy\\n"}}\n',
    );
    assert.deepEqual(s.hook.actions, ['execute fsfreeze hook']);
    assert.deepEqual(s.fsx.calls, []);
    assert.equal(s.inj.state.frozen, false);
    assert.equal(fs.existsSync(s.marker), false);
  });

  it('a failing thaw hook is reported, but the filesystems and the agent are thawed', async () => {
    const s = setup();
    s.hook.failures.thaw = Errors.childProcessExitStatus('execute fsfreeze hook', 2);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    assert.equal(
      await s.request('{"execute":"guest-fsfreeze-thaw"}'),
      '{"error": {"class": "GenericError", "desc": "child process has failed to execute fsfreeze hook: exit status 2"}}\n',
    );
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(s.inj.state.frozen, false);
    assert.equal(fs.existsSync(s.marker), false);
  });

  it('no readable mount table: the mtab error, after the freeze hook ran (as qemu-ga)', async () => {
    const s = setup({ mountTable: fakeMountTable(new Error('EACCES'), new Error('ENOENT')) });
    assert.equal(
      await s.request('{"execute":"guest-fsfreeze-freeze"}'),
      `{"error": {"class": "GenericError", "desc": "failed to open mtab file: '/proc/self/mounts'"}}\n`,
    );
    assert.equal(s.inj.state.frozen, false);
    assert.deepEqual(s.hook.calls, [[HOOK, 'freeze']]);
  });

  it('falls back to /proc/self/mounts', async () => {
    const mtab = '/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vdb /home xfs rw 0 0\n';
    const s = setup({
      hook: false,
      mountTable: fakeMountTable(new Error('ENOENT'), mtab, {
        '/dev/vda': { kind: 'block', major: 254, minor: 0 },
        '/dev/vdb': { kind: 'block', major: 254, minor: 16 },
      }),
    });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 2}\n');
    assert.deepEqual(s.fsx.calls, ['freeze /home', 'freeze /']);
  });
});

describe('the frozen marker across restarts', () => {
  it('an agent restarted while frozen reports frozen, and its thaw thaws and deletes the marker', async () => {
    const first = setup();
    assert.equal(await first.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    assert.equal(fs.existsSync(first.marker), true);

    // "restart": a new group and state over the same statedir and (still frozen) filesystems
    const frozenAtStart = fs.existsSync(first.marker);
    const second = setup({ statedir: first.statedir, frozen: frozenAtStart });
    for (const m of first.fsx.frozenMounts()) second.fsx.frozen.set(m, 1);
    second.group.start(second.inj.state);
    assert.equal(await second.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "frozen"}\n');
    assert.equal(await second.request('{"execute":"guest-get-time"}'), DISABLED('guest-get-time'));
    assert.equal(await second.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 3}\n');
    assert.equal(fs.existsSync(first.marker), false);
    assert.equal(await second.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
  });

  it('cleanup thaws when frozen and does nothing otherwise', async () => {
    const s = setup();
    await s.group.cleanup(s.inj.state);
    assert.deepEqual(s.fsx.calls, []);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    await s.group.cleanup(s.inj.state);
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(s.inj.state.frozen, false);
    assert.equal(fs.existsSync(s.marker), false);
  });
});

function ctxFor(state: AgentState, logger = createAgentLogger({ verbose: false, sink: { write() {} } }).logger): CommandContext {
  return {
    agent: { state, clock: { nowNs: () => 0n }, compatVersion: '10.2.0', commandInfo: () => [] },
    session: { delimitNextResponse() {} },
    log: logger,
  };
}

describe('auto-thaw watchdog', () => {
  it('thaws everything, unsets the frozen state and warns when no thaw comes in time', async () => {
    const s = setup({ freezeTimeoutMs: 60 });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    assert.equal(s.inj.state.frozen, true);
    await waitFor(() => s.hook.calls.length === 2);
    assert.equal(s.inj.state.frozen, false);
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(fs.existsSync(s.marker), false);
    assert.deepEqual(s.hook.calls.at(-1), [HOOK, 'thaw']);
    const warning = s.log.find((l) => l.line.includes('auto-thawed'));
    assert.ok(warning, 'a warning is logged');
    assert.match(warning.line, /no guest-fsfreeze-thaw within 0.06 s of the freeze: auto-thawed 3 filesystem\(s\)/);
    assert.equal(warning.frozen, false, 'logged only after the thaw');
    assert.equal(await s.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
  });

  it('a thaw in time disarms it', async () => {
    const s = setup({ freezeTimeoutMs: 200 });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 3}\n');
    const calls = s.fsx.calls.length;
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["/boot"]}}'), '{"return": 1}\n');
    await sleep(40);
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 1}\n');
    const after = s.fsx.calls.length;
    await sleep(300);
    assert.equal(s.fsx.calls.length, after, 'no watchdog thaw after a thaw');
    assert.ok(after > calls);
    assert.equal(s.log.some((l) => l.line.includes('auto-thawed')), false);
  });

  it('a thaw that cannot read the mount table fails, and the watchdog still thaws what was frozen', async () => {
    let broken = false;
    const table = fakeMountTable(STANDARD_MOUNTINFO);
    const s = setup({
      freezeTimeoutMs: 100,
      mountTable: {
        ...table,
        readMountInfo: () => (broken ? Promise.reject(new Error('EMFILE')) : table.readMountInfo()),
        readMounts: () => Promise.reject(new Error('EMFILE')),
      },
    });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    broken = true;
    assert.equal(
      await s.request('{"execute":"guest-fsfreeze-thaw"}'),
      `{"error": {"class": "GenericError", "desc": "failed to open mtab file: '/proc/self/mounts'"}}\n`,
    );
    assert.equal(s.inj.state.frozen, true);
    await waitFor(() => !s.inj.state.frozen);
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(fs.existsSync(s.marker), false);
    assert.ok(s.log.some((l) => l.line.includes('auto-thawed 3 filesystem(s) of the last freeze')));
  });

  it('also guards an agent that starts frozen', async () => {
    const s = setup({ freezeTimeoutMs: 40, frozen: true });
    fs.writeFileSync(s.marker, '');
    s.fsx.frozen.set('/home', 1);
    s.group.start(s.inj.state);
    await waitFor(() => !s.inj.state.frozen);
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(fs.existsSync(s.marker), false);
  });

  it('is not held up by a FIFREEZE that does not return, and the freeze then undoes itself', async () => {
    const s = setup({ freezeTimeoutMs: 50, hook: false });
    const stuck = gate();
    s.fsx.behaviour.set('/boot', { freezeGate: stuck });
    const state = s.inj.state;
    const freezing = s.group.handlers['guest-fsfreeze-freeze']({}, ctxFor(state));
    await waitFor(() => s.fsx.calls.includes('freeze /boot'));
    await waitFor(() => !state.frozen);
    // the watchdog ran while FIFREEZE(/boot) was still pending
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.ok(s.fsx.calls.includes('thaw /home'));
    stuck.release();
    await assert.rejects(Promise.resolve(freezing), {
      desc: 'the freeze was cancelled by a thaw before it completed; all filesystems were thawed',
    });
    // /boot froze after the watchdog's pass; the freeze thawed it on its way out, and stopped before /
    assert.deepEqual(s.fsx.frozenMounts(), []);
    assert.equal(s.fsx.calls.includes('freeze /'), false);
    assert.equal(state.frozen, false);
    assert.equal(fs.existsSync(s.marker), false);
  });

  it('a thaw from another channel overtakes a running freeze the same way', async () => {
    const s = setup({ hook: false });
    const stuck = gate();
    s.fsx.behaviour.set('/boot', { freezeGate: stuck });
    const state = s.inj.state;
    const freezing = Promise.resolve(s.group.handlers['guest-fsfreeze-freeze']({}, ctxFor(state)));
    await waitFor(() => s.fsx.calls.includes('freeze /boot'));
    assert.equal(state.frozen, true);
    const thawed = await s.group.handlers['guest-fsfreeze-thaw']({}, ctxFor(state));
    assert.equal(thawed, 1n);
    assert.equal(state.frozen, false);
    stuck.release();
    await assert.rejects(freezing, { desc: 'the freeze was cancelled by a thaw before it completed; all filesystems were thawed' });
    assert.deepEqual(s.fsx.frozenMounts(), []);
  });

  it('two freezes from two channels: the second finds the agent frozen', async () => {
    const s = setup({ hook: false });
    const state = s.inj.state;
    const a = s.group.handlers['guest-fsfreeze-freeze']({}, ctxFor(state));
    const b = s.group.handlers['guest-fsfreeze-freeze']({}, ctxFor(state));
    assert.equal(await a, 3n);
    await assert.rejects(Promise.resolve(b), { desc: 'Command guest-fsfreeze-freeze has been disabled: the command is not allowed' });
    assert.equal(await s.group.handlers['guest-fsfreeze-thaw']({}, ctxFor(state)), 3n);
  });

  it('waits in steps longer than one setTimeout can', async () => {
    let now = 0;
    const scheduled: number[] = [];
    let pending: (() => void) | undefined;
    const timers: WatchdogTimers = {
      setTimeout: (fn, ms) => {
        scheduled.push(ms);
        pending = fn;
        return scheduled.length;
      },
      clearTimeout: () => (pending = undefined),
      now: () => now,
    };
    const day = 24 * 3600 * 1000;
    const s = setup({ freezeTimeoutMs: 60 * day, timers, hook: false });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    assert.deepEqual(scheduled, [2 ** 31 - 1]);
    while (s.inj.state.frozen) {
      now += scheduled.at(-1)!;
      pending!();
      await sleep(5);
    }
    assert.deepEqual(scheduled, [2 ** 31 - 1, 2 ** 31 - 1, 60 * day - 2 * (2 ** 31 - 1)]);
    assert.deepEqual(s.fsx.frozenMounts(), []);
  });
});

describe('the marker file', () => {
  it('create does not truncate, remove tolerates a missing file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-marker-'));
    temps.push(dir);
    const p = path.join(dir, FROZEN_MARKER_NAME);
    const m = fileMarker(p);
    await m.create();
    assert.equal(fs.readFileSync(p, 'utf8'), '');
    fs.writeFileSync(p, 'kept');
    await m.create();
    assert.equal(fs.readFileSync(p, 'utf8'), 'kept');
    await m.remove();
    await m.remove();
    assert.equal(fs.existsSync(p), false);
  });

  it('a marker that cannot be created is only a warning: the freeze goes on', async () => {
    const s = setup({
      hook: false,
      marker: {
        create: async () => {
          throw errnoError('EROFS', 'open', '/ro/qga.state.isfrozen');
        },
        remove: async () => undefined,
      },
    });
    assert.equal(await s.request('{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
    assert.ok(s.log.some((l) => l.line.includes('unable to create the frozen-state marker') && !l.frozen));
    assert.equal(await s.request('{"execute":"guest-fsfreeze-thaw"}'), '{"return": 3}\n');
  });

  it('mountinfoLine fixture sanity', () => {
    assert.equal(mountinfoLine(1, '8:1', '/x', 'ext4', '/dev/sda1'), '1 1 8:1 / /x rw,relatime shared:1 - ext4 /dev/sda1 rw');
  });
});
