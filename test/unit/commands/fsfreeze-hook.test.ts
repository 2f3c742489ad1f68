/**
 * init/fsfreeze-hook, run for real from a temp copy with its own fsfreeze-hook.d and log file.
 * (fsfreeze-hook-runner.test.ts runs it through the freeze group and the agent's ga_run_command.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoPath } from '../../support/repo';

let dir: string;
let hook: string;
let logFile: string;

function script(name: string, body: string, mode = 0o755): void {
  fs.writeFileSync(path.join(dir, 'fsfreeze-hook.d', name), `#!/bin/sh\n${body}\n`, { mode });
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-hook-'));
  hook = path.join(dir, 'fsfreeze-hook');
  logFile = path.join(dir, 'hook.log');
  fs.copyFileSync(repoPath('init', 'fsfreeze-hook'), hook);
  fs.chmodSync(hook, 0o755);
  fs.mkdirSync(path.join(dir, 'fsfreeze-hook.d'));
  script('10-db', 'echo "db $1"');
  script('20-broken', 'echo "boom on $1" >&2; exit 3');
  script('30-after', 'echo "after $1"');
  for (const skipped of ['40-old.bak', '41-edit~', '42-x.orig', '43-y.rpmnew', '44-z.sample', '45-w.dpkg-dist', '46-v.dpkg-old']) {
    script(skipped, `touch "${dir}/ran-${skipped}"`);
  }
  script('50-not-executable', `touch "${dir}/ran-not-executable"`, 0o644);
  fs.mkdirSync(path.join(dir, 'fsfreeze-hook.d', '60-a-directory'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function runHook(arg: string) {
  return spawnSync('/bin/sh', [hook, arg], { env: { PATH: '/usr/bin:/bin', FSFREEZE_HOOK_LOG: logFile }, encoding: 'utf8' });
}

describe('init/fsfreeze-hook', () => {
  it('runs the executables of fsfreeze-hook.d in name order, logs their output, exits 0', () => {
    fs.rmSync(logFile, { force: true });
    const r = runHook('freeze');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    const log = fs.readFileSync(logFile, 'utf8').replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /gm, '');
    const d = path.join(dir, 'fsfreeze-hook.d');
    assert.equal(
      log,
      [
        'fsfreeze-hook freeze: start',
        `running ${d}/10-db freeze`,
        'db freeze',
        `running ${d}/20-broken freeze`,
        'boom on freeze',
        `${d}/20-broken freeze failed with exit status 3`,
        `running ${d}/30-after freeze`,
        'after freeze',
        'fsfreeze-hook freeze: done',
        '',
      ].join('\n'),
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.startsWith('ran-')),
      [],
      'skipped and non-executable entries did not run',
    );
  });

  it('passes "thaw" on, and exits 0 without a hook directory', () => {
    fs.rmSync(logFile, { force: true });
    assert.equal(runHook('thaw').status, 0);
    assert.match(fs.readFileSync(logFile, 'utf8'), /db thaw\n/);

    const bare = path.join(dir, 'bare');
    fs.mkdirSync(bare, { recursive: true });
    fs.copyFileSync(hook, path.join(bare, 'fsfreeze-hook'));
    const r = spawnSync('/bin/sh', [path.join(bare, 'fsfreeze-hook'), 'freeze'], { env: { FSFREEZE_HOOK_LOG: logFile } });
    assert.equal(r.status, 0);
  });
});
