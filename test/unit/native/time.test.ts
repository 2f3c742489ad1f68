/**
 * The clock calls. Nothing here sets this machine's clock or RTC: settimeofday and the RTC writers
 * are exercised only with invalid arguments, in a child process that lacks CAP_SYS_TIME, and the
 * RTC is only read.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_RTC_DEVICE } from '../../../src/native/native-helper';
import { BUILT_ADDON, FIXTURES, builtSkip, helper } from './native-test-support';

function commandWorks(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const caplessSkip: string | false =
  builtSkip || (commandWorks('setpriv', ['--bounding-set', '-sys_time', 'true']) ? false : 'needs setpriv to drop CAP_SYS_TIME');

test('settimeofday and the RTC writers refuse bad arguments before any syscall', { skip: caplessSkip }, () => {
  const out = execFileSync(
    'setpriv',
    ['--bounding-set', '-sys_time', '--inh-caps', '-sys_time', process.execPath, path.join(FIXTURES, 'time-argument-checks.js'), BUILT_ADDON],
    { encoding: 'utf8' },
  );
  const { outcomes } = JSON.parse(out) as { outcomes: Record<string, string> };
  assert.deepEqual(outcomes, {
    'settimeofday(string)': 'TypeError:ERR_INVALID_ARG_TYPE',
    'settimeofday(negative)': 'RangeError:ERR_OUT_OF_RANGE',
    'settimeofday(2^63)': 'RangeError:ERR_OUT_OF_RANGE',
    'settimeofday(fraction)': 'RangeError:ERR_OUT_OF_RANGE',
    'settimeofday(NaN)': 'RangeError:ERR_OUT_OF_RANGE',
    'settimeofday(usec 1e6)': 'RangeError:ERR_OUT_OF_RANGE',
    'settimeofday(usec -1)': 'RangeError:ERR_OUT_OF_RANGE',
    'settimeofday(usec bigint)': 'TypeError:ERR_INVALID_ARG_TYPE',
    'settimeofday(no usec)': 'TypeError:ERR_INVALID_ARG_TYPE',
    'settimeofday()': 'TypeError:ERR_INVALID_ARG_TYPE',
    'rtcSetFromSystem(number)': 'TypeError:ERR_INVALID_ARG_TYPE',
    'rtcSetFromSystem(empty)': 'TypeError:ERR_INVALID_ARG_VALUE',
    'rtcSetFromSystem(NUL)': 'TypeError:ERR_INVALID_ARG_VALUE',
    'rtcSetFromSystem()': 'TypeError:ERR_INVALID_ARG_TYPE',
    'rtcReadToSystem(number)': 'TypeError:ERR_INVALID_ARG_TYPE',
    'rtcReadToSystem(NUL)': 'TypeError:ERR_INVALID_ARG_VALUE',
  });
});

test('rtcRead reads the RTC as UTC when there is one, else rejects from open()', { skip: builtSkip }, async (t) => {
  const native = helper();
  if (fs.existsSync(DEFAULT_RTC_DEVICE)) {
    const seconds = await native.rtcRead();
    assert.ok(Number.isInteger(seconds) && seconds > 0, String(seconds));
    t.diagnostic(`RTC - system clock = ${seconds - Math.round(Date.now() / 1000)} s`);
  } else {
    await assert.rejects(native.rtcRead(), { code: 'ENOENT', syscall: 'open', path: DEFAULT_RTC_DEVICE });
  }
});

test('rtcRead of a device that is no RTC rejects ENOTTY from RTC_RD_TIME', { skip: builtSkip }, async () => {
  await assert.rejects(helper().rtcRead('/dev/null'), {
    code: 'ENOTTY',
    errno: os.constants.errno.ENOTTY,
    syscall: 'RTC_RD_TIME',
    path: '/dev/null',
    message: "ENOTTY: Inappropriate ioctl for device, RTC_RD_TIME '/dev/null'",
  });
});

test('getloadavg agrees with /proc/loadavg', { skip: builtSkip }, () => {
  for (let attempt = 0; ; attempt++) {
    const before = fs.readFileSync('/proc/loadavg', 'utf8');
    const loads = helper().getloadavg();
    const after = fs.readFileSync('/proc/loadavg', 'utf8');
    if (before !== after && attempt < 10) continue;
    const expected = after.split(' ').slice(0, 3).map(Number);
    assert.equal(loads.length, 3);
    // /proc prints two decimals of the kernel's fixed-point value; glibc parses the same text.
    loads.forEach((load, i) => assert.ok(Math.abs(load - expected[i]!) < 0.006, `${load} vs ${expected[i]}`));
    return;
  }
});

test('clkTck equals getconf CLK_TCK', { skip: builtSkip }, () => {
  assert.equal(helper().clkTck(), Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()));
});
