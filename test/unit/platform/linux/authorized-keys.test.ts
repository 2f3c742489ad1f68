import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QgaError } from '../../../../src/protocol/errors';
import { addKeys, keysFromFile, removeKeys, validateKey, validateKeys } from '../../../../src/platform/linux/authorized-keys';

const KEY1 = 'algo key1 comments';
const KEY2 = 'algo key2 comments';

/** The error qemu-ga gives for a bad key: GenericError, exact text. */
function isInvalidKeyError(key: string) {
  return (e: unknown): boolean =>
    e instanceof QgaError && e.errorClass === 'GenericError' && e.desc === `invalid OpenSSH public key: '${key}'`;
}

// The cases of upstream qga/commands-posix-ssh.c's unit test (qga-ssh-test, reference §5), with
// the file on disk replaced by the text these functions produce. /qga/ssh/invalid_user needs a
// passwd lookup and belongs to the command handler, not to these text rules.
describe('qga-ssh-test cases', () => {
  it('/qga/ssh/invalid_key: "not a valid\\nkey" is rejected for add and remove', () => {
    assert.throws(() => validateKeys(['not a valid\nkey']), isInvalidKeyError('not a valid\nkey'));
  });

  it('/qga/ssh/add_keys: add key2 to no file, then [key1, key2]', () => {
    let file = addKeys(null, [KEY2], false);
    assert.equal(file, 'algo key2 comments');
    file = addKeys(file, [KEY1, KEY2], false);
    assert.equal(file, 'algo key2 comments\nalgo key1 comments');
  });

  it('/qga/ssh/add_reset_keys: add [key1, key2], reset with [key2], reset with []', () => {
    let file = addKeys(null, [KEY1, KEY2], false);
    assert.equal(file, 'algo key1 comments\nalgo key2 comments');
    file = addKeys(file, [KEY2], true);
    assert.equal(file, 'algo key2 comments');
    file = addKeys(file, [], true);
    assert.equal(file, '');
  });

  it('/qga/ssh/remove_keys: absent key leaves the file; [key1, key2] removes both key1 lines', () => {
    const authkeys = 'algo key1 comments\n' + 'algo key1 comments\n' + '# a commented line\n' + 'algo some-key another\n';
    assert.equal(removeKeys(authkeys, [KEY2]), authkeys);
    assert.equal(removeKeys(authkeys, [KEY1, KEY2]), '# a commented line\nalgo some-key another\n');
  });

  it('/qga/ssh/get_keys: two keys, no comment, each starting with "algo "', () => {
    const keys = keysFromFile('algo key1 comments\n# a commented line\nalgo some-key another\n');
    assert.equal(keys.length, 2);
    for (const key of keys) assert.ok(key.startsWith('algo '));
  });
});

describe('keysFromFile', () => {
  it('strips lines, drops blanks and comments, and reverses file order', () => {
    const text = '  ssh-ed25519 AAAA first\t\r\n\n   \n# comment\n  #indented comment\nssh-rsa BBBB second\n';
    assert.deepEqual(keysFromFile(text), ['ssh-rsa BBBB second', 'ssh-ed25519 AAAA first']);
  });

  it('keeps duplicate lines and handles an empty file', () => {
    assert.deepEqual(keysFromFile('k\nk'), ['k', 'k']);
    assert.deepEqual(keysFromFile(''), []);
  });

  it('strips with GLib whitespace, which excludes \\v', () => {
    assert.deepEqual(keysFromFile('\x0bk\x0b\n\fj\f'), ['j', '\x0bk\x0b']);
  });
});

describe('validateKey', () => {
  it('rejects a leading # or any newline, with the exact qemu-ga text', () => {
    assert.throws(() => validateKey('#bad'), isInvalidKeyError('#bad'));
    assert.throws(() => validateKey('ssh-rsa AAAA\n'), isInvalidKeyError('ssh-rsa AAAA\n'));
  });

  it('accepts anything else, even an empty string or an indented #', () => {
    for (const key of ['', ' #x', 'ssh-ed25519 AAAA c', 'a\rb']) assert.doesNotThrow(() => validateKey(key));
  });

  it('validateKeys reports the first bad key', () => {
    assert.throws(() => validateKeys(['ok', '#one', '#two']), isInvalidKeyError('#one'));
  });
});

describe('addKeys', () => {
  it('appends only missing keys, keeping existing lines verbatim, without a trailing newline', () => {
    assert.equal(addKeys('a\n# c\nb', ['b', 'd', 'd'], false), 'a\n# c\nb\nd');
  });

  it('like qemu-ga, a file ending in a newline gets a blank line before the added key', () => {
    assert.equal(addKeys('a\n', ['b'], false), 'a\n\nb');
    assert.equal(addKeys('a\n', ['a'], false), 'a\n');
  });

  it('matches whole lines exactly (no stripping)', () => {
    assert.equal(addKeys(' a', ['a'], false), ' a\na');
  });

  it('ignores the existing text on reset', () => {
    assert.equal(addKeys('x\ny', ['z'], true), 'z');
  });
});

describe('removeKeys', () => {
  it('removes only exact line matches and keeps everything else byte for byte', () => {
    assert.equal(removeKeys('a\r\na\n a\n', ['a']), 'a\r\n a\n');
    assert.equal(removeKeys('', ['a']), '');
    assert.equal(removeKeys('a', ['a']), '');
  });

  it('an empty key removes blank lines, including the one after the last newline', () => {
    assert.equal(removeKeys('a\n\nb\n', ['']), 'a\nb');
  });
});
