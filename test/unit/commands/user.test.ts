/**
 * guest-set-user-password with a fake ga_run_command that records what would have run; no
 * password of this machine is touched.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandRunner } from '../../../src/commands/run-command';
import { createUserHandlers } from '../../../src/commands/user';
import { Errors } from '../../../src/protocol/errors';
import { createInjector } from '../../support/inject';

interface Call {
  argv: readonly string[];
  input: Buffer | string | null;
  action: string;
}

function setup(result: (call: Call) => Promise<number> = async () => 0) {
  const calls: Call[] = [];
  const runCommand: CommandRunner = (argv, input, action) => {
    const call = { argv, input, action };
    calls.push(call);
    return result(call);
  };
  const inj = createInjector({ handlers: createUserHandlers({ runCommand }) });
  const request = async (args: object) => {
    let r = await inj.text(JSON.stringify({ execute: 'guest-set-user-password', arguments: args }));
    while (!r.endsWith('\n')) r += await inj.text('');
    return r;
  };
  return { calls, request };
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const error = (desc: string) => `{"error": {"class": "GenericError", "desc": ${JSON.stringify(desc)}}}\n`;

describe('guest-set-user-password', () => {
  test('plain password: chpasswd with "user:password\\n" on stdin', async () => {
    const { calls, request } = setup();
    assert.equal(await request({ username: 'alice', password: b64('s3cret pass'), crypted: false }), '{"return": {}}\n');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.argv, ['chpasswd']);
    assert.deepEqual(calls[0]!.input, Buffer.from('alice:s3cret pass\n'));
    assert.equal(calls[0]!.action, 'set user password');
  });

  test('crypted password: chpasswd -e', async () => {
    const { calls, request } = setup();
    const hash = '$6$salt$abcdefghijklmnop';
    assert.equal(await request({ username: 'bob', password: b64(hash), crypted: true }), '{"return": {}}\n');
    assert.deepEqual(calls[0]!.argv, ['chpasswd', '-e']);
    assert.deepEqual(calls[0]!.input, Buffer.from(`bob:${hash}\n`));
  });

  test('password bytes go through unchanged, up to the first NUL (C string)', async () => {
    const { calls, request } = setup();
    await request({ username: 'u', password: b64(Buffer.from([0xc3, 0xa9, 0xff, 0x00, 0x41])), crypted: false });
    assert.deepEqual(calls[0]!.input, Buffer.from([0x75, 0x3a, 0xc3, 0xa9, 0xff, 0x0a]));
  });

  test('invalid base64 (7.2 recording)', async () => {
    const { calls, request } = setup();
    assert.equal(await request({ username: 'root', password: '!!!', crypted: false }), error('Base64 data contains invalid characters'));
    assert.equal(calls.length, 0);
  });

  test('a newline in the password', async () => {
    const { calls, request } = setup();
    assert.equal(await request({ username: 'root', password: b64('a\nb'), crypted: false }), error('forbidden characters in raw password'));
    // after a NUL the newline is not part of the C string
    assert.equal(await request({ username: 'root', password: b64('a\0\nb'), crypted: false }), '{"return": {}}\n');
    assert.equal(calls.length, 1);
  });

  test('":" or a newline in the user name (7.2 recording); the password is checked first', async () => {
    const { calls, request } = setup();
    assert.equal(await request({ username: 'a:b', password: 'eA==', crypted: false }), error('forbidden characters in username'));
    assert.equal(await request({ username: 'a\nb', password: 'eA==', crypted: false }), error('forbidden characters in username'));
    assert.equal(await request({ username: 'a:b', password: b64('x\n'), crypted: false }), error('forbidden characters in raw password'));
    assert.equal(calls.length, 0);
  });

  test('an empty user name is not refused by qemu-ga: chpasswd decides', async () => {
    const { calls, request } = setup(async () => {
      throw Errors.childProcessFailed('set user password', "chpasswd: line 1: missing new password\n");
    });
    assert.equal(
      await request({ username: '', password: b64('x'), crypted: false }),
      error("child process has failed to set user password: chpasswd: line 1: missing new password\n"),
    );
    assert.deepEqual(calls[0]!.input, Buffer.from(':x\n'));
  });

  test('a failing chpasswd is the reply', async () => {
    const { request } = setup(async () => {
      throw Errors.childProcessExitStatus('set user password', 1);
    });
    assert.equal(await request({ username: 'alice', password: b64('x'), crypted: false }), error('child process has failed to set user password: exit status 1'));
  });
});
