/**
 * guest-ssh-*-authorized-keys against a temporary home directory and a fake passwd database;
 * chown is recorded, not performed, so no real account is touched.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import {
  buildFilename,
  createPasswdLookup,
  createSshKeyHandlers,
  realSshKeyFs,
  type OwnedHandle,
  type SshKeyDeps,
  type SshKeyFs,
} from '../../../src/commands/ssh-keys';
import type { PasswdEntry } from '../../../src/platform/linux/passwd';
import { QgaError } from '../../../src/protocol/errors';
import { createInjector } from '../../support/inject';

const KEY1 = 'algo key1 comments';
const KEY2 = 'algo key2 comments';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-ssh-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

interface Harness {
  home: string;
  sshDir: string;
  keysPath: string;
  chowns: [string, number, number][];
  handlers: ReturnType<typeof createSshKeyHandlers>;
  deps: SshKeyDeps;
}

let counter = 0;

function harness(overrides: Partial<SshKeyFs> = {}, lookup?: SshKeyDeps['lookupUser']): Harness {
  const home = path.join(root, `home-${++counter}`);
  fs.mkdirSync(home);
  const user: PasswdEntry = { name: 'alice', uid: 4242, gid: 4343, dir: home };
  const chowns: [string, number, number][] = [];
  const recording = (p: string, h: OwnedHandle): OwnedHandle => ({
    ...h,
    chown: async (uid, gid) => void chowns.push([p, uid, gid]),
  });
  const fsDeps: SshKeyFs = {
    ...realSshKeyFs,
    openDirectory: async (p) => recording(p, await realSshKeyFs.openDirectory(p)),
    createExclusive: async (p, mode) => recording(p, await realSshKeyFs.createExclusive(p, mode)),
    ...overrides,
  };
  const deps: SshKeyDeps = {
    lookupUser: lookup ?? (async (name) => (name === 'alice' ? user : null)),
    fs: fsDeps,
    tempSuffix: () => `tmp${counter}`,
  };
  const sshDir = path.join(home, '.ssh');
  return { home, sshDir, keysPath: path.join(sshDir, 'authorized_keys'), chowns, handlers: createSshKeyHandlers(deps), deps };
}

const mode = (p: string) => fs.statSync(p).mode & 0o7777;

function setKeys(h: Harness, contents: string | Buffer) {
  fs.mkdirSync(h.sshDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(h.keysPath, contents);
}

function fails(desc: string) {
  return (e: unknown) => {
    assert.ok(e instanceof QgaError, String(e));
    assert.equal(e.errorClass, 'GenericError');
    assert.equal(e.desc, desc);
    return true;
  };
}

// Upstream's qga-ssh-test (reference §5), one test each.
describe('qga-ssh-test cases', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  test('/qga/ssh/invalid_user: add and remove with "" fail', async () => {
    await assert.rejects(h.handlers['guest-ssh-add-authorized-keys']({ username: '', keys: [] }), fails("failed to lookup user '': Success"));
    await assert.rejects(h.handlers['guest-ssh-remove-authorized-keys']({ username: '', keys: [] }), fails("failed to lookup user '': Success"));
  });

  test('/qga/ssh/invalid_key: "not a valid\\nkey" fails for add and remove', async () => {
    const keys = ['not a valid\nkey'];
    await assert.rejects(h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys }), fails("invalid OpenSSH public key: 'not a valid\nkey'"));
    await assert.rejects(h.handlers['guest-ssh-remove-authorized-keys']({ username: 'alice', keys }), fails("invalid OpenSSH public key: 'not a valid\nkey'"));
    assert.equal(fs.existsSync(h.sshDir), false, 'nothing was created');
  });

  test('/qga/ssh/add_keys', async () => {
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY2] });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), 'algo key2 comments');
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY1, KEY2] });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), 'algo key2 comments\nalgo key1 comments');
  });

  test('/qga/ssh/add_reset_keys', async () => {
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY1, KEY2] });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), 'algo key1 comments\nalgo key2 comments');
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY2], reset: true });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), 'algo key2 comments');
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [], reset: true });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), '');
  });

  test('/qga/ssh/remove_keys', async () => {
    const authkeys = 'algo key1 comments\n' + 'algo key1 comments\n' + '# a commented line\n' + 'algo some-key another\n';
    setKeys(h, authkeys);
    await h.handlers['guest-ssh-remove-authorized-keys']({ username: 'alice', keys: [KEY2] });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), authkeys);
    await h.handlers['guest-ssh-remove-authorized-keys']({ username: 'alice', keys: [KEY1, KEY2] });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), '# a commented line\nalgo some-key another\n');
  });

  test('/qga/ssh/get_keys', async () => {
    setKeys(h, 'algo key1 comments\n# a commented line\nalgo some-key another\n');
    const { keys } = await h.handlers['guest-ssh-get-authorized-keys']({ username: 'alice' });
    assert.equal(keys.length, 2);
    assert.ok(keys.every((k) => k.startsWith('algo ')));
  });
});

describe('ownership and modes', () => {
  test('a new ~/.ssh is 0700 and the file 0600, both given to the user', async () => {
    const h = harness();
    const old = process.umask(0o022);
    try {
      await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY1] });
    } finally {
      process.umask(old);
    }
    assert.equal(mode(h.sshDir), 0o700);
    assert.equal(mode(h.keysPath), 0o600);
    assert.deepEqual(h.chowns, [
      [h.sshDir, 4242, 4343],
      [`${h.keysPath}.tmp${counter}`, 4242, 4343],
    ]);
    assert.deepEqual(fs.readdirSync(h.sshDir), ['authorized_keys'], 'no temporary file left');
  });

  test('an existing ~/.ssh is left alone; the rewritten file gets 0600 and the owner again', async () => {
    const h = harness();
    setKeys(h, KEY1);
    fs.chmodSync(h.sshDir, 0o755);
    fs.chmodSync(h.keysPath, 0o644);
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY2] });
    assert.equal(mode(h.sshDir), 0o755);
    assert.equal(mode(h.keysPath), 0o600);
    assert.deepEqual(h.chowns, [[`${h.keysPath}.tmp${counter}`, 4242, 4343]]);
    await h.handlers['guest-ssh-remove-authorized-keys']({ username: 'alice', keys: [KEY2] });
    assert.equal(h.chowns.length, 2);
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), KEY1);
  });

  test('a failing chown leaves the old file untouched and no temporary file behind', async () => {
    const h = harness({
      createExclusive: async (p, m) => ({
        ...(await realSshKeyFs.createExclusive(p, m)),
        chown: () => Promise.reject(Object.assign(new Error('EPERM'), { code: 'EPERM' })),
      }),
    });
    setKeys(h, KEY1);
    await assert.rejects(
      h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY2] }),
      fails(`failed to set ownership of directory '${h.keysPath}': Operation not permitted`),
    );
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), KEY1);
    assert.deepEqual(fs.readdirSync(h.sshDir), ['authorized_keys']);
  });

  test('~/.ssh that cannot be created: upstream text', async () => {
    const h = harness();
    fs.writeFileSync(h.sshDir, 'a file, not a directory');
    await assert.rejects(
      h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY1] }),
      fails(`failed to create directory '${h.sshDir}': File exists`),
    );
  });
});

describe('reading', () => {
  test('get returns the keys stripped, in reverse file order, without blanks and comments', async () => {
    const h = harness();
    setKeys(h, '  ssh-ed25519 AAAA first \n\n#comment\n\tssh-rsa BBBB second\r\n   # indented comment\nssh-dss CCCC third');
    const { keys } = await h.handlers['guest-ssh-get-authorized-keys']({ username: 'alice' });
    assert.deepEqual(keys, ['ssh-dss CCCC third', 'ssh-rsa BBBB second', 'ssh-ed25519 AAAA first']);
  });

  test('get without the file: GLib\'s open message inside qemu-ga\'s (7.2 recording)', async () => {
    const h = harness();
    await assert.rejects(
      h.handlers['guest-ssh-get-authorized-keys']({ username: 'alice' }),
      fails(`failed to read '${h.keysPath}': Failed to open file \u201C${h.keysPath}\u201D: No such file or directory`),
    );
  });

  test('get on a directory: GLib\'s read message', async () => {
    const h = harness();
    fs.mkdirSync(h.keysPath, { recursive: true });
    await assert.rejects(
      h.handlers['guest-ssh-get-authorized-keys']({ username: 'alice' }),
      fails(`failed to read '${h.keysPath}': Error reading file \u201C${h.keysPath}\u201D: Is a directory`),
    );
  });

  test('unknown user: "Success" (g_strerror(0)), as qemu-ga prints it; lookup errors give their errno', async () => {
    const h = harness();
    await assert.rejects(h.handlers['guest-ssh-get-authorized-keys']({ username: 'nosuchuser' }), fails("failed to lookup user 'nosuchuser': Success"));
    const broken = harness({}, () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })));
    await assert.rejects(broken.handlers['guest-ssh-get-authorized-keys']({ username: 'x' }), fails("failed to lookup user 'x': Input/output error"));
  });

  test('remove with no file is no error and creates nothing', async () => {
    const h = harness();
    await h.handlers['guest-ssh-remove-authorized-keys']({ username: 'alice', keys: [KEY1] });
    assert.equal(fs.existsSync(h.sshDir), false);
    assert.deepEqual(h.chowns, []);
  });

  test('bytes that are not UTF-8 survive a rewrite; UTF-8 keys match by their bytes', async () => {
    const h = harness();
    const latin1Line = Buffer.from([0x23, 0x20, 0xe9, 0xff]); // "# \xe9\xff"
    setKeys(h, Buffer.concat([latin1Line, Buffer.from('\nssh-ed25519 AAAA caf\u00e9\n')]));
    await h.handlers['guest-ssh-remove-authorized-keys']({ username: 'alice', keys: ['ssh-ed25519 AAAA caf\u00e9'] });
    assert.deepEqual(fs.readFileSync(h.keysPath), Buffer.concat([latin1Line, Buffer.from('\n')]));
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: ['ssh-ed25519 BBBB \u00fcber'] });
    const { keys } = await h.handlers['guest-ssh-get-authorized-keys']({ username: 'alice' });
    assert.deepEqual(keys, ['ssh-ed25519 BBBB \u00fcber']);
  });

  test('an unreadable existing file is treated as empty by add (upstream ignores the read error)', async () => {
    const h = harness({ readFile: () => Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES', syscall: 'open' })) });
    setKeys(h, KEY1);
    await h.handlers['guest-ssh-add-authorized-keys']({ username: 'alice', keys: [KEY2] });
    assert.equal(fs.readFileSync(h.keysPath, 'utf8'), KEY2);
  });
});

describe('on the wire', () => {
  test('exact replies: add, get, remove, invalid key', async () => {
    const h = harness();
    const inj = createInjector({ handlers: h.handlers });
    const req = async (line: string) => {
      let r = await inj.text(line);
      while (!r.endsWith('\n')) r += await inj.text('');
      return r;
    };
    assert.equal(await req('{"execute":"guest-ssh-add-authorized-keys","arguments":{"username":"alice","keys":["a k1","a k2"]}}'), '{"return": {}}\n');
    assert.equal(await req('{"execute":"guest-ssh-get-authorized-keys","arguments":{"username":"alice"}}'), '{"return": {"keys": ["a k2", "a k1"]}}\n');
    assert.equal(await req('{"execute":"guest-ssh-remove-authorized-keys","arguments":{"username":"alice","keys":["a k2"]}}'), '{"return": {}}\n');
    assert.equal(
      await req('{"execute":"guest-ssh-add-authorized-keys","arguments":{"username":"root","keys":["#bad"]}}'),
      '{"error": {"class": "GenericError", "desc": "invalid OpenSSH public key: \'#bad\'"}}\n',
    );
    assert.equal(
      await req('{"execute":"guest-ssh-get-authorized-keys","arguments":{"username":"nosuchuser"}}'),
      '{"error": {"class": "GenericError", "desc": "failed to lookup user \'nosuchuser\': Success"}}\n',
    );
  });
});

describe('helpers', () => {
  test('buildFilename joins like g_build_filename', () => {
    assert.equal(buildFilename('/root', '.ssh', 'authorized_keys'), '/root/.ssh/authorized_keys');
    assert.equal(buildFilename('/home/u/', '.ssh'), '/home/u/.ssh');
    assert.equal(buildFilename('/', '.ssh'), '/.ssh');
    assert.equal(buildFilename('', '.ssh', 'authorized_keys'), '.ssh/authorized_keys');
  });

  test('createPasswdLookup reads the passwd file; getent is the fallback', async () => {
    const file = path.join(root, 'passwd');
    fs.writeFileSync(file, 'root:x:0:0:root:/root:/bin/bash\n# bob:x:1:1::/nope:/bin/sh\nbob:x:1001:1002:Bob:/home/bob:/bin/sh\n');
    const lookup = createPasswdLookup({ passwdFile: file, useGetent: false });
    assert.deepEqual(await lookup('bob'), { name: 'bob', uid: 1001, gid: 1002, dir: '/home/bob' });
    assert.equal(await lookup('nosuchuser'), null);
    assert.equal(await lookup(''), null);
    // getent only reads; "0" must not find root by uid
    const viaNss = createPasswdLookup({ passwdFile: path.join(root, 'missing'), useGetent: true });
    assert.equal((await viaNss('root'))?.uid, 0);
    assert.equal(await viaNss('0'), null);
    assert.equal(await viaNss('qga-no-such-user-42'), null);
  });
});
