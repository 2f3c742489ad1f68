import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findPasswdEntry, parsePasswdLine } from '../../../../src/platform/linux/passwd';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '',
  '  # a comment',
  'broken line',
  'nouid:x::0::/nowhere:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash',
  'alice:x:2000:2000:second alice:/elsewhere:/bin/sh',
  'noshell:x:3:3::/home/noshell',
].join('\n');

test('the first matching line wins', () => {
  assert.deepEqual(findPasswdEntry(PASSWD, 'alice'), { name: 'alice', uid: 1000, gid: 1000, dir: '/home/alice' });
  assert.deepEqual(findPasswdEntry(PASSWD, 'root'), { name: 'root', uid: 0, gid: 0, dir: '/root' });
});

test('unknown names, the empty name and lines that do not parse find nothing', () => {
  assert.equal(findPasswdEntry(PASSWD, 'bob'), null);
  assert.equal(findPasswdEntry(PASSWD, ''), null);
  assert.equal(findPasswdEntry(PASSWD, 'nouid'), null);
  assert.equal(findPasswdEntry(PASSWD, 'broken line'), null);
  assert.equal(findPasswdEntry(PASSWD, '# a comment'), null);
});

test('a line without the shell field still gives the home directory', () => {
  assert.deepEqual(parsePasswdLine('noshell:x:3:3::/home/noshell'), { name: 'noshell', uid: 3, gid: 3, dir: '/home/noshell' });
  assert.equal(parsePasswdLine('big:x:4294967296:0::/h:/bin/sh'), null);
});
