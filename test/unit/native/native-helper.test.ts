import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  NATIVE_COMMANDS,
  commandsDisabledWithoutNative,
  defaultNativeCandidates,
  isNativeErrnoError,
  loadNativeHelper,
} from '../../../src/native/native-helper';
import { BUILT_ADDON, FIXTURES, REPO_ROOT, builtSkip } from './native-test-support';

function recordingLogger() {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (msg: string) => void warnings.push(msg) } };
}

test('a missing candidate gives available:false with the reason, logged once', () => {
  const { warnings, logger } = recordingLogger();
  const missing = '/nonexistent/qga_native.node';
  const result = loadNativeHelper({ candidates: [missing], logger });
  assert.equal(result.available, false);
  assert.ok(!result.available);
  assert.equal(result.reason, `${missing}: not found`);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /native helper unavailable \(\/nonexistent\/qga_native\.node: not found\)/);
  assert.match(warnings[0]!, /guest-fsfreeze-freeze/);
});

test('a file that is not a shared object is refused by dlopen, not thrown', () => {
  const bad = path.join(FIXTURES, 'not-an-addon.node');
  const result = loadNativeHelper({ candidates: [bad] });
  assert.ok(!result.available);
  assert.match(result.reason, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*(invalid ELF header|file too short)`));
});

test('every failed candidate is named in the reason', () => {
  const result = loadNativeHelper({ candidates: ['/nonexistent/a.node', path.join(FIXTURES, 'not-an-addon.node')] });
  assert.ok(!result.available);
  assert.match(result.reason, /^\/nonexistent\/a\.node: not found; .*not-an-addon\.node: /);
});

test('no candidates at all', () => {
  const result = loadNativeHelper({ candidates: [] });
  assert.deepEqual(result, { available: false, reason: 'no candidate paths given' });
});

test('a stale or foreign addon is refused by its ABI version and exports', () => {
  const existing = path.join(FIXTURES, 'not-an-addon.node');
  const loadWith = (exports: unknown) =>
    loadNativeHelper({
      candidates: [existing],
      dlopen: (module) => {
        module.exports = exports;
      },
    });
  const stale = loadWith({ abiVersion: 0 });
  assert.ok(!stale.available);
  assert.match(stale.reason, /abiVersion 0, expected 3 \(stale build\? run node-gyp rebuild\)/);

  const partial = loadWith({ abiVersion: 3, statvfs: () => undefined });
  assert.ok(!partial.available);
  assert.match(partial.reason, /missing exports: fsfreeze, fsthaw, fstrim/);

  const exportsOf = (names: string[]) => Object.fromEntries(names.map((n) => [n, () => undefined]));
  const complete = {
    abiVersion: 3,
    POLL_READABLE: 1,
    POLL_WRITABLE: 2,
    POLL_DISCONNECT: 4,
    EAGAIN: 11,
    EINTR: 4,
    ...exportsOf(['statvfs', 'fsfreeze', 'fsthaw', 'fstrim', 'settimeofday', 'rtcRead', 'rtcSetFromSystem', 'rtcReadToSystem']),
    ...exportsOf(['vsockListen', 'vsockAccept', 'watchFd', 'getloadavg', 'sysconfClkTck', 'readInto', 'writeBytes', 'writeLatin1', 'setV8Flags']),
  };
  assert.ok(loadWith(complete).available);
  const noFdIo = loadWith({ ...complete, writeLatin1: undefined });
  assert.ok(!noFdIo.available);
  assert.match(noFdIo.reason, /missing exports: writeLatin1$/);
  // The channels compare readInto's results with EAGAIN/EINTR: a build that disagrees is refused.
  const otherErrno = loadWith({ ...complete, EAGAIN: 35 });
  assert.ok(!otherErrno.available);
  assert.match(otherErrno.reason, /errno constants differ/);

  const nothing = loadWith(null);
  assert.ok(!nothing.available);
  assert.match(nothing.reason, /exports is not an object/);
});

test('a dlopen that throws a non-Error, and a logger that throws, still do not throw', () => {
  const result = loadNativeHelper({
    candidates: [path.join(FIXTURES, 'not-an-addon.node')],
    dlopen: () => {
      throw 'boom';
    },
    logger: {
      warn: () => {
        throw new Error('logger down');
      },
    },
  });
  assert.ok(!result.available);
  assert.match(result.reason, /: boom$/);
});

test('the first loadable candidate wins', { skip: builtSkip }, async () => {
  const { warnings, logger } = recordingLogger();
  const result = loadNativeHelper({ candidates: ['/nonexistent/qga_native.node', BUILT_ADDON], logger });
  assert.ok(result.available);
  assert.equal(result.loadedFrom, BUILT_ADDON);
  assert.deepEqual(warnings, []);
  // Loading the same addon a second time (another env or a second facade) works too.
  const again = loadNativeHelper({ candidates: [BUILT_ADDON] });
  assert.ok(again.available);
  assert.equal((await again.statvfs('/')).f_fsid, (await result.statvfs('/')).f_fsid);
});

test('default candidates point at <repo>/build/Release from both src/ and dist/src/', () => {
  const expected = path.join(REPO_ROOT, 'build', 'Release', 'qga_native.node');
  assert.ok(defaultNativeCandidates(path.join(REPO_ROOT, 'src', 'native')).includes(expected));
  assert.ok(defaultNativeCandidates(path.join(REPO_ROOT, 'dist', 'src', 'native')).includes(expected));
  assert.ok(defaultNativeCandidates().includes(expected));
});

test('the commands that need the helper are reported disabled only without it', () => {
  assert.deepEqual(commandsDisabledWithoutNative({ available: false, reason: 'x' }), [
    'guest-get-statvfs',
    'guest-fsfreeze-freeze',
    'guest-fsfreeze-freeze-list',
    'guest-fsfreeze-thaw',
    'guest-fstrim',
    'guest-set-time',
  ]);
  assert.equal(commandsDisabledWithoutNative({ available: false, reason: 'x' }), NATIVE_COMMANDS);
});

test('isNativeErrnoError recognises errno errors only', () => {
  assert.ok(isNativeErrnoError(Object.assign(new Error('x'), { code: 'EBUSY', errno: 16, syscall: 'FIFREEZE' })));
  assert.ok(!isNativeErrnoError(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' })));
  assert.ok(!isNativeErrnoError({ code: 'EBUSY', errno: 16, syscall: 'FIFREEZE' }));
});
