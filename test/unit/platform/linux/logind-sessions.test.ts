import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  guestUsersFromLogindSessions,
  isUserLoginSession,
  parseLogindSession,
} from '../../../../src/platform/linux/logind-sessions';
import { fixturePath, readFixture } from './fixture';

// Hand-written session files in the format systemd-logind's session_save() writes.
describe('parseLogindSession', () => {
  it('reads the fields the users rule needs', () => {
    assert.deepEqual(parseLogindSession(readFixture('logind-sessions/3')), {
      user: 'alice',
      realtimeUsec: 1700000100250000n,
      state: 'active',
      class: 'user',
      type: 'tty',
      remote: false,
      tty: 'tty1',
      service: 'login',
    });
    assert.deepEqual(parseLogindSession(readFixture('logind-sessions/7')), {
      user: 'bob',
      realtimeUsec: 1700000200500000n,
      state: 'online',
      class: 'user',
      type: 'tty',
      remote: true,
      remoteHost: '192.0.2.10',
      tty: 'pts/0',
      service: 'sshd',
    });
  });

  it('ignores comments, lines without `=`, and a malformed REALTIME', () => {
    assert.deepEqual(parseLogindSession('# c\nnonsense\nUSER=x\nREALTIME=12ab\n'), { user: 'x' });
    assert.deepEqual(parseLogindSession(''), {});
  });
});

describe('isUserLoginSession', () => {
  it('counts user and user-* classes that are not closing', () => {
    assert.equal(isUserLoginSession({ class: 'user', state: 'active' }), true);
    assert.equal(isUserLoginSession({ class: 'user-early', state: 'online' }), true);
    assert.equal(isUserLoginSession({ class: 'user-light' }), true);
    assert.equal(isUserLoginSession({ class: 'user', state: 'closing' }), false);
    assert.equal(isUserLoginSession({ class: 'greeter', state: 'active' }), false);
    assert.equal(isUserLoginSession({ class: 'background', state: 'active' }), false);
    assert.equal(isUserLoginSession({ class: 'manager', state: 'active' }), false);
    assert.equal(isUserLoginSession({ class: 'username' }), false);
    assert.equal(isUserLoginSession({ state: 'active' }), false);
  });
});

describe('guestUsersFromLogindSessions', () => {
  it('turns the fixture directory into the list utmp would give', () => {
    const dir = fixturePath('logind-sessions');
    const sessions = fs.readdirSync(dir).sort().map((name) => parseLogindSession(fs.readFileSync(`${dir}/${name}`, 'utf8')));
    // 3: alice tty1 at …100.25; 7: bob ssh at …200.5; 9: alice again, earlier, at …050.000001;
    // c1: gdm greeter (not a login); 12: carol, closing (logged out); 15: cron (background);
    // 20: root ssh at …400.999999.
    assert.deepEqual(guestUsersFromLogindSessions(sessions), [
      { user: 'alice', 'login-time': 1700000050.000001 },
      { user: 'bob', 'login-time': 1700000200.5 },
      { user: 'root', 'login-time': 1700000400.999999 },
    ]);
  });

  it('skips sessions without USER or REALTIME, and orders by login time', () => {
    const users = guestUsersFromLogindSessions([
      { class: 'user', user: 'late', realtimeUsec: 2_000_000n },
      { class: 'user', user: 'early', realtimeUsec: 1_000_000n },
      { class: 'user', user: 'notime' },
      { class: 'user', realtimeUsec: 5n },
    ]);
    assert.deepEqual(users, [
      { user: 'early', 'login-time': 1 },
      { user: 'late', 'login-time': 2 },
    ]);
  });
});
