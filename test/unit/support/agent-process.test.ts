/**
 * The test harness's agent starter: an agent that does not come up is killed before the error is
 * thrown. A leaked one would keep the test process alive (its pipes and handle hold the event
 * loop) after every test has ended, and `node --test` would wait for that file forever.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startAgent } from '../../support/agent-process';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startAgent', { timeout: 20_000 }, () => {
  test('an agent that never listens: a timely error naming it, and the process is gone', async () => {
    const t0 = Date.now();
    // Runs, never creates its socket.
    const failure = await startAgent({ binary: '/bin/sleep', args: ['300'], startTimeoutMs: 300 }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(failure, 'startAgent must fail');
    assert.match(failure.message, /did not listen on .* within 300 ms \(pid (\d+)/);
    const pid = Number(/pid (\d+)/.exec(failure.message)![1]);
    assert.equal(alive(pid), false, `pid ${pid} was left running`);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  });

  test('a program that cannot be started: an error, not an uncaught exception or a wait', async () => {
    await assert.rejects(startAgent({ binary: '/nonexistent/qga-agent', startTimeoutMs: 2000 }), /could not be started: .*ENOENT/);
  });

  test('an agent that exits at once: its status and stderr', async () => {
    await assert.rejects(startAgent({ binary: '/bin/sh', args: ['-c', 'echo no such port >&2; exit 3'], startTimeoutMs: 5000 }), /exited with 3 before listening: no such port/);
  });
});
