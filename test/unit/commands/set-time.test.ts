/**
 * guest-set-time with every system call faked: nothing here touches the real clock or RTC.
 * The validation texts were checked against Debian's qemu-ga 7.2 run without CAP_SYS_TIME
 * (so its settimeofday could only fail): `Invalid time` carries no errno suffix, the year is the
 * local one, and a negative timeval is refused by the kernel with EINVAL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSetTimeHandlers, localYearFromZone, type SetTimeDeps } from '../../../src/commands/set-time';
import type { CommandContext } from '../../../src/dispatch/command-context';
import { Errors } from '../../../src/protocol/errors';
import { createInjector } from '../../support/inject';

const ctx = {} as CommandContext;

interface Calls {
  setTimeOfDay: Array<[bigint, number]>;
  commands: Array<{ argv: readonly string[]; input: unknown; action: string }>;
  rtc: string[];
}

function fake(opts: {
  hwclock?: boolean;
  offsetSeconds?: number;
  adjtime?: string;
  setTimeOfDay?: (s: bigint, us: number) => void;
  rtcError?: object;
  runError?: Error;
  timeTBits?: 32 | 64;
} = {}): SetTimeDeps & { calls: Calls } {
  const calls: Calls = { setTimeOfDay: [], commands: [], rtc: [] };
  const rtc = (name: string) => async () => {
    calls.rtc.push(name);
    if (opts.rtcError) throw opts.rtcError;
    return 0;
  };
  return {
    calls,
    setTimeOfDay: (s, us) => {
      calls.setTimeOfDay.push([s, us]);
      opts.setTimeOfDay?.(s, us);
    },
    rtcSetFromSystem: rtc('system→rtc'),
    rtcReadToSystem: rtc('rtc→system'),
    isExecutable: async (p) => p === '/sbin/hwclock' && (opts.hwclock ?? true),
    runCommand: async (argv, input, action) => {
      calls.commands.push({ argv, input, action });
      if (opts.runError) throw opts.runError;
      return 0;
    },
    readFile: async (p) => {
      if (p === '/etc/adjtime' && opts.adjtime !== undefined) return Buffer.from(opts.adjtime);
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    localYear: async (s) => new Date((Number(s) + (opts.offsetSeconds ?? 0)) * 1000).getUTCFullYear(),
    timeTBits: opts.timeTBits ?? 64,
  };
}

const setTime = (d: SetTimeDeps, time?: bigint) => createSetTimeHandlers(d)['guest-set-time'](time === undefined ? {} : { time }, ctx);

describe('guest-set-time with a time', () => {
  it('sets the clock (seconds and microseconds, truncated), then runs /sbin/hwclock -w', async () => {
    const d = fake();
    await setTime(d, 1700000000123456789n);
    assert.deepEqual(d.calls.setTimeOfDay, [[1700000000n, 123456]]);
    assert.deepEqual(d.calls.commands, [{ argv: ['/sbin/hwclock', '-w'], input: null, action: 'set hardware clock to system time' }]);
    assert.deepEqual(d.calls.rtc, []);
  });

  it('answers {} on the wire', async () => {
    const inj = createInjector({ handlers: createSetTimeHandlers(fake()) });
    assert.equal(await inj.text('{"execute":"guest-set-time","arguments":{"time":1700000000000000000}}'), '{"return": {}}\n');
  });

  it('refuses years before 1970 and from 2070 on, in local time', async () => {
    const cases: Array<[bigint, number, string | null]> = [
      [3500000000000000000n, 0, 'Invalid time'], // 2080
      [-1000000000n, 0, 'Invalid time'], // 1969-12-31T23:59:59Z
      [9223372036854775807n, 0, 'Invalid time'],
      [-9223372036854775808n, 0, 'Invalid time'],
      [3155760000000000000n, 0, 'Invalid time'], // 2070-01-01T00:00:00Z
      [3155759999999999999n, 0, null],
      [3155760000000000000n, -18000, null], // still 2069 in New York
      [-1000000000n, 32400, 'Failed to set time to guest: Invalid argument'], // 1970 in Tokyo, but negative
      [-1500000000n, 32400, 'Failed to set time to guest: Invalid argument'],
    ];
    for (const [time, offsetSeconds, error] of cases) {
      const d = fake({ offsetSeconds });
      if (error === null) {
        await setTime(d, time);
        assert.equal(d.calls.setTimeOfDay.length, 1, String(time));
      } else {
        await assert.rejects(async () => setTime(d, time), { desc: error }, String(time));
        assert.deepEqual(d.calls.setTimeOfDay, [], String(time));
        assert.deepEqual(d.calls.commands, [], String(time));
      }
    }
  });

  it('says "too large" for times beyond a 32-bit time_t', async () => {
    await assert.rejects(async () => setTime(fake({ timeTBits: 32 }), 2147483648000000000n), { desc: 'Time 2147483648000000000 is too large' });
    await setTime(fake({ timeTBits: 32 }), 2147483647000000000n);
  });

  it("reports settimeofday's errno and leaves the RTC alone", async () => {
    const einval = fake({
      setTimeOfDay: () => {
        throw Object.assign(new Error('EINVAL'), { code: 'EINVAL', errno: 22, syscall: 'settimeofday' });
      },
    });
    const inj = createInjector({ handlers: createSetTimeHandlers(einval) });
    // recorded from qemu-ga 7.2 (reference §6.7): time 1 ns is before the boot time
    assert.equal(
      await inj.text('{"execute":"guest-set-time","arguments":{"time":1}}'),
      '{"error": {"class": "GenericError", "desc": "Failed to set time to guest: Invalid argument"}}\n',
    );
    assert.deepEqual(einval.calls.setTimeOfDay, [[0n, 0]]);
    assert.deepEqual(einval.calls.commands, []);
    const eperm = fake({
      setTimeOfDay: () => {
        throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
      },
    });
    await assert.rejects(async () => setTime(eperm, 1700000000000000000n), { desc: 'Failed to set time to guest: Operation not permitted' });
  });

  it('passes on the hwclock failure with ga_run_command texts', async () => {
    const failure = Errors.childProcessFailed('set hardware clock to system time', 'hwclock: ioctl(RTC_SET_TIME) to /dev/rtc0 to set the time failed: Invalid argument\n');
    await assert.rejects(async () => setTime(fake({ runError: failure }), 1700000000000000000n), {
      desc: 'child process has failed to set hardware clock to system time: hwclock: ioctl(RTC_SET_TIME) to /dev/rtc0 to set the time failed: Invalid argument\n',
    });
  });
});

describe('guest-set-time without a time', () => {
  it('runs /sbin/hwclock -s and nothing else', async () => {
    const d = fake();
    await setTime(d);
    assert.deepEqual(d.calls.setTimeOfDay, []);
    assert.deepEqual(d.calls.commands, [{ argv: ['/sbin/hwclock', '-s'], input: null, action: 'set hardware clock to system time' }]);
  });
});

describe('guest-set-time without /sbin/hwclock (beyond qemu-ga: the RTC ioctls)', () => {
  it('copies system → RTC after setting the time, and RTC → system without one', async () => {
    const withTime = fake({ hwclock: false });
    await setTime(withTime, 1700000000000000000n);
    assert.deepEqual(withTime.calls.rtc, ['system→rtc']);
    assert.deepEqual(withTime.calls.commands, []);
    const withoutTime = fake({ hwclock: false, adjtime: '0.0 0 0.0\n0\nUTC\n' });
    await setTime(withoutTime);
    assert.deepEqual(withoutTime.calls.rtc, ['rtc→system']);
  });

  it('refuses an RTC kept in local time, which only hwclock can handle', async () => {
    const d = fake({ hwclock: false, adjtime: '0.0 0 0.0\n0\nLOCAL\n' });
    await assert.rejects(async () => setTime(d, 1700000000000000000n), {
      desc: 'cannot set hardware clock to system time: the RTC keeps local time (/etc/adjtime) and /sbin/hwclock is missing',
    });
    assert.equal(d.calls.setTimeOfDay.length, 1, 'like upstream, the system time is already set');
    assert.deepEqual(d.calls.rtc, []);
  });

  it('names the failing RTC call', async () => {
    const noDevice = fake({ hwclock: false, rtcError: Object.assign(new Error('ENOENT'), { code: 'ENOENT', errno: 2, syscall: 'open', path: '/dev/rtc0' }) });
    await assert.rejects(async () => setTime(noDevice, 1700000000000000000n), {
      desc: 'cannot set hardware clock to system time: open("/dev/rtc0"): No such file or directory',
    });
    const noCap = fake({ hwclock: false, rtcError: Object.assign(new Error('EPERM'), { code: 'EPERM', errno: 1, syscall: 'settimeofday' }) });
    await assert.rejects(async () => setTime(noCap), { desc: 'cannot set hardware clock to system time: settimeofday(): Operation not permitted' });
    const ioctl = fake({ hwclock: false, rtcError: Object.assign(new Error('EINVAL'), { code: 'EINVAL', errno: 22, syscall: 'RTC_SET_TIME', path: '/dev/rtc0' }) });
    await assert.rejects(async () => setTime(ioctl, 1700000000000000000n), {
      desc: 'cannot set hardware clock to system time: RTC_SET_TIME("/dev/rtc0"): Invalid argument',
    });
  });
});

describe('localYearFromZone', () => {
  const noFiles = {
    readFile: async () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    readLink: async () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    isRegularFileNoFollow: async () => false,
    exists: async () => false,
  };

  it('reads the year in the TZ of the environment', async () => {
    const newYear2070 = 3155760000n;
    assert.equal(await localYearFromZone({ TZ: 'EST5' }, noFiles)(newYear2070), 2069);
    assert.equal(await localYearFromZone({ TZ: 'JST-9' }, noFiles)(-1n), 1970);
    assert.equal(await localYearFromZone({}, noFiles)(-1n), 1969);
  });
});
