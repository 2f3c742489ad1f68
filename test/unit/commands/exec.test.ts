/**
 * guest-exec / guest-exec-status through the real pipeline (createInjector), running harmless
 * programs on this machine: echo, cat, sh, bash, head, sleep, true, env.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { captureMode, environmentFromList } from '../../../src/commands/exec';
import { b64, execHarness } from './exec-support';

const SEPARATED_SCRIPT = 'for i in $(seq 4); do if (( $i % 2 )); then echo stdout; else echo stderr 1>&2; fi; done;';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-exec-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('upstream tests/unit/test-qga.c guest-exec cases', () => {
  test('/qga/guest-exec: echo -n with capture-output true', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'echo', arg: ['-n', '" test_str "'], 'capture-output': true });
    assert.ok(pid > 0);
    assert.equal(
      await h.waitExited(pid),
      '{"return": {"exitcode": 0, "out-data": "IiB0ZXN0X3N0ciAi", "out-truncated": false, "exited": true}}\n',
    );
  });

  test('/qga/guest-exec-separated', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'bash', arg: ['-c', SEPARATED_SCRIPT], 'capture-output': 'separated' });
    assert.equal(
      await h.waitExited(pid),
      `{"return": {"exitcode": 0, "err-data": "${b64('stderr\nstderr\n')}", "out-data": "${b64('stdout\nstdout\n')}", "err-truncated": false, "out-truncated": false, "exited": true}}\n`,
    );
  });

  test('/qga/guest-exec-merged: interleaved in out-data, no err-data', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'bash', arg: ['-c', SEPARATED_SCRIPT], 'capture-output': 'merged' });
    assert.equal(
      await h.waitExited(pid),
      `{"return": {"exitcode": 0, "out-data": "${b64('stdout\nstderr\nstdout\nstderr\n')}", "out-truncated": false, "exited": true}}\n`,
    );
  });

  test('/qga/guest-exec-invalid: spawn failure and unknown pid are GenericErrors', async () => {
    const h = execHarness();
    assert.equal(
      await h.request('{"execute":"guest-exec","arguments":{"path":"/bin/invalid-cmd42"}}'),
      '{"error": {"class": "GenericError", "desc": "Failed to execute child process \\u201C/bin/invalid-cmd42\\u201D (No such file or directory)"}}\n',
    );
    assert.equal(
      await h.request('{"execute":"guest-exec-status","arguments":{"pid":0}}'),
      '{"error": {"class": "GenericError", "desc": "PID 0 does not exist"}}\n',
    );
  });
});

describe('capture modes', () => {
  const script = 'echo out; echo err 1>&2';
  const run = async (capture: unknown) => {
    const h = execHarness();
    const args: Record<string, unknown> = { path: '/bin/sh', arg: ['-c', script] };
    if (capture !== undefined) args['capture-output'] = capture;
    return h.waitExited(await h.exec(args));
  };

  test('absent, false and "none": nothing captured', async () => {
    for (const c of [undefined, false, 'none']) assert.equal(await run(c), '{"return": {"exitcode": 0, "exited": true}}\n', String(c));
  });

  test('true and "separated": both streams', async () => {
    const both = `{"return": {"exitcode": 0, "err-data": "${b64('err\n')}", "out-data": "${b64('out\n')}", "err-truncated": false, "out-truncated": false, "exited": true}}\n`;
    assert.equal(await run(true), both);
    assert.equal(await run('separated'), both);
  });

  test('"stdout": stdout only, stderr to /dev/null', async () => {
    assert.equal(await run('stdout'), `{"return": {"exitcode": 0, "out-data": "${b64('out\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('"stderr": stderr only, stdout to /dev/null', async () => {
    assert.equal(await run('stderr'), `{"return": {"exitcode": 0, "err-data": "${b64('err\n')}", "err-truncated": false, "exited": true}}\n`);
  });

  test('"merged": both into out-data', async () => {
    assert.equal(await run('merged'), `{"return": {"exitcode": 0, "out-data": "${b64('out\nerr\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('the discarded streams really are /dev/null', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: '/bin/sh', arg: ['-c', 'readlink /proc/self/fd/2 1>&2; readlink /proc/self/fd/0 1>&2'], 'capture-output': 'stderr' });
    const reply = await h.waitExited(pid);
    const err = Buffer.from(/"err-data": "([^"]*)"/.exec(reply)![1]!, 'base64').toString();
    assert.match(err, /^socket:\[\d+\]\n\/dev\/null\n$/);
  });

  test('captureMode maps the bool form as qemu-ga does', () => {
    assert.equal(captureMode(undefined), 'none');
    assert.equal(captureMode(false), 'none');
    assert.equal(captureMode(true), 'separated');
    assert.equal(captureMode('merged'), 'merged');
  });
});

describe('process end and status', () => {
  test('exit code 3 with stdout and stderr (7.2 recording)', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: '/bin/sh', arg: ['-c', 'echo out; echo err 1>&2; exit 3'], 'capture-output': true });
    assert.equal(
      await h.waitExited(pid),
      '{"return": {"exitcode": 3, "err-data": "ZXJyCg==", "out-data": "b3V0Cg==", "err-truncated": false, "out-truncated": false, "exited": true}}\n',
    );
  });

  test('killed by SIGKILL → signal 9', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: '/bin/sh', arg: ['-c', 'kill -9 $$'] });
    assert.equal(await h.waitExited(pid), '{"return": {"signal": 9, "exited": true}}\n');
  });

  test('capture with no output gives no out-data member', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: '/bin/true', 'capture-output': true });
    assert.equal(await h.waitExited(pid), '{"return": {"exitcode": 0, "exited": true}}\n');
  });

  test('while running: {"exited": false}; the first exited status removes the entry', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'sleep', arg: ['0.5'] });
    assert.equal(await h.request(`{"execute":"guest-exec-status","arguments":{"pid":${pid}}}`), '{"return": {"exited": false}}\n');
    assert.equal(await h.waitExited(pid), '{"return": {"exitcode": 0, "exited": true}}\n');
    assert.equal(
      await h.request(`{"execute":"guest-exec-status","arguments":{"pid":${pid}}}`),
      `{"error": {"class": "GenericError", "desc": "PID ${pid} does not exist"}}\n`,
    );
  });

  test('a grandchild holding the output pipe keeps exited:false after the child is gone', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: '/bin/sh', arg: ['-c', 'sleep 1.5 & echo started'], 'capture-output': true });
    // wait until the shell itself has been reaped
    const deadline = Date.now() + 5000;
    while (fs.existsSync(`/proc/${pid}`) && fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.table.status(pid)?.exited, false);
    assert.equal(
      await h.waitExited(pid),
      `{"return": {"exitcode": 0, "out-data": "${b64('started\n')}", "out-truncated": false, "exited": true}}\n`,
    );
  });

  test('17,000,000 bytes of output → 16,777,216 kept and out-truncated true', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'head', arg: ['-c', '17000000', '/dev/zero'], 'capture-output': true });
    const reply = await h.waitExited(pid, 60_000);
    const m = /^\{"return": \{"exitcode": 0, "out-data": "([A-Za-z0-9+/=]*)", "out-truncated": true, "exited": true\}\}\n$/.exec(reply);
    assert.ok(m, reply.slice(0, 200));
    assert.equal(m[1]!.length, 22369624);
    const data = Buffer.from(m[1]!, 'base64');
    assert.equal(data.length, 16777216);
    assert.ok(data.every((b) => b === 0));
  });

  test('the finished-process bound works through the commands too', async () => {
    const warnings: string[] = [];
    const h = execHarness({ table: { maxFinished: 2, logger: { warn: (_o, msg) => void warnings.push(msg) } } });
    const pids: number[] = [];
    for (let i = 0; i < 4; i++) pids.push(await h.exec({ path: '/bin/true' }));
    const deadline = Date.now() + 10_000;
    while (h.table.finishedCount < 2 || h.table.size > 2) {
      if (Date.now() > deadline) throw new Error('processes did not finish');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Which ones finished first is up to the kernel; exactly two survive and both are complete.
    const replies: string[] = [];
    for (const p of pids) replies.push(await h.request(`{"execute":"guest-exec-status","arguments":{"pid":${p}}}`));
    assert.equal(replies.filter((r) => r === '{"return": {"exitcode": 0, "exited": true}}\n').length, 2);
    assert.equal(replies.filter((r) => /PID \d+ does not exist/.test(r)).length, 2);
    assert.equal(warnings.length, 2);
  });
});

describe('input, environment, program search', () => {
  test('input-data is decoded and fed to stdin, then stdin is closed', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'cat', 'input-data': 'aGVsbG8gc3RkaW4=', 'capture-output': true });
    assert.equal(await h.waitExited(pid), '{"return": {"exitcode": 0, "out-data": "aGVsbG8gc3RkaW4=", "out-truncated": false, "exited": true}}\n');
  });

  test('large input-data is written without blocking the agent', async () => {
    const h = execHarness();
    const input = Buffer.alloc(8 * 1024 * 1024, 0x41);
    const pid = await h.exec({ path: 'wc', arg: ['-c'], 'input-data': input.toString('base64'), 'capture-output': true });
    assert.equal(await h.waitExited(pid), `{"return": {"exitcode": 0, "out-data": "${b64('8388608\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('without input-data stdin is /dev/null', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'readlink', arg: ['/proc/self/fd/0'], 'capture-output': true });
    assert.equal(await h.waitExited(pid), `{"return": {"exitcode": 0, "out-data": "${b64('/dev/null\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('invalid base64 input-data: qemu-ga text, nothing started', async () => {
    const h = execHarness();
    assert.equal(
      await h.request('{"execute":"guest-exec","arguments":{"path":"/bin/true","input-data":"!!"}}'),
      '{"error": {"class": "GenericError", "desc": "Base64 data contains invalid characters"}}\n',
    );
    assert.equal(h.table.size, 0);
  });

  test('env replaces the environment (7.2 recording: dash falls back to its built-in PATH)', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: '/bin/sh', arg: ['-c', 'echo $FOO; echo $PATH'], env: ['FOO=bar'], 'capture-output': true });
    assert.equal(
      await h.waitExited(pid),
      '{"return": {"exitcode": 0, "out-data": "YmFyCi91c3IvbG9jYWwvc2JpbjovdXNyL2xvY2FsL2JpbjovdXNyL3NiaW46L3Vzci9iaW46L3NiaW46L2Jpbgo=", "out-truncated": false, "exited": true}}\n',
    );
  });

  test('env is the whole environment; without PATH in it, the agent PATH finds the program', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'env', env: ['A=1', 'B=2', 'A=3'], 'capture-output': true });
    assert.equal(await h.waitExited(pid), `{"return": {"exitcode": 0, "out-data": "${b64('A=1\nB=2\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('the PATH in env wins over the agent PATH', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'bin-'));
    fs.writeFileSync(path.join(dir, 'qga-hello'), '#!/bin/sh\necho from-env-path\n', { mode: 0o755 });
    const h = execHarness();
    const pid = await h.exec({ path: 'qga-hello', env: [`PATH=${dir}`], 'capture-output': true });
    assert.equal(await h.waitExited(pid), `{"return": {"exitcode": 0, "out-data": "${b64('from-env-path\n')}", "out-truncated": false, "exited": true}}\n`);
    assert.equal(
      await h.request('{"execute":"guest-exec","arguments":{"path":"true","env":["PATH=/nonexistent-qga-dir"]}}'),
      '{"error": {"class": "GenericError", "desc": "Failed to execute child process \\u201Ctrue\\u201D (No such file or directory)"}}\n',
    );
  });

  test('argv[0] is the path exactly as given', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'bash', arg: ['-c', 'tr "\\0" " " < /proc/$$/cmdline'], 'capture-output': true });
    const reply = await h.waitExited(pid);
    const out = Buffer.from(/"out-data": "([^"]*)"/.exec(reply)![1]!, 'base64').toString();
    assert.match(out, /^bash -c /);
  });

  test('SIGPIPE (and every other signal) is at its default in the child', async () => {
    const h = execHarness();
    const pid = await h.exec({ path: 'grep', arg: ['^SigIgn', '/proc/self/status'], 'capture-output': true });
    assert.equal(await h.waitExited(pid), `{"return": {"exitcode": 0, "out-data": "${b64('SigIgn:\t0000000000000000\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('a file without #! runs through /bin/sh, as with execvp/g_spawn', async () => {
    const script = path.join(tmp, 'no-shebang');
    fs.writeFileSync(script, 'echo script-ran "$@"\n', { mode: 0o755 });
    const h = execHarness();
    const pid = await h.exec({ path: script, arg: ['x'], 'capture-output': true });
    assert.equal(await h.waitExited(pid), `{"return": {"exitcode": 0, "out-data": "${b64('script-ran x\n')}", "out-truncated": false, "exited": true}}\n`);
  });

  test('a file that is not executable: EACCES in GLib words', async () => {
    const file = path.join(tmp, 'not-executable');
    fs.writeFileSync(file, 'echo no\n', { mode: 0o644 });
    const h = execHarness();
    assert.equal(
      await h.request(JSON.stringify({ execute: 'guest-exec', arguments: { path: file } })),
      `{"error": {"class": "GenericError", "desc": "Failed to execute child process \\u201C${file}\\u201D (Permission denied)"}}\n`,
    );
    assert.equal(
      await h.request('{"execute":"guest-exec","arguments":{"path":""}}'),
      '{"error": {"class": "GenericError", "desc": "Failed to execute child process \\u201C\\u201D (No such file or directory)"}}\n',
    );
  });

  test('environmentFromList: first definition wins, entries without a name are skipped', () => {
    assert.deepEqual({ ...environmentFromList(['A=1', 'A=2', 'NOEQ', '=x', 'B==y', 'C=']) }, { A: '1', B: '=y', C: '' });
  });

  test('unknown pid text names the pid (upstream prints "PID ld does not exist")', async () => {
    const h = execHarness();
    assert.equal(
      await h.request('{"execute":"guest-exec-status","arguments":{"pid":99999999}}'),
      '{"error": {"class": "GenericError", "desc": "PID 99999999 does not exist"}}\n',
    );
  });
});
