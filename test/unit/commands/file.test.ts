/**
 * guest-file-* against the real filesystem in a temp dir. The expected values are qemu-ga 7.2's,
 * observed on this machine's Debian build (see file-differential.test.ts for the side-by-side run).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { FILE_OPEN_MODES, createFileHandleTable, createFileHandlers, openFlagsForMode, pathBytes } from '../../../src/commands/file';
import { loadPersistentState } from '../../../src/state/persistent-state';
import { ctx, recordingIo, setupFiles, sizeOnDisk, type FileSetup, type RecordingIo } from './file-test-support';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOCTTY, O_NONBLOCK } = fs.constants;
/** Linux's O_CLOEXEC (libuv adds it to every open); Node does not export it. */
const O_CLOEXEC = 0o2000000;

const qgaError = (desc: string) => ({ errorClass: 'GenericError', desc });
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

let s: FileSetup;
let rec: RecordingIo;
beforeEach(async () => {
  rec = recordingIo();
  s = await setupFiles({ io: rec.io });
});
afterEach(() => s.cleanup());

/** The f_flags of one of this process's descriptors, from /proc. */
function fdFlags(fd: number): number {
  const line = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('flags:'));
  return parseInt(line!.split(/\s+/)[1]!, 8);
}

function openedFds(): number[] {
  return rec.calls.filter((c) => c.name === 'fchmod' || c.name === 'fstat').map((c) => c.args[0] as number);
}

describe('guest-file-open', () => {
  const MODES: [string, number][] = [
    ['r', O_RDONLY],
    ['rb', O_RDONLY],
    ['w', O_WRONLY | O_CREAT | O_TRUNC],
    ['wb', O_WRONLY | O_CREAT | O_TRUNC],
    ['a', O_WRONLY | O_CREAT | O_APPEND],
    ['ab', O_WRONLY | O_CREAT | O_APPEND],
    ['r+', O_RDWR],
    ['rb+', O_RDWR],
    ['r+b', O_RDWR],
    ['w+', O_RDWR | O_CREAT | O_TRUNC],
    ['wb+', O_RDWR | O_CREAT | O_TRUNC],
    ['w+b', O_RDWR | O_CREAT | O_TRUNC],
    ['a+', O_RDWR | O_CREAT | O_APPEND],
    ['ab+', O_RDWR | O_CREAT | O_APPEND],
    ['a+b', O_RDWR | O_CREAT | O_APPEND],
  ];

  test('knows exactly the fifteen fopen modes', () => {
    assert.deepEqual([...FILE_OPEN_MODES.keys()], MODES.map(([m]) => m));
  });

  for (const [mode, base] of MODES) {
    test(`mode ${mode}: open flags, O_EXCL first, and the descriptor's flags`, async () => {
      const creates = (base & O_CREAT) !== 0;
      assert.equal(openFlagsForMode(mode), base | O_NOCTTY | O_NONBLOCK);
      const p = s.file('new');
      if (!creates) fs.writeFileSync(p, 'x');
      await s.open(p, mode);
      const opens = rec.calls.filter((c) => c.name === 'open');
      assert.deepEqual(
        opens.map((c) => [c.args[1], c.args[2]]),
        [[creates ? base | O_NOCTTY | O_NONBLOCK | O_EXCL : base | O_NOCTTY | O_NONBLOCK, 0]],
      );
      const fd = openedFds()[0]!;
      const interesting = 3 | O_APPEND | O_NONBLOCK | O_CLOEXEC;
      assert.equal(fdFlags(fd) & interesting, (base & (3 | O_APPEND)) | O_NONBLOCK | O_CLOEXEC);

      if (creates) {
        // an existing file: EEXIST, then the same flags without O_CREAT
        rec.calls.length = 0;
        fs.writeFileSync(p, 'old content');
        fs.chmodSync(p, 0o600);
        await s.open(p, mode);
        assert.deepEqual(
          rec.calls.filter((c) => c.name === 'open').map((c) => c.args[1]),
          [base | O_NOCTTY | O_NONBLOCK | O_EXCL, base & ~O_CREAT | O_NOCTTY | O_NONBLOCK],
        );
        assert.equal(rec.calls.some((c) => c.name === 'fchmod'), false);
        assert.equal(fs.statSync(p).mode & 0o777, 0o600, 'an existing file keeps its mode');
        assert.equal(sizeOnDisk(p), base & O_TRUNC ? 0 : 11);
      }
    });
  }

  test('a created file gets 0666 whatever the umask', async () => {
    const old = process.umask(0o022);
    try {
      await s.open(s.file('created'), 'w');
      await s.open(s.file('created-a+'), 'a+');
    } finally {
      process.umask(old);
    }
    assert.equal(fs.statSync(s.file('created')).mode & 0o777, 0o666);
    assert.equal(fs.statSync(s.file('created-a+')).mode & 0o777, 0o666);
  });

  test('mode defaults to r', async () => {
    fs.writeFileSync(s.file('f'), 'abc');
    const h = await s.open(s.file('f'));
    assert.equal((await s.read(h)).count, 3);
    await assert.rejects(s.write(h, 'x'), qgaError('failed to write to file: Bad file descriptor'));
  });

  test('anything but the fifteen modes is refused before the path is touched', async () => {
    for (const mode of ['rw', '', 'R', 'rb+ ', 'wx', 're', 'r\u00e9', 'w\u0000', 'constructor', 'toString']) {
      await assert.rejects(s.open(s.file('nope'), mode), qgaError(`invalid file open mode '${mode}'`));
    }
    assert.equal(rec.calls.length, 0);
    assert.equal(fs.existsSync(s.file('nope')), false);
  });

  test('open errors carry the path, the mode and strerror', async () => {
    const dir = s.file('d');
    fs.mkdirSync(dir);
    await assert.rejects(s.open(s.file('nope'), 'r'), qgaError(`failed to open file '${s.file('nope')}' (mode: 'r'): No such file or directory`));
    await assert.rejects(s.open(s.file('nope/x'), 'w'), qgaError(`failed to open file '${s.file('nope/x')}' (mode: 'w'): No such file or directory`));
    await assert.rejects(s.open('', 'r'), qgaError("failed to open file '' (mode: 'r'): No such file or directory"));
    for (const mode of ['w', 'r+', 'a', 'a+', 'w+']) {
      await assert.rejects(s.open(dir, mode), qgaError(`failed to open file '${dir}' (mode: '${mode}'): Is a directory`));
    }
  });

  test('handles count 1000, 1001, ... and the state file is committed before each is returned', async () => {
    fs.writeFileSync(s.file('f'), '');
    assert.equal(await s.open(s.file('f')), 1000n);
    assert.equal(fs.readFileSync(`${s.statedir}/qga.state`, 'latin1'), '[global]\nfd_counter=1001\n');
    assert.equal(await s.open(s.file('f')), 1001n);
    assert.equal(fs.readFileSync(`${s.statedir}/qga.state`, 'latin1'), '[global]\nfd_counter=1002\n');
    await s.close(1000n);
    assert.equal(await s.open(s.file('f')), 1002n, 'a closed handle is not reused');
  });

  test('numbering continues in a new table over the same state dir (a restarted agent)', async () => {
    fs.writeFileSync(s.file('f'), '');
    await s.open(s.file('f'));
    await s.open(s.file('f'));
    const restarted = createFileHandlers({
      handles: createFileHandleTable(await loadPersistentState({ statedir: s.statedir, frozen: false })),
      io: rec.io,
    });
    assert.equal(await restarted['guest-file-open']({ path: s.file('f') }, ctx), 1002n);
    await assert.rejects(
      Promise.resolve(restarted['guest-file-read']({ handle: 1000n }, ctx)),
      qgaError("handle '1000' has not been found"),
      'open files do not survive a restart',
    );
  });

  test('a failed commit fails the open, closes the descriptor and skips the number', async () => {
    fs.rmSync(s.statedir, { recursive: true });
    await assert.rejects(s.open(s.file('made'), 'w'), qgaError('failed to commit persistent state to disk'));
    const fd = openedFds()[0]!;
    assert.ok(rec.calls.some((c) => c.name === 'close' && c.args[0] === fd));
    assert.equal(s.handles.size, 0);
    assert.equal(fs.existsSync(s.file('made')), true, 'qemu-ga does not remove the file it created');
    fs.mkdirSync(s.statedir);
    assert.equal(await s.open(s.file('made'), 'r'), 1001n);
  });

  test('a failing fchmod of a new file closes and removes it', async () => {
    rec.failNext('fchmod', 'EPERM');
    const p = s.file('perm');
    await assert.rejects(s.open(p, 'w'), qgaError(`failed to set permission 0666 on new file '${p}' (mode: 'w'): Operation not permitted`));
    assert.equal(fs.existsSync(p), false);
    assert.equal(s.state.fdCounter, 1000n, 'no number was taken');
  });

  test('a path with \\u0000 opens the name qemu-ga would (C0 80 in place of the NUL)', async () => {
    assert.deepEqual(pathBytes('a\u0000b'), Buffer.from([0x61, 0xc0, 0x80, 0x62]));
    assert.deepEqual(pathBytes('\u00e9'), Buffer.from([0xc3, 0xa9]));
    await s.open(s.file('a\u0000b'), 'w');
    assert.ok(fs.readdirSync(s.dir, { encoding: 'buffer' }).some((n) => n.equals(Buffer.from([0x61, 0xc0, 0x80, 0x62]))));
  });
});

describe('stdio buffering', () => {
  test('writes reach the kernel in glibc\'s pattern, seen through another descriptor', async () => {
    const p = s.file('s');
    const h = await s.open(p, 'w');
    assert.deepEqual(await s.write(h, Buffer.alloc(13, 'x')), { count: 13, eof: false });
    assert.equal(sizeOnDisk(p), 0);
    await s.write(h, Buffer.alloc(5000, 'y'));
    assert.equal(sizeOnDisk(p), 4096);
    await s.write(h, Buffer.alloc(10000, 'z'));
    assert.equal(sizeOnDisk(p), 12288);
    assert.deepEqual(await s.seek(h, 0n, 1n), { position: 15013n, eof: false });
    assert.equal(sizeOnDisk(p), 15013, 'a seek flushes');
    await s.write(h, 'www');
    assert.equal(sizeOnDisk(p), 15013);
    await s.flush(h);
    assert.equal(sizeOnDisk(p), 15016);
    const content = fs.readFileSync(p);
    assert.equal(content.toString('latin1'), 'x'.repeat(13) + 'y'.repeat(5000) + 'z'.repeat(10000) + 'www');
  });

  test('a first write of exactly one buffer goes straight through, a later one stays buffered', async () => {
    const p = s.file('blocks');
    const h = await s.open(p, 'w');
    await s.write(h, Buffer.alloc(4096, 'a'));
    assert.equal(sizeOnDisk(p), 4096);
    await s.write(h, 'b');
    await s.write(h, Buffer.alloc(4095, 'c'));
    assert.equal(sizeOnDisk(p), 4096, 'the buffer is full, not yet flushed');
    await s.close(h);
    assert.equal(sizeOnDisk(p), 8192, 'close flushes');
  });

  test('after a flush the buffer has room; after a seek or a read it has none (qemu-ga 7.2 sizes)', async () => {
    const p = s.file('room');
    let h = await s.open(p, 'w');
    await s.write(h, Buffer.alloc(10, 'a'));
    await s.flush(h);
    assert.equal(sizeOnDisk(p), 10);
    await s.write(h, Buffer.alloc(4096, 'a'));
    assert.equal(sizeOnDisk(p), 10);
    await s.seek(h, 0n, 'end');
    assert.equal(sizeOnDisk(p), 4106);
    await s.write(h, Buffer.alloc(4096, 'a'));
    assert.equal(sizeOnDisk(p), 8202);
    await s.close(h);

    fs.writeFileSync(p, Buffer.alloc(100, '0'));
    h = await s.open(p, 'r+');
    await s.read(h, 10n);
    await s.write(h, Buffer.alloc(5000, 'X'));
    assert.equal(sizeOnDisk(p), 4106);
    assert.equal(fs.readFileSync(p, 'latin1').split('X').length - 1, 4096);
    await s.close(h);
    assert.equal(sizeOnDisk(p), 5010);
  });

  test('a read after a write flushes first (w+, the upstream file-write-read case)', async () => {
    const p = s.file('wr');
    const h = await s.open(p, 'w+');
    await s.write(h, 'Hello World!\n');
    assert.equal(sizeOnDisk(p), 0);
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
    assert.equal(sizeOnDisk(p), 13);
    assert.deepEqual(await s.seek(h, 0n, 'set'), { position: 0n, eof: false });
    assert.deepEqual(await s.read(h, 5n), { count: 5, 'buf-b64': 'SGVsbG8=', eof: false });
    assert.deepEqual(await s.seek(h, 0n, 1n), { position: 5n, eof: false });
    assert.deepEqual(await s.read(h), { count: 8, 'buf-b64': 'IFdvcmxkIQo=', eof: true });
  });

  test('a write after a read goes to the read position (r+)', async () => {
    const p = s.file('rp');
    fs.writeFileSync(p, 'Hello World!\n');
    const h = await s.open(p, 'r+');
    assert.equal((await s.readBytes(h, 5n)).toString(), 'Hello');
    await s.write(h, 'XY');
    assert.equal(fs.readFileSync(p, 'latin1'), 'Hello World!\n');
    assert.equal((await s.readBytes(h, 3n)).toString(), 'orl');
    assert.equal(fs.readFileSync(p, 'latin1'), 'HelloXYorld!\n');
    await s.write(h, 'Q');
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 11n, eof: false });
    assert.equal(fs.readFileSync(p, 'latin1'), 'HelloXYorlQ!\n');
  });

  test('a: starts at 0, writes at the end, and is at the end afterwards', async () => {
    const p = s.file('a');
    fs.writeFileSync(p, 'Hello World!\n');
    const h = await s.open(p, 'a');
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 0n, eof: false });
    assert.deepEqual(await s.seek(h, 2n, 'set'), { position: 2n, eof: false });
    await s.write(h, 'AB');
    assert.equal(sizeOnDisk(p), 13);
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 15n, eof: false });
    await s.close(h);
    assert.equal(fs.readFileSync(p, 'latin1'), 'Hello World!\nAB');
  });

  test('a+: reads from the start, appends, and follows the end after each flush', async () => {
    const p = s.file('ap');
    fs.writeFileSync(p, 'Hello World!\n');
    const h = await s.open(p, 'a+');
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 0n, eof: false });
    assert.deepEqual(await s.read(h, 5n), { count: 5, 'buf-b64': 'SGVsbG8=', eof: false });
    await s.write(h, 'AB');
    assert.equal(sizeOnDisk(p), 13);
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
    assert.equal(sizeOnDisk(p), 15);
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 15n, eof: false });
    assert.deepEqual(await s.seek(h, 3n, 'set'), { position: 3n, eof: false });
    assert.deepEqual(await s.read(h, 2n), { count: 2, 'buf-b64': 'bG8=', eof: false });
    await s.write(h, 'CD');
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 17n, eof: false });
    await s.write(h, 'EF');
    assert.deepEqual(await s.seek(h, -1n, 'cur'), { position: 18n, eof: false });
    assert.deepEqual(await s.read(h), { count: 1, 'buf-b64': 'Rg==', eof: true });
    await s.close(h);
    assert.equal(fs.readFileSync(p, 'latin1'), 'Hello World!\nABCDEF');
  });

  test('seeking past the end and writing leaves a zero-filled gap', async () => {
    const p = s.file('gap');
    const h = await s.open(p, 'w+');
    await s.write(h, 'AB');
    assert.deepEqual(await s.seek(h, 10n, 'set'), { position: 10n, eof: false });
    await s.write(h, 'C');
    await s.flush(h);
    assert.deepEqual(fs.readFileSync(p), Buffer.concat([Buffer.from('AB'), Buffer.alloc(8), Buffer.from('C')]));
  });
});

describe('guest-file-read', () => {
  test('eof: only a read that stopped at the end says so', async () => {
    const p = s.file('e');
    fs.writeFileSync(p, 'Hello World!\n');
    const h = await s.open(p, 'r');
    assert.deepEqual(await s.read(h, 13n), { count: 13, 'buf-b64': b64('Hello World!\n'), eof: false });
    assert.deepEqual(await s.read(h, 0n), { count: 0, 'buf-b64': '', eof: false });
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
    assert.deepEqual(await s.seek(h, -3n, 'end'), { position: 10n, eof: false });
    // "Hello World!\n": offsets 10, 11, 12 hold "d!\n"
    assert.deepEqual(await s.read(h, 2n), { count: 2, 'buf-b64': b64('d!'), eof: false });
    assert.deepEqual(await s.read(h, 2n), { count: 1, 'buf-b64': 'Cg==', eof: true });
    assert.deepEqual(await s.seek(h, 100n, 'set'), { position: 100n, eof: false });
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
  });

  test('count: default 4096, 0..48 MiB, anything else refused', async () => {
    const p = s.file('c');
    fs.writeFileSync(p, Buffer.alloc(5000, 'q'));
    const h = await s.open(p, 'r');
    assert.equal((await s.read(h)).count, 4096);
    for (const bad of [-1n, 50331649n, 1n << 62n]) {
      await assert.rejects(s.read(h, bad), qgaError(`value '${bad}' is invalid for argument count`));
    }
    assert.deepEqual(await s.read(h, 50331648n), { count: 904, 'buf-b64': b64(Buffer.alloc(904, 'q')), eof: true });
  });

  test('handle lookup comes before the count check', async () => {
    await assert.rejects(s.read(4242n, -1n), qgaError("handle '4242' has not been found"));
  });

  test('a write-only handle: count 0 works, anything else is EBADF', async () => {
    const h = await s.open(s.file('wo'), 'a');
    assert.deepEqual(await s.read(h, 0n), { count: 0, 'buf-b64': '', eof: false });
    await assert.rejects(s.read(h), qgaError('failed to read file: Bad file descriptor'));
    await assert.rejects(s.read(h, 8192n), qgaError('failed to read file: Bad file descriptor'));
  });

  test('a directory opens, and reading it says so', async () => {
    const d = s.file('d');
    fs.mkdirSync(d);
    const h = await s.open(d, 'r');
    assert.deepEqual(await s.read(h, 0n), { count: 0, 'buf-b64': '', eof: false });
    await assert.rejects(s.read(h, 10n), qgaError('failed to read file: Is a directory'));
    assert.deepEqual(await s.seek(h, 5n, 'set'), { position: 5n, eof: false });
    await s.flush(h);
    await s.close(h);
  });

  test('48 MiB in one read: one buffer of that size, read into in place, encoded once', async () => {
    const size = 48 * 1024 * 1024;
    const p = s.file('big');
    const content = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) content.writeUInt32LE(i, i);
    fs.writeFileSync(p, content);
    const h = await s.open(p, 'r');
    rec.calls.length = 0;
    const r = await s.read(h, BigInt(size));
    assert.equal(r.count, size);
    assert.equal(r.eof, false);
    assert.equal(r['buf-b64'].length, (size / 3) * 4 + 4 - ((size % 3) === 0 ? 4 : 0));
    assert.ok(Buffer.from(r['buf-b64'], 'base64').equals(content));
    const reads = rec.calls.filter((c) => c.name === 'read');
    assert.ok(reads.length >= 1);
    const target = reads[0]!.args[1] as Buffer;
    assert.equal(target.byteLength, size);
    assert.ok(reads.every((c) => c.args[1] === target), 'every chunk lands in the same buffer');
    assert.deepEqual(await s.read(h, BigInt(size)), { count: 0, 'buf-b64': '', eof: true });
  });

  test('a character device: /dev/zero reads and seeks', async () => {
    const h = await s.open('/dev/zero', 'r');
    assert.deepEqual(await s.seek(h, 5n, 'set'), { position: 5n, eof: false });
    assert.deepEqual(await s.read(h, 3n), { count: 3, 'buf-b64': 'AAAA', eof: false });
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 8n, eof: false });
  });
});

describe('guest-file-write', () => {
  test('count: default all, a prefix when given, never more than decoded', async () => {
    const p = s.file('w');
    const h = await s.open(p, 'w');
    assert.deepEqual(await s.writeB64(h, 'QUJD', 2n), { count: 2, eof: false });
    assert.deepEqual(await s.writeB64(h, 'QUJD', 0n), { count: 0, eof: false });
    for (const bad of [4n, -1n]) {
      await assert.rejects(s.writeB64(h, 'QUJD', bad), qgaError(`value '${bad}' is invalid for argument count`));
    }
    assert.deepEqual(await s.writeB64(h, ''), { count: 0, eof: false });
    assert.deepEqual(await s.writeB64(h, 'QUJD'), { count: 3, eof: false });
    await s.close(h);
    assert.equal(fs.readFileSync(p, 'latin1'), 'ABABC');
  });

  test('base64 is decoded like qemu_base64_decode (every row checked against qemu-ga 7.2)', async () => {
    const hex = (h: string) => Buffer.from(h, 'hex');
    const ROWS: [string, Buffer | null][] = [
      ['', hex('')],
      ['QUJD', Buffer.from('ABC')],
      ['QUI=', Buffer.from('AB')],
      ['QQ==', Buffer.from('A')],
      ['Q', hex('')],
      ['QUJ', hex('')],
      ['QUJDR', Buffer.from('ABC')],
      ['====', hex('00')],
      ['A===', hex('00')],
      ['AB=C', hex('0002')],
      ['A=BC', hex('000042')],
      ['QQ==QUJD', Buffer.from('AABC')],
      ['QU\nJD', Buffer.from('ABC')],
      ['\n\n\nQUJD\n', Buffer.from('ABC')],
      ['QUJD====', hex('41424300')],
      ['Q=J=', hex('4002')],
      ['YWJj\nZGVm\n', Buffer.from('abcdef')],
      ['QUJD\r\n', null],
      ['QUJD ', null],
      [' QUJD', null],
      ['QU-D', null],
      ['QU_D', null],
      ['@@@', null],
      ['QUJD\u00e9', null],
      ['QUJD\u0000', null],
    ];
    const p = s.file('b');
    for (const [input, expected] of ROWS) {
      const h = await s.open(p, 'w+');
      if (expected === null) {
        await assert.rejects(s.writeB64(h, input), qgaError('Base64 data contains invalid characters'), JSON.stringify(input));
      } else {
        const w = await s.writeB64(h, input);
        assert.equal(w.count, expected.length, JSON.stringify(input));
        await s.seek(h, 0n, 'set');
        assert.deepEqual(await s.readBytes(h), expected, JSON.stringify(input));
      }
      await s.close(h);
    }
  });

  test('a read-only handle: an empty write works, anything else is EBADF', async () => {
    fs.writeFileSync(s.file('ro'), 'x');
    const h = await s.open(s.file('ro'), 'r');
    assert.deepEqual(await s.writeB64(h, ''), { count: 0, eof: false });
    assert.deepEqual(await s.writeB64(h, 'QUJD', 0n), { count: 0, eof: false });
    await assert.rejects(s.writeB64(h, 'QUJD'), qgaError('failed to write to file: Bad file descriptor'));
  });

  test('ENOSPC while writing a large chunk directly', async () => {
    const h = await s.open(s.file('full'), 'w');
    rec.failNext('write', 'ENOSPC');
    await assert.rejects(s.write(h, Buffer.alloc(10000)), qgaError('failed to write to file: No space left on device'));
    await s.flush(h);
  });
});

describe('failed flushes', () => {
  test('flush, seek, read and close each report a failed flush in their own words', async () => {
    const p = s.file('f');
    const h = await s.open(p, 'w+');
    await s.write(h, 'abc');
    rec.failNext('write', 'ENOSPC');
    await assert.rejects(s.flush(h), qgaError('failed to flush file: No space left on device'));
    await s.flush(h);
    assert.equal(sizeOnDisk(p), 0, 'glibc drops what it could not write');

    await s.write(h, 'abc');
    rec.failNext('write', 'EIO');
    await assert.rejects(s.seek(h, 0n, 'set'), qgaError('failed to seek file: Input/output error'));

    await s.write(h, 'abc');
    rec.failNext('write', 'EDQUOT');
    await assert.rejects(s.read(h), qgaError('failed to flush file: Disk quota exceeded'));

    await s.write(h, 'abc');
    rec.failNext('write', 'ENOSPC');
    await assert.rejects(s.close(h), qgaError('failed to close handle: No space left on device'));
    const fd = openedFds()[0]!;
    assert.ok(rec.calls.some((c) => c.name === 'close' && c.args[0] === fd), 'the descriptor is closed anyway');
    await assert.rejects(s.close(h), qgaError(`handle '${h}' has not been found`));
  });
});

describe('guest-file-seek', () => {
  test('whence by number or name; bad codes and negative results refused', async () => {
    const p = s.file('sk');
    fs.writeFileSync(p, 'Hello World!\n');
    const h = await s.open(p, 'r+');
    assert.deepEqual(await s.seek(h, 4n, 0n), { position: 4n, eof: false });
    assert.deepEqual(await s.seek(h, 2n, 'cur'), { position: 6n, eof: false });
    assert.deepEqual(await s.seek(h, -1n, 2n), { position: 12n, eof: false });
    for (const code of [3n, -1n, 1n << 40n]) {
      await assert.rejects(s.seek(h, 0n, code), qgaError(`invalid whence code ${code}`));
    }
    await assert.rejects(s.seek(h, -100n, 'set'), qgaError('failed to seek file: Invalid argument'));
    await assert.rejects(s.seek(h, -100n, 'cur'), qgaError('failed to seek file: Invalid argument'));
    await assert.rejects(s.seek(h, -100n, 'end'), qgaError('failed to seek file: Invalid argument'));
    assert.deepEqual(await s.seek(h, 0n, 'cur'), { position: 12n, eof: false }, 'a failed seek leaves the position');
    assert.deepEqual(await s.seek(h, 1n << 43n, 'set'), { position: 1n << 43n, eof: false });
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
    await assert.rejects(s.seek(h, (1n << 63n) - 1n, 'end'), qgaError('failed to seek file: Invalid argument'));
  });

  test('handle lookup comes before the whence check', async () => {
    await assert.rejects(s.seek(99n, 0n, 7n), qgaError("handle '99' has not been found"));
  });
});

describe('every command on an unknown or closed handle', () => {
  test('answers "has not been found"', async () => {
    fs.writeFileSync(s.file('x'), '');
    const h = await s.open(s.file('x'));
    await s.close(h);
    const err = qgaError(`handle '${h}' has not been found`);
    await assert.rejects(s.read(h), err);
    await assert.rejects(s.writeB64(h, '@@'), err);
    await assert.rejects(s.seek(h, 0n, 'set'), err);
    await assert.rejects(s.flush(h), err);
    await assert.rejects(s.close(h), err);
  });
});

describe('fifos do not hang the agent', () => {
  let fifo: string;
  beforeEach(() => {
    fifo = s.file('fifo');
    execFileSync('mkfifo', [fifo]);
  });

  test('reading: no writer is end of file, an empty pipe is EAGAIN, what arrived is returned', async () => {
    const h = await s.open(fifo, 'r');
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
    const writer = fs.openSync(fifo, O_WRONLY | O_NONBLOCK);
    try {
      await assert.rejects(s.read(h), qgaError('failed to read file: Resource temporarily unavailable'));
      fs.writeSync(writer, 'hello');
      assert.deepEqual(await s.read(h, 3n), { count: 3, 'buf-b64': b64('hel'), eof: false });
      assert.deepEqual(await s.read(h, 2n), { count: 2, 'buf-b64': b64('lo'), eof: false });
      fs.writeSync(writer, 'world');
      // Deliberate difference: qemu-ga answers EAGAIN here and the five bytes are lost.
      assert.deepEqual(await s.read(h), { count: 5, 'buf-b64': b64('world'), eof: false });
      await assert.rejects(s.seek(h, 0n, 'cur'), qgaError('failed to seek file: Illegal seek'));
    } finally {
      fs.closeSync(writer);
    }
    assert.deepEqual(await s.read(h), { count: 0, 'buf-b64': '', eof: true });
  });

  test('writing: no reader fails the open; a full pipe is EAGAIN; a write after a read is an illegal seek', async () => {
    await assert.rejects(s.open(fifo, 'w'), qgaError(`failed to open file '${fifo}' (mode: 'w'): No such device or address`));
    const reader = fs.openSync(fifo, O_RDONLY | O_NONBLOCK);
    try {
      const h = await s.open(fifo, 'w');
      await s.write(h, 'abc');
      await s.flush(h);
      const got = Buffer.alloc(100);
      assert.equal(fs.readSync(reader, got), 3);
      await assert.rejects(s.write(h, Buffer.alloc(100000, 'x')), qgaError('failed to write to file: Resource temporarily unavailable'));
      await s.flush(h);
      await assert.rejects(s.seek(h, 0n, 'set'), qgaError('failed to seek file: Illegal seek'));
      await s.close(h);
    } finally {
      fs.closeSync(reader);
    }
    const h = await s.open(fifo, 'r+');
    await s.write(h, 'abc');
    assert.deepEqual(await s.read(h, 2n), { count: 2, 'buf-b64': b64('ab'), eof: false });
    await assert.rejects(s.write(h, 'de'), qgaError('failed to seek file: Illegal seek'));
    await assert.rejects(s.write(h, 'de'), qgaError('failed to seek file: Illegal seek'));
    // qemu-ga: a seek failing with ESPIPE forgets the read, so writing works again
    await assert.rejects(s.seek(h, 0n, 'cur'), qgaError('failed to seek file: Illegal seek'));
    assert.deepEqual(await s.write(h, 'de'), { count: 2, eof: false });
    assert.deepEqual(await s.read(h, 10n), { count: 3, 'buf-b64': b64('cde'), eof: false });
  });
});

describe('one handle, many callers', () => {
  test('operations on a handle run in call order', async () => {
    const p = s.file('order');
    const h = await s.open(p, 'w+');
    const results = await Promise.all([
      s.write(h, 'one '),
      s.write(h, 'two '),
      s.seek(h, 0n, 'set'),
      s.read(h),
      s.write(h, 'X'),
      s.close(h),
    ]);
    assert.deepEqual(results[3], { count: 8, 'buf-b64': b64('one two '), eof: true });
    assert.equal(fs.readFileSync(p, 'latin1'), 'one two X');
  });
});
