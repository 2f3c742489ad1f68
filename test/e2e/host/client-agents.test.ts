/**
 * The client library and bin/qga-client against real agents: Debian's qemu-ga 7.2 and the built
 * qga-ts, each on unix-listen in its own temp dir. Both are left in a bad state by an earlier
 * client first (half a request in the agent's parser), which the sync must get past.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { QgaClient } from '../../../src/host/agent-client';
import { QgaArgumentError, QgaRemoteError, QgaTimeoutError } from '../../../src/host/client-errors';
import { QEMU_GA_BIN, QGA_TS_BIN, RawClient, qemuGaAvailable, startAgent, type RunningAgent } from '../../support/agent-process';
import { repoPath } from '../../support/repo';

const built = fs.existsSync(repoPath('dist', 'src', 'main.js')) && fs.existsSync(repoPath('dist', 'src', 'host', 'client-cli.js'));
const running: RunningAgent[] = [];
after(async () => {
  for (const a of running) await a.stop('SIGKILL');
});

const AGENTS = [
  { name: 'qemu-ga 7.2', binary: QEMU_GA_BIN, skip: qemuGaAvailable() ? false : `${QEMU_GA_BIN} is not installed` },
  { name: 'qga-ts', binary: QGA_TS_BIN, skip: built ? false : 'not built (npm run build)' },
] as const;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [repoPath('bin', 'qga-client'), ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

for (const agentKind of AGENTS) {
  describe(`client against ${agentKind.name}`, { skip: agentKind.skip }, () => {
    let agent: RunningAgent;
    const client = () => QgaClient.overSocket(agent.socket, { syncTimeoutMs: 5000 });

    test('sync gets past half a request left in the agent by an earlier client', async () => {
      agent = await startAgent({ binary: agentKind.binary });
      running.push(agent);
      const earlier = await RawClient.connect(agent.socket);
      earlier.send('{"execute":"guest-info","arguments":{"x":"unterminated');
      await new Promise((r) => setTimeout(r, 50));
      earlier.close();
      const c = client();
      const info = await c.guestInfo();
      assert.ok(info.supported_commands.some((x) => x.name === 'guest-get-fsinfo'));
      assert.equal(typeof (await c.guestGetTime()), 'bigint');
      const fsinfo = await c.guestGetFsinfo();
      assert.ok(Array.isArray(fsinfo));
      await c.close();
    });

    test('typed errors: remote class and desc, local argument errors', async () => {
      const c = client();
      await assert.rejects(c.guestFileOpen({ path: '/nonexistent/qga-ts-e2e' }), (e: unknown) => {
        assert.ok(e instanceof QgaRemoteError);
        assert.equal(e.errorClass, 'GenericError');
        assert.equal(e.desc, "failed to open file '/nonexistent/qga-ts-e2e' (mode: 'r'): No such file or directory");
        return true;
      });
      await assert.rejects(c.call('guest-get-vcpus', { bogus: 1 } as never), (e: unknown) => e instanceof QgaArgumentError && e.desc === "Parameter 'bogus' is unexpected");
      await assert.rejects(c.raw('{"execute":"guest-no-such-command"}').then((r) => { throw new QgaRemoteError('raw', String((r!['error'] as Record<string, unknown>)['class']), ''); }), { errorClass: 'CommandNotFound' });
      if (agentKind.name === 'qemu-ga 7.2') {
        await assert.rejects(c.guestGetMemoryStats(), (e: unknown) => e instanceof QgaRemoteError && e.commandUnavailable && e.desc === 'The command guest-get-memory-stats has not been found');
      } else {
        const m = await c.guestGetMemoryStats();
        assert.ok(m.total > 0n && m.free <= m.total);
      }
      await c.close();
    });

    test('a reply that comes too late is thrown away; the next call resyncs and gets its own', async () => {
      // The resync waits behind the late reply, which takes a while on a loaded machine.
      const c = QgaClient.overSocket(agent.socket, { syncTimeoutMs: 60_000 });
      const handle = await c.guestFileOpen({ path: '/dev/zero' });
      // ~22 MB of base64 takes the agent far longer than 1 ms to produce
      await assert.rejects(c.guestFileRead({ handle, count: 16 * 1024 * 1024 }, { timeoutMs: 1 }), (e: unknown) => e instanceof QgaTimeoutError && e.phase === 'reply');
      const r = await c.guestFileRead({ handle, count: 3 });
      assert.deepEqual(r, { count: 3n, 'buf-b64': 'AAAA', eof: false });
      await c.guestFileClose({ handle });
      await c.close();
    });

    test('bin/qga-client: ping, df, fsinfo --json, exec exit status, cat', { skip: built ? false : 'not built' }, () => {
      assert.deepEqual(cli(['--socket', agent.socket, 'ping']), { code: 0, out: 'ok\n', err: '' });
      const df = cli(['--socket', agent.socket, 'df']);
      assert.equal(df.code, 0, df.err);
      assert.match(df.out, /^Filesystem +Type +Size +Used +Avail +Use% +Mounted on\n.* \/\n/s);
      const fsinfo = cli(['--socket', agent.socket, '--json', 'fsinfo']);
      assert.equal(fsinfo.code, 0, fsinfo.err);
      assert.ok(JSON.parse(fsinfo.out).some((f: { mountpoint: string }) => f.mountpoint === '/'));
      const ex = cli(['--socket', agent.socket, 'exec', '/bin/sh', '-c', 'echo out-$((6*7)); echo err >&2; exit 5']);
      assert.deepEqual(ex, { code: 5, out: 'out-42\n', err: 'err\n' });
      const cat = cli(['--socket', agent.socket, 'cat', '/etc/os-release']);
      assert.equal(cat.out, fs.readFileSync('/etc/os-release', 'utf8'));
      const bad = cli(['--socket', agent.socket, 'statvfs']);
      assert.equal(bad.code, 2);
    });

    test('the agent is still alive and serving after all of the above', async () => {
      const c = client();
      assert.equal(await c.guestPing(), undefined);
      await c.close();
      assert.equal(agent.proc.exitCode, null, agent.stderr());
    });
  });
}
