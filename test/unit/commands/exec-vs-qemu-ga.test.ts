/**
 * guest-exec side by side with Debian's qemu-ga 7.2 (run on unix-listen in a temp dir): the same
 * harmless programs through both, and the replies must be byte-identical once the pids are
 * normalised. Only what 7.2 and upstream 10.2 agree on is compared (capture-output as a bool);
 * the two texts that changed after 7.2 are checked as the documented differences.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { QEMU_GA_BIN, qemuGaAvailable, startAgent, type RunningAgent } from '../../support/agent-process';
import { execHarness, type ExecHarness } from './exec-support';

const skip = qemuGaAvailable() ? false : `Debian's qemu-ga is not installed (${QEMU_GA_BIN})`;

const CASES: { name: string; args: object }[] = [
  { name: 'echo -n, capture true', args: { path: 'echo', arg: ['-n', '" test_str "'], 'capture-output': true } },
  { name: 'exit 3 with stdout and stderr', args: { path: '/bin/sh', arg: ['-c', 'echo out; echo err 1>&2; exit 3'], 'capture-output': true } },
  { name: 'no capture', args: { path: '/bin/sh', arg: ['-c', 'echo out; echo err 1>&2'] } },
  { name: 'capture false', args: { path: '/bin/sh', arg: ['-c', 'echo out'], 'capture-output': false } },
  { name: 'SIGKILL', args: { path: '/bin/sh', arg: ['-c', 'kill -9 $$'] } },
  { name: 'SIGTERM with output', args: { path: '/bin/sh', arg: ['-c', 'echo bye; kill -15 $$'], 'capture-output': true } },
  { name: 'cat input-data', args: { path: 'cat', 'input-data': 'aGVsbG8gc3RkaW4=', 'capture-output': true } },
  { name: 'env replaces the environment', args: { path: '/bin/sh', arg: ['-c', 'echo $FOO; echo $PATH'], env: ['FOO=bar'], 'capture-output': true } },
  { name: 'env program sees only env', args: { path: 'env', env: ['A=1', 'B=2'], 'capture-output': true } },
  { name: 'true, capture, no output', args: { path: '/bin/true', 'capture-output': true } },
  { name: 'stdin is /dev/null', args: { path: 'readlink', arg: ['/proc/self/fd/0'], 'capture-output': true } },
  { name: 'ignored signals in the child', args: { path: 'grep', arg: ['^SigIgn', '/proc/self/status'], 'capture-output': true } },
  { name: 'argv[0] as given', args: { path: 'bash', arg: ['-c', 'tr "\\0" " " < /proc/$$/cmdline'], 'capture-output': true } },
  // g_base64_decode's leniency, checked through cat
  ...['QU=C', 'A===', '=QUJD', 'QQ==QUI=', 'aGVs\nbG8=', 'QUJ', '\n'].map((input) => ({
    name: `input-data ${JSON.stringify(input)}`,
    args: { path: 'cat', 'input-data': input, 'capture-output': true },
  })),
  { name: 'invalid base64', args: { path: '/bin/true', 'input-data': '!!' } },
  { name: '17,000,000 bytes', args: { path: 'head', arg: ['-c', '17000000', '/dev/zero'], 'capture-output': true } },
];

const normalise = (reply: string, pid: number | null) => (pid === null ? reply : reply.split(`"pid": ${pid}`).join('"pid": N'));

/** One request, one reply line; copes with the 22 MB line of the truncation case. */
class LineClient {
  private chunks: Buffer[] = [];
  private wake: (() => void) | null = null;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.wake?.();
    });
  }

  static connect(path: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  async request(line: string, timeoutMs = 60_000): Promise<string> {
    this.socket.write(line);
    const deadline = Date.now() + timeoutMs;
    while (!this.chunks.some((c) => c.includes(0x0a))) {
      if (Date.now() > deadline) throw new Error(`qemu-ga: no reply to ${line}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100);
      });
    }
    const all = Buffer.concat(this.chunks);
    const end = all.indexOf(0x0a) + 1;
    this.chunks = end < all.length ? [all.subarray(end)] : [];
    return all.subarray(0, end).toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }
}

async function runOnQemu(client: LineClient, args: object): Promise<string[]> {
  const replies: string[] = [];
  const first = await client.request(`${JSON.stringify({ execute: 'guest-exec', arguments: args })}\n`);
  const m = /"pid": (\d+)/.exec(first);
  const pid = m ? Number(m[1]) : null;
  replies.push(normalise(first, pid));
  if (pid === null) return replies;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const reply = await client.request(`{"execute":"guest-exec-status","arguments":{"pid":${pid}}}\n`);
    if (reply !== '{"return": {"exited": false}}\n') {
      replies.push(reply);
      return replies;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('qemu-ga: process did not finish');
}

async function runOnOurs(h: ExecHarness, args: object): Promise<string[]> {
  const first = await h.request(JSON.stringify({ execute: 'guest-exec', arguments: args }));
  const m = /"pid": (\d+)/.exec(first);
  const pid = m ? Number(m[1]) : null;
  const replies = [normalise(first, pid)];
  if (pid !== null) replies.push(await h.waitExited(pid, 30_000));
  return replies;
}

describe('guest-exec: qga-ts and qemu-ga 7.2 give the same replies', { skip }, () => {
  let agent: RunningAgent;
  let client: LineClient;
  before(async () => {
    agent = await startAgent({ binary: QEMU_GA_BIN, conf: '' });
    client = await LineClient.connect(agent.socket);
  });
  after(async () => {
    client?.close();
    await agent?.stop();
    if (agent) fs.rmSync(agent.dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const theirs = await runOnQemu(client, c.args);
      const ours = await runOnOurs(execHarness(), c.args);
      assert.deepEqual(ours, theirs);
    });
  }

  test('a grandchild holding the pipe: both say exited:false, then the same end', async () => {
    const args = { path: '/bin/sh', arg: ['-c', 'sleep 1 & echo started'], 'capture-output': true };
    const h = execHarness();
    const ourPid = Number(/"pid": (\d+)/.exec(await h.request(JSON.stringify({ execute: 'guest-exec', arguments: args })))![1]);
    const theirPid = Number(/"pid": (\d+)/.exec(await client.request(`${JSON.stringify({ execute: 'guest-exec', arguments: args })}\n`))![1]);
    await new Promise((r) => setTimeout(r, 400));
    const running = '{"return": {"exited": false}}\n';
    assert.equal(await h.request(`{"execute":"guest-exec-status","arguments":{"pid":${ourPid}}}`), running);
    assert.equal(await client.request(`{"execute":"guest-exec-status","arguments":{"pid":${theirPid}}}\n`), running);
    await new Promise((r) => setTimeout(r, 1200));
    const ourEnd = await h.waitExited(ourPid);
    const theirEnd = await client.request(`{"execute":"guest-exec-status","arguments":{"pid":${theirPid}}}\n`);
    assert.equal(ourEnd, theirEnd);
  });

  test('documented differences: spawn failure and unknown pid texts changed after 7.2', async () => {
    const h = execHarness();
    const exec = '{"execute":"guest-exec","arguments":{"path":"/bin/invalid-cmd42"}}';
    const glibText = 'Failed to execute child process \\u201C/bin/invalid-cmd42\\u201D (No such file or directory)';
    assert.equal(await client.request(`${exec}\n`), `{"error": {"class": "GenericError", "desc": "Guest agent command failed, error was '${glibText}'"}}\n`);
    assert.equal(await h.request(exec), `{"error": {"class": "GenericError", "desc": "${glibText}"}}\n`);
    const status = '{"execute":"guest-exec-status","arguments":{"pid":0}}';
    assert.equal(await client.request(`${status}\n`), `{"error": {"class": "GenericError", "desc": "Invalid parameter 'pid'"}}\n`);
    assert.equal(await h.request(status), '{"error": {"class": "GenericError", "desc": "PID 0 does not exist"}}\n');
  });
});
