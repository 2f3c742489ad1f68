import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { guestUsersFromUtmp, parseUtmp, UTMP_RECORD_SIZE, UtmpType } from '../../../../src/platform/linux/utmp';
import { readFixtureBytes } from './fixture';

// utmp-users.bin is written by test/fixtures/linux/make-utmp.py (python struct). The record
// values asserted here were checked independently with util-linux `utmpdump utmp-users.bin`.
describe('parseUtmp', () => {
  const records = parseUtmp(readFixtureBytes('utmp-users.bin'));

  it('reads every 384-byte record in order', () => {
    assert.equal(records.length, 10);
    assert.deepEqual(
      records.map((r) => [r.type, r.pid, r.user]),
      [
        [UtmpType.BOOT_TIME, 0, 'reboot'],
        [UtmpType.LOGIN_PROCESS, 410, 'LOGIN'],
        [UtmpType.USER_PROCESS, 411, 'alice'],
        [UtmpType.USER_PROCESS, 520, 'bob'],
        [UtmpType.USER_PROCESS, 530, 'alice'],
        [UtmpType.DEAD_PROCESS, 540, 'carol'],
        [UtmpType.USER_PROCESS, 550, 'abcdefghijklmnopqrstuvwxyz012345'],
        [UtmpType.USER_PROCESS, 560, 'root'],
        [UtmpType.USER_PROCESS, 570, 'alice'],
        [UtmpType.INIT_PROCESS, 1, ''],
      ],
    );
  });

  it('decodes every field of a remote login', () => {
    const bob = records[3];
    assert.deepEqual(bob, {
      type: 7,
      pid: 520,
      line: 'pts/0',
      id: 'ts/0',
      user: 'bob',
      host: '192.0.2.10',
      exitTermination: 0,
      exitStatus: 0,
      session: 520,
      tvSec: 1700000200,
      tvUsec: 500000,
      addrV6: Uint8Array.of(192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    });
    assert.equal(records[5]?.exitStatus, 1);
    assert.equal(records[4]?.host, '2001:db8::7');
  });

  it('uses a full 32-byte ut_user whole, without running into ut_host', () => {
    assert.equal(records[6]?.user, 'abcdefghijklmnopqrstuvwxyz012345');
    assert.equal(records[6]?.host, 'h');
  });

  it('ignores a trailing partial record and accepts an empty file', () => {
    const bytes = readFixtureBytes('utmp-users.bin');
    assert.equal(parseUtmp(bytes.subarray(0, UTMP_RECORD_SIZE * 2 + 100)).length, 2);
    assert.deepEqual(parseUtmp(Buffer.alloc(0)), []);
  });
});

describe('guestUsersFromUtmp', () => {
  it('lists USER_PROCESS users once each, first-seen order, earliest login-time', () => {
    const users = guestUsersFromUtmp(parseUtmp(readFixtureBytes('utmp-users.bin')));
    // qemu-ga 7.2 itself, run with this file as /run/utmp (in a private mount namespace),
    // answered: alice 1700000050.000001, bob 1700000200.5, "abcdefghijklmnopqrstuvwxyz012345h"
    // 1700000300, root 1700000400.999999. The one difference is deliberate: qemu-ga strdup()s
    // the unterminated 32-byte ut_user and reads on into ut_host ("h"); we stop at the field end.
    assert.deepEqual(users, [
      { user: 'alice', 'login-time': 1700000050.000001 },
      { user: 'bob', 'login-time': 1700000200.5 },
      { user: 'abcdefghijklmnopqrstuvwxyz012345', 'login-time': 1700000300 },
      { user: 'root', 'login-time': 1700000400.999999 },
    ]);
  });

  it('gives [] when nobody is logged in', () => {
    assert.deepEqual(guestUsersFromUtmp([]), []);
  });

  it('computes login-time as tv_sec + tv_usec / 1e6 in double precision', () => {
    const base = parseUtmp(readFixtureBytes('utmp-users.bin'))[2];
    assert.ok(base);
    const users = guestUsersFromUtmp([{ ...base, tvSec: 1, tvUsec: 1 }]);
    assert.equal(users[0]?.['login-time'], 1 + 1 / 1e6);
  });
});
