/**
 * The freeze group with the real init/fsfreeze-hook and the agent's real ga_run_command
 * (commands/run-command.ts): the hook runs around the (faked) ioctls, and its failures come back
 * with qemu-ga's texts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFsfreezeGroup, fileMarker, FROZEN_MARKER_NAME, realTimers } from '../../../src/commands/fsfreeze';
import { createCommandRunner } from '../../../src/commands/run-command';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import { createInjector } from '../../support/inject';
import { repoPath } from '../../support/repo';
import { fakeMountTable, FakeFilesystems, STANDARD_MOUNTINFO } from './fake-filesystems';

let dir: string;
let hook: string;
let logFile: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-hook-runner-'));
  hook = path.join(dir, 'fsfreeze-hook');
  logFile = path.join(dir, 'hook.log');
  fs.copyFileSync(repoPath('init', 'fsfreeze-hook'), hook);
  fs.chmodSync(hook, 0o755);
  fs.mkdirSync(path.join(dir, 'fsfreeze-hook.d'));
  fs.writeFileSync(path.join(dir, 'fsfreeze-hook.d', '10-db'), '#!/bin/sh\necho "db $1"\n', { mode: 0o755 });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the freeze group with the real hook and ga_run_command', () => {
  function setup(hookPath: string) {
    const fsx = new FakeFilesystems();
    const statedir = fs.mkdtempSync(path.join(dir, 'state-'));
    const group = createFsfreezeGroup({
      native: fsx,
      mountTable: fakeMountTable(STANDARD_MOUNTINFO),
      hookPath,
      runCommand: createCommandRunner(),
      marker: fileMarker(path.join(statedir, FROZEN_MARKER_NAME)),
      freezeTimeoutMs: 0,
      timers: realTimers,
      log: createAgentLogger({ verbose: false, sink: { write() {} } }).logger,
    });
    return { fsx, inj: createInjector({ handlers: group.handlers }) };
  }

  async function request(inj: ReturnType<typeof createInjector>, line: string): Promise<string> {
    let out = await inj.text(line);
    const deadline = Date.now() + 10000;
    while (!out.endsWith('\n') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      out += await inj.text('');
    }
    return out;
  }

  it('freeze and thaw run the hook around the ioctls', async () => {
    const saved = process.env.FSFREEZE_HOOK_LOG;
    process.env.FSFREEZE_HOOK_LOG = logFile;
    try {
      fs.rmSync(logFile, { force: true });
      const { inj, fsx } = setup(hook);
      assert.equal(await request(inj, '{"execute":"guest-fsfreeze-freeze"}'), '{"return": 3}\n');
      assert.match(fs.readFileSync(logFile, 'utf8'), /db freeze\n/);
      assert.equal(await request(inj, '{"execute":"guest-fsfreeze-thaw"}'), '{"return": 3}\n');
      assert.match(fs.readFileSync(logFile, 'utf8'), /db thaw\n/);
      assert.deepEqual(fsx.frozenMounts(), []);
    } finally {
      if (saved === undefined) delete process.env.FSFREEZE_HOOK_LOG;
      else process.env.FSFREEZE_HOOK_LOG = saved;
    }
  });

  it('a hook that is missing or fails: qemu-ga texts, nothing frozen', async () => {
    const missing = setup(path.join(dir, 'no-such-hook'));
    assert.equal(
      await request(missing.inj, '{"execute":"guest-fsfreeze-freeze"}'),
      `{"error": {"class": "GenericError", "desc": "child process has failed to execute fsfreeze hook: failed to exec '${dir}/no-such-hook': No such file or directory\\n"}}\n`,
    );
    assert.deepEqual(missing.fsx.calls, []);

    const failing = path.join(dir, 'failing-hook');
    fs.writeFileSync(failing, '#!/bin/sh\necho "cannot $1 now"\nexit 1\n', { mode: 0o755 });
    const f = setup(failing);
    assert.equal(
      await request(f.inj, '{"execute":"guest-fsfreeze-freeze"}'),
      '{"error": {"class": "GenericError", "desc": "child process has failed to execute fsfreeze hook: cannot freeze now\\n"}}\n',
    );
    assert.deepEqual(f.fsx.calls, []);

    const silent = path.join(dir, 'silent-hook');
    fs.writeFileSync(silent, '#!/bin/sh\nexit 7\n', { mode: 0o755 });
    assert.equal(
      await request(setup(silent).inj, '{"execute":"guest-fsfreeze-freeze"}'),
      '{"error": {"class": "GenericError", "desc": "child process has failed to execute fsfreeze hook: exit status 7"}}\n',
    );
  });
});
