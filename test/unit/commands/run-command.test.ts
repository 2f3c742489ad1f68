/**
 * ga_run_command and its helpers, with harmless real programs (sh, true, cat) and a fake file
 * system for the PATH search.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { createCommandRunner, openMergedOutput, searchProgram, type ProgramSearchFs } from '../../../src/commands/run-command';
import { QgaError } from '../../../src/protocol/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-run-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A file system of the given entries: 'x' executable file, 'f' plain file, 'd' directory. */
function fakeFs(entries: Record<string, 'x' | 'f' | 'd' | 'EACCES' | 'ELOOP'>): ProgramSearchFs {
  const fail = (code: string) => Promise.reject(Object.assign(new Error(code), { code }));
  return {
    stat: (p) => {
      const e = entries[p];
      if (e === undefined) return fail('ENOENT');
      if (e === 'EACCES' || e === 'ELOOP') return fail(e);
      return Promise.resolve({ isFile: () => e !== 'd' });
    },
    access: (p) => (entries[p] === 'x' ? Promise.resolve() : fail('EACCES')),
  };
}

function failsWith(desc: string) {
  return (e: unknown) => {
    assert.ok(e instanceof QgaError, String(e));
    assert.equal(e.desc, desc);
    return true;
  };
}

describe('searchProgram (execvp / g_spawn PATH walk)', () => {
  test('a name with a slash is not searched', async () => {
    assert.deepEqual(await searchProgram('./x', '/bin', fakeFs({})), { path: './x' });
    assert.deepEqual(await searchProgram('/no/such', '/bin', fakeFs({})), { path: '/no/such' });
  });

  test('the first executable regular file wins; directories and plain files are skipped', async () => {
    const fs1 = fakeFs({ '/a/p': 'd', '/b/p': 'f', '/c/p': 'x', '/d/p': 'x' });
    assert.deepEqual(await searchProgram('p', '/a:/b:/c:/d', fs1), { path: '/c/p' });
    assert.deepEqual(await searchProgram('p', '/c/:/d', fs1), { path: '/c/p' });
  });

  test('nothing found: ENOENT, or EACCES when something was there but could not run', async () => {
    assert.deepEqual(await searchProgram('p', '/a:/b', fakeFs({})), { errorCode: 'ENOENT' });
    assert.deepEqual(await searchProgram('p', '/a:/b', fakeFs({ '/b/p': 'f' })), { errorCode: 'EACCES' });
    assert.deepEqual(await searchProgram('p', '/a:/b', fakeFs({ '/a/p': 'EACCES' })), { errorCode: 'EACCES' });
    assert.deepEqual(await searchProgram('', '/a', fakeFs({ '/a/': 'x' })), { errorCode: 'ENOENT' });
  });

  test('an unexpected error stops the search, as execvp returns on it', async () => {
    assert.deepEqual(await searchProgram('p', '/a:/b', fakeFs({ '/a/p': 'ELOOP', '/b/p': 'x' })), { errorCode: 'ELOOP' });
  });

  test('an empty element is the current directory', async () => {
    assert.deepEqual(await searchProgram('p', '/a::/b', fakeFs({ './p': 'x', '/b/p': 'x' })), { path: './p' });
  });
});

describe('openMergedOutput', () => {
  test('what the writer end gets, the reader end reads, and EOF follows the last writer', async () => {
    const { writer, reader } = await openMergedOutput();
    const got: Buffer[] = [];
    const ended = new Promise<void>((r) => reader.on('end', r));
    reader.on('data', (d: Buffer) => got.push(d));
    reader.resume();
    writer.end('hello');
    await ended;
    assert.equal(Buffer.concat(got).toString(), 'hello');
    reader.destroy();
  });

  test('many pairs at once do not get mixed up', async () => {
    const pairs = await Promise.all(Array.from({ length: 20 }, () => openMergedOutput()));
    const texts = await Promise.all(
      pairs.map(
        ({ writer, reader }, i) =>
          new Promise<string>((resolve) => {
            let s = '';
            reader.on('data', (d: Buffer) => (s += d.toString()));
            reader.on('end', () => resolve(s));
            reader.resume();
            writer.end(`pair-${i}`);
          }),
      ),
    );
    assert.deepEqual(
      texts,
      pairs.map((_, i) => `pair-${i}`),
    );
  });
});

describe('createCommandRunner (ga_run_command)', () => {
  const run = createCommandRunner();

  test('success resolves with 0', async () => {
    assert.equal(await run(['true'], null, 'test'), 0);
  });

  test('non-zero exit with output: the merged output, untrimmed', async () => {
    await assert.rejects(run(['sh', '-c', 'echo out; echo err 1>&2; exit 3'], null, 'do the thing'), failsWith('child process has failed to do the thing: out\nerr\n'));
  });

  test('non-zero exit without output: the exit status', async () => {
    await assert.rejects(run(['sh', '-c', 'exit 4'], null, 'shutdown'), failsWith('child process has failed to shutdown: exit status 4'));
  });

  test('killed by a signal: terminated abnormally, with or without output', async () => {
    await assert.rejects(run(['sh', '-c', 'kill -9 $$'], null, 'x'), failsWith('child process has terminated abnormally'));
    await assert.rejects(run(['sh', '-c', 'echo bye; kill -9 $$'], null, 'x'), failsWith('child process has terminated abnormally: bye\n'));
  });

  test('a program that cannot be executed: the child-side perror text', async () => {
    await assert.rejects(
      run(['qga-no-such-program-42'], null, 'set user password'),
      failsWith("child process has failed to set user password: failed to exec 'qga-no-such-program-42': No such file or directory\n"),
    );
    const file = path.join(tmp, 'plain');
    fs.writeFileSync(file, '', { mode: 0o644 });
    await assert.rejects(run([file], null, 'x'), failsWith(`child process has failed to x: failed to exec '${file}': Permission denied\n`));
  });

  test('stdin gets the input string; without input stdin is /dev/null', async () => {
    await assert.rejects(run(['sh', '-c', 'cat; exit 1'], 'user:secret\n', 'x'), failsWith('child process has failed to x: user:secret\n'));
    await assert.rejects(run(['sh', '-c', 'readlink /proc/self/fd/0; exit 1'], null, 'x'), failsWith('child process has failed to x: /dev/null\n'));
  });

  test('the child runs in its own session (setsid)', async () => {
    // field 6 of /proc/<pid>/stat is the session id; the shell must lead its own session
    assert.equal(await run(['sh', '-c', 'test "$(cut -d" " -f6 /proc/$$/stat)" = "$$"'], null, 'x'), 0);
  });

  test('output stops at a NUL byte, as %s prints it', async () => {
    await assert.rejects(run(['sh', '-c', 'printf "a\\000b"; exit 1'], null, 'x'), failsWith('child process has failed to x: a'));
  });

  test('a daemon keeping the output open does not hang the caller forever', async () => {
    const quick = createCommandRunner({ outputGraceMs: 200 });
    const started = Date.now();
    assert.equal(await quick(['sh', '-c', 'sleep 3 & exit 0'], null, 'x'), 0);
    assert.ok(Date.now() - started < 2500);
  });

  test('the pipe helper failing gives upstream\'s pipe text', async () => {
    const broken = createCommandRunner({ openMergedOutput: () => Promise.reject(new Error('nope')) });
    await assert.rejects(broken(['true'], null, 'x'), failsWith('cannot create pipe FDs'));
  });

  test('fork failure: "failed to create child process: <strerror>"', async () => {
    const eagain = createCommandRunner({
      spawn: (() => {
        throw Object.assign(new Error('spawn EAGAIN'), { code: 'EAGAIN' });
      }) as never,
    });
    await assert.rejects(eagain(['true'], null, 'x'), failsWith('failed to create child process: Resource temporarily unavailable'));
  });
});
