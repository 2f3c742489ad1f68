import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { createStatvfsHandlers } from '../../../src/commands/statvfs';
import type { CommandContext } from '../../../src/dispatch/command-context';
import type { NativeHelper, StatvfsResult } from '../../../src/native/native-helper';
import { qdictOrder } from '../../../src/protocol/qdict-order';
import { createInjector } from '../../support/inject';
import { builtSkip, helper, withScratchTmpfs } from '../native/native-test-support';

const ctx = {} as CommandContext;

const FIELDS = [
  'f_bsize',
  'f_frsize',
  'f_blocks',
  'f_bfree',
  'f_bavail',
  'f_files',
  'f_ffree',
  'f_favail',
  'f_fsid',
  'f_flag',
  'f_namemax',
] as const;
type Field = (typeof FIELDS)[number];

/** The handler's answer with every field as a bigint. */
async function statvfsVia(native: Pick<NativeHelper, 'statvfs'>, path: string): Promise<Record<Field, bigint>> {
  const r = await createStatvfsHandlers({ native })['guest-get-statvfs']({ path }, ctx);
  for (const f of FIELDS) assert.equal(typeof r[f], 'bigint', f);
  assert.deepEqual(Object.keys(r), [...FIELDS], 'schema member order');
  return r as Record<Field, bigint>;
}

/** statvfs(3) through Python's os.statvfs: all eleven fields, as decimal strings. */
function pythonStatvfs(p: string): string[] {
  const script = `import os,sys\ns=os.statvfs(sys.argv[1])\nprint(' '.join(str(getattr(s,n)) for n in ${JSON.stringify(FIELDS)}))`;
  return execFileSync('python3', ['-c', script, p], { encoding: 'utf8' }).trim().split(' ');
}

/** GNU stat -f: %s f_bsize, %S f_frsize, %b %f %a blocks, %c %d inodes, %l namemax. */
function statDashF(p: string): Record<string, string> {
  const [bsize, frsize, blocks, bfree, bavail, files, ffree, namemax] = execFileSync(
    'stat',
    ['-f', '-c', '%s %S %b %f %a %c %d %l', p],
    { encoding: 'utf8' },
  )
    .trim()
    .split(' ');
  return { f_bsize: bsize!, f_frsize: frsize!, f_blocks: blocks!, f_bfree: bfree!, f_bavail: bavail!, f_files: files!, f_ffree: ffree!, f_namemax: namemax! };
}

const havePython = (() => {
  try {
    execFileSync('python3', ['-c', 'import os; os.statvfs("/")'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('guest-get-statvfs on this machine', { skip: builtSkip }, () => {
  /** Fields that move while anything writes to the filesystem. */
  const MOVING = new Set<string>(['f_bfree', 'f_bavail', 'f_ffree', 'f_favail']);

  for (const p of ['/', '/tmp']) {
    test(`${p}: the eleven fields agree with statvfs(3) (python3) and stat -f`, { skip: havePython ? false : 'python3 is missing' }, async () => {
      // Other processes write to / meanwhile, so the free counts are taken between two of ours
      // and must lie between them; every other field must be equal.
      let last = '';
      for (let attempt = 0; attempt < 20; attempt++) {
        const before = await statvfsVia(helper(), p);
        const python = pythonStatvfs(p);
        const coreutils = statDashF(p);
        const after = await statvfsVia(helper(), p);
        const problems: string[] = [];
        FIELDS.forEach((f, i) => {
          const lo = before[f] < after[f] ? before[f] : after[f];
          const hi = before[f] < after[f] ? after[f] : before[f];
          const others = [BigInt(python[i]!), ...(f in coreutils ? [BigInt(coreutils[f]!)] : [])];
          for (const v of others) {
            if (MOVING.has(f) ? v < lo || v > hi : v !== before[f] || v !== after[f]) problems.push(`${f}: ${before[f]}..${after[f]} vs ${v}`);
          }
        });
        if (problems.length === 0) return;
        last = problems.join('; ');
      }
      assert.fail(`never agreed: ${last}`);
    });
  }

  test('a quiet filesystem of our own: all eleven fields exactly equal', { skip: (process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs') || (havePython ? false : 'python3 is missing') }, async () => {
    await withScratchTmpfs(async (mnt) => {
      const ours = await statvfsVia(helper(), mnt);
      assert.deepEqual(FIELDS.map((f) => String(ours[f])), pythonStatvfs(mnt));
      const coreutils = statDashF(mnt);
      for (const [f, v] of Object.entries(coreutils)) assert.equal(String(ours[f as Field]), v, f);
    });
  });

  test('a missing path gives the errno text', async () => {
    await assert.rejects(statvfsVia(helper(), '/nonexistent/qga-ts'), {
      errorClass: 'GenericError',
      desc: 'Failed to get statvfs: No such file or directory',
    });
    await assert.rejects(statvfsVia(helper(), '/etc/hostname/x'), { desc: 'Failed to get statvfs: Not a directory' });
  });

  test('an empty path or one with \\u0000 is ENOENT, as statvfs(2) would say', async () => {
    for (const p of ['', '/tmp\u0000x']) {
      await assert.rejects(statvfsVia(helper(), p), { desc: 'Failed to get statvfs: No such file or directory' });
    }
  });
});

describe('guest-get-statvfs with an injected helper', () => {
  const BIG: StatvfsResult = {
    f_bsize: 4096n,
    f_frsize: 4096n,
    f_blocks: 66053021n,
    f_bfree: 60004111n,
    f_bavail: 20548818n,
    f_files: 16777216n,
    f_ffree: 16356292n,
    f_favail: 16356292n,
    f_fsid: 0xc1776aeb1071fa97n,
    f_flag: 4096n,
    f_namemax: 255n,
  };

  test('uint64 values go out exactly, beyond INT64_MAX included', async () => {
    const inj = createInjector({
      handlers: createStatvfsHandlers({ native: { statvfs: async () => BIG } }),
    });
    const reply = await inj.text('{"execute":"guest-get-statvfs","arguments":{"path":"/"},"id":7}');
    const members = qdictOrder([...FIELDS]).map((f) => `"${f}": ${BIG[f as Field]}`).join(', ');
    assert.equal(reply, `{"return": {${members}}, "id": 7}\n`);
    assert.ok(reply.includes('"f_fsid": 13940728729374423703'));
  });

  test('errno codes become strerror texts', async () => {
    for (const [code, text] of [
      ['EACCES', 'Permission denied'],
      ['ELOOP', 'Too many levels of symbolic links'],
      ['ENAMETOOLONG', 'File name too long'],
      ['EIO', 'Input/output error'],
    ] as const) {
      const failing = { statvfs: async () => Promise.reject(Object.assign(new Error(code), { code, errno: 1, syscall: 'statvfs' })) };
      await assert.rejects(statvfsVia(failing, '/x'), { errorClass: 'GenericError', desc: `Failed to get statvfs: ${text}` });
    }
  });

  test('a missing argument never reaches the helper', async () => {
    let calls = 0;
    const inj = createInjector({
      handlers: createStatvfsHandlers({ native: { statvfs: async () => (calls++, BIG) } }),
    });
    assert.equal(
      await inj.text('{"execute":"guest-get-statvfs"}'),
      '{"error": {"class": "GenericError", "desc": "Parameter \'path\' is missing"}}\n',
    );
    assert.equal(calls, 0);
  });
});
