/**
 * QEMU's own tests of the file commands (tests/unit/test-qga.c, reference §5): /qga/file-ops and
 * /qga/file-write-read, through the real lexer, dispatcher and encoder, asserting every reply
 * byte. As in QEMU's harness the agent's working directory is the temp dir and the file is the
 * relative path "foo"; both tests share one agent (and so one handle counter).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createFileHandleTable, createFileHandlers, defaultFileIo } from '../../../src/commands/file';
import { loadPersistentState } from '../../../src/state/persistent-state';
import { createInjector, type Injector } from '../../support/inject';

// "Hello World!\n" plus the NUL that ends the C array
const HELLO = Buffer.from('Hello World!\n\0', 'latin1');
const HELLO_B64 = 'SGVsbG8gV29ybGQhCgA=';

let dir: string;
let previousCwd: string;
let inj: Injector;
let closeAll: () => Promise<unknown>;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-upstream-'));
  previousCwd = process.cwd();
  process.chdir(dir);
  const state = await loadPersistentState({ statedir: dir, frozen: false });
  const handles = createFileHandleTable(state);
  closeAll = () => handles.closeAll();
  inj = createInjector({ handlers: createFileHandlers({ handles, io: defaultFileIo() }) });
});

after(async () => {
  await closeAll();
  process.chdir(previousCwd);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Sends one request (formatted as qobject_to_json does, plus "\n") and waits for its reply line. */
async function qmp(execute: string, args: Record<string, unknown>): Promise<string> {
  const request = `{"execute": "${execute}", "arguments": ${JSON.stringify(args).replace(/":/g, '": ').replace(/,"/g, ', "')}}\n`;
  let reply = await inj.text(request);
  const deadline = Date.now() + 10000;
  while (!reply.endsWith('\n') && Date.now() < deadline) reply += await inj.text(new Uint8Array(0));
  return reply;
}

test('/qga/file-ops', async () => {
  assert.equal(await qmp('guest-file-open', { path: 'foo', mode: 'w+' }), '{"return": 1000}\n');
  assert.equal(await qmp('guest-file-write', { handle: 1000, 'buf-b64': HELLO_B64 }), '{"return": {"count": 14, "eof": false}}\n');
  assert.equal(await qmp('guest-file-flush', { handle: 1000 }), '{"return": {}}\n');
  assert.equal(await qmp('guest-file-close', { handle: 1000 }), '{"return": {}}\n');

  assert.deepEqual(fs.readFileSync(path.join(dir, 'foo')), HELLO);

  assert.equal(await qmp('guest-file-open', { path: 'foo', mode: 'r' }), '{"return": 1001}\n');
  assert.equal(
    await qmp('guest-file-read', { handle: 1001 }),
    `{"return": {"count": 14, "buf-b64": "${HELLO_B64}", "eof": true}}\n`,
  );
  assert.equal(await qmp('guest-file-read', { handle: 1001 }), '{"return": {"count": 0, "buf-b64": "", "eof": true}}\n');
  assert.equal(await qmp('guest-file-seek', { handle: 1001, offset: 6, whence: 'set' }), '{"return": {"eof": false, "position": 6}}\n');
  const rest = HELLO.subarray(6).toString('base64');
  assert.equal(await qmp('guest-file-read', { handle: 1001 }), `{"return": {"count": 8, "buf-b64": "${rest}", "eof": true}}\n`);
  assert.equal(await qmp('guest-file-close', { handle: 1001 }), '{"return": {}}\n');
});

test('/qga/file-write-read', async () => {
  assert.equal(await qmp('guest-file-open', { path: 'foo', mode: 'w+' }), '{"return": 1002}\n');
  assert.equal(await qmp('guest-file-write', { handle: 1002, 'buf-b64': HELLO_B64 }), '{"return": {"count": 14, "eof": false}}\n');
  // no seek: the read must flush the write first, and then finds the end of the file
  assert.equal(await qmp('guest-file-read', { handle: 1002 }), '{"return": {"count": 0, "buf-b64": "", "eof": true}}\n');
  assert.equal(await qmp('guest-file-seek', { handle: 1002, offset: 0, whence: 'set' }), '{"return": {"eof": false, "position": 0}}\n');
  assert.equal(
    await qmp('guest-file-read', { handle: 1002 }),
    `{"return": {"count": 14, "buf-b64": "${HELLO_B64}", "eof": true}}\n`,
  );
  assert.equal(await qmp('guest-file-close', { handle: 1002 }), '{"return": {}}\n');
  assert.equal(fs.readFileSync(path.join(dir, 'qga.state'), 'latin1'), '[global]\nfd_counter=1003\n');
});

test('the dispatcher keeps every handle command away while frozen', async () => {
  inj.state.setFrozen(true);
  try {
    for (const cmd of ['guest-file-open', 'guest-file-read', 'guest-file-write', 'guest-file-seek', 'guest-file-flush', 'guest-file-close']) {
      const reply = await qmp(cmd, { handle: 1000 });
      assert.match(reply, new RegExp(`^\\{"error": \\{"class": "CommandNotFound", "desc": "Command ${cmd} has been disabled`));
    }
  } finally {
    inj.state.setFrozen(false);
  }
});
