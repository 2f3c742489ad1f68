import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  DEFAULT_FD_COUNTER,
  PersistentState,
  PersistentStateLoadError,
  PersistentStateWriteError,
  defaultStateFileIo,
  formatPersistentState,
  loadPersistentState,
  parsePersistentState,
  type StateFileIo,
} from '../../../src/state/persistent-state';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-pstate-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const stateFile = () => path.join(dir, 'qga.state');
const stateText = () => fs.readFileSync(stateFile(), 'latin1');

describe('the state file format', () => {
  test('is the 25 bytes qemu-ga writes for the default counter', () => {
    assert.equal(formatPersistentState(1000n), '[global]\nfd_counter=1000\n');
    assert.equal(Buffer.byteLength(formatPersistentState(DEFAULT_FD_COUNTER)), 25);
  });

  // Each row was read by qemu-ga 7.2 at start-up; the value is the handle its first open returned.
  const READ_BY_QEMU_GA: [string, bigint][] = [
    ['[global]\nfd_counter=5000\n', 5000n],
    ['[global]\nfd_counter=abc\n', 0n],
    ['[global]\nfd_counter= 77\n', 77n],
    ['[global]\nfd_counter=77 \n', 77n],
    ['# c\n[other]\nx=1\n[global]\nfd_counter=+12\nfoo=bar\n', 12n],
    ['[global]\n', 1000n],
    ['', 1000n],
    ['[global]\nfd_counter=9223372036854775806\n', 0n],
    ['[global]\nfd_counter=-3\n', -3n],
  ];
  for (const [content, counter] of READ_BY_QEMU_GA) {
    test(`reads ${JSON.stringify(content)} as ${counter}`, () => {
      assert.equal(parsePersistentState(Buffer.from(content)).fdCounter, counter);
    });
  }
});

describe('loadPersistentState', () => {
  test('creates the file with defaults in a fresh state dir, mode 0666 minus the umask', async () => {
    const state = await loadPersistentState({ statedir: dir, frozen: false });
    assert.equal(state.fdCounter, 1000n);
    assert.equal(stateText(), '[global]\nfd_counter=1000\n');
    assert.equal(fs.statSync(stateFile()).mode & 0o777, 0o666 & ~process.umask());
    assert.deepEqual(fs.readdirSync(dir), ['qga.state'], 'no temp file left behind');
  });

  test('does not create the file when the agent starts frozen', async () => {
    const state = await loadPersistentState({ statedir: dir, frozen: true });
    assert.equal(state.fdCounter, 1000n);
    assert.equal(fs.existsSync(stateFile()), false);
  });

  test('handles count from 1000 and survive a new instance (a restarted agent)', async () => {
    const first = await loadPersistentState({ statedir: dir, frozen: false });
    assert.equal(await first.allocateFileHandle(), 1000n);
    assert.equal(await first.allocateFileHandle(), 1001n);
    assert.equal(stateText(), '[global]\nfd_counter=1002\n');
    const second = await loadPersistentState({ statedir: dir, frozen: false });
    assert.equal(await second.allocateFileHandle(), 1002n);
    assert.equal(stateText(), '[global]\nfd_counter=1003\n');
  });

  test('rewrites a file with extra content to the bare format on the next commit', async () => {
    fs.writeFileSync(stateFile(), '# c\n[other]\nx=1\n[global]\nfd_counter=+12\nfoo=bar\n');
    const state = await loadPersistentState({ statedir: dir, frozen: false });
    assert.equal(await state.allocateFileHandle(), 12n);
    assert.equal(stateText(), '[global]\nfd_counter=13\n');
  });

  test('refuses a file GLib cannot load', async () => {
    fs.writeFileSync(stateFile(), 'garbage\n');
    await assert.rejects(loadPersistentState({ statedir: dir, frozen: false }), (e: unknown) => {
      assert.ok(e instanceof PersistentStateLoadError);
      assert.match(e.message, /^error loading persistent state from path: .*qga\.state, /);
      return true;
    });
  });

  test('refuses a state file it cannot read', async () => {
    fs.mkdirSync(stateFile());
    await assert.rejects(loadPersistentState({ statedir: dir, frozen: false }), {
      name: 'PersistentStateLoadError',
      message: `unable to access state file at path ${stateFile()}: Is a directory`,
    });
  });

  test('refuses a state dir where the file cannot be created', async () => {
    await assert.rejects(loadPersistentState({ statedir: path.join(dir, 'missing'), frozen: false }), {
      name: 'PersistentStateLoadError',
      message: new RegExp(`^unable to create state file at path ${path.join(dir, 'missing', 'qga.state')}`),
    });
  });
});

/** The real calls, logged, with one of them made to fail on demand. */
function recordingIo(failOn?: keyof StateFileIo): { io: StateFileIo; calls: string[] } {
  const real = defaultStateFileIo();
  const calls: string[] = [];
  const wrap = <K extends keyof StateFileIo>(name: K): StateFileIo[K] =>
    (async (...args: unknown[]) => {
      calls.push(`${name}(${args.filter((a) => typeof a === 'string').map((a) => path.basename(a as string)).join(', ')})`);
      if (name === failOn) throw Object.assign(new Error(`${name} failed`), { code: 'EIO' });
      return (real[name] as (...a: unknown[]) => unknown)(...args);
    }) as StateFileIo[K];
  return {
    calls,
    io: {
      readFile: wrap('readFile'),
      createExclusive: wrap('createExclusive'),
      writeAll: wrap('writeAll'),
      fsync: wrap('fsync'),
      close: wrap('close'),
      rename: wrap('rename'),
      unlink: wrap('unlink'),
      tempSuffix: () => 'TMP123',
    },
  };
}

describe('committing the counter', () => {
  test('writes a temp file, fsyncs it, and renames it over the state file', async () => {
    const { io, calls } = recordingIo();
    const state = new PersistentState({ file: stateFile(), fdCounter: 1000n, io });
    assert.equal(await state.allocateFileHandle(), 1000n);
    assert.deepEqual(calls, [
      'createExclusive(qga.state.TMP123)',
      'writeAll()',
      'fsync()',
      'close()',
      'rename(qga.state.TMP123, qga.state)',
    ]);
    assert.equal(stateText(), '[global]\nfd_counter=1001\n');
  });

  for (const step of ['createExclusive', 'writeAll', 'fsync', 'rename'] as const) {
    test(`a failing ${step} fails the allocation, leaves no temp file, and the number is skipped`, async () => {
      fs.writeFileSync(stateFile(), formatPersistentState(1000n));
      const failing = recordingIo(step);
      const state = new PersistentState({ file: stateFile(), fdCounter: 1000n, io: failing.io });
      await assert.rejects(state.allocateFileHandle(), (e: unknown) => {
        assert.ok(e instanceof PersistentStateWriteError);
        assert.equal(e.file, stateFile());
        return true;
      });
      assert.equal(stateText(), '[global]\nfd_counter=1000\n', 'the old file is intact');
      assert.deepEqual(fs.readdirSync(dir), ['qga.state']);
      // qemu-ga increments before writing: observed, the open after a failed commit got 1001.
      assert.equal(state.fdCounter, 1001n);
      const working = new PersistentState({ file: stateFile(), fdCounter: state.fdCounter, io: defaultStateFileIo() });
      assert.equal(await working.allocateFileHandle(), 1001n);
      assert.equal(stateText(), '[global]\nfd_counter=1002\n');
    });
  }

  test('concurrent allocations get distinct numbers and the file ends with the highest', async () => {
    const state = await loadPersistentState({ statedir: dir, frozen: false });
    const handles = await Promise.all(Array.from({ length: 20 }, () => state.allocateFileHandle()));
    assert.deepEqual(
      handles.map(String),
      Array.from({ length: 20 }, (_, i) => String(1000 + i)),
    );
    assert.equal(stateText(), '[global]\nfd_counter=1020\n');
  });

  test('the state dir vanishing makes the allocation fail', async () => {
    const statedir = path.join(dir, 'state');
    fs.mkdirSync(statedir);
    const state = await loadPersistentState({ statedir, frozen: false });
    fs.rmSync(statedir, { recursive: true });
    await assert.rejects(state.allocateFileHandle(), PersistentStateWriteError);
    fs.mkdirSync(statedir);
    assert.equal(await state.allocateFileHandle(), 1001n);
  });
});
