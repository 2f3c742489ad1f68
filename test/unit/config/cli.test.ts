// Expected texts come from Debian's qemu-ga 7.2.22 (run with -D, bad options and bad config files)
// unless a comment says otherwise; upstream 10.2 differs from 7.2 here only by -c/-a and the
// allow-rpcs line at the end of -D, which 7.2 does not have.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AgentConfig } from '../../../src/config/agent-config';
import {
  CommandLineOutcome,
  Environment,
  ParseContext,
  parseCommandLine,
  ReadConfigFile,
} from '../../../src/config/cli';
import { parseKeyFile } from '../../../src/config/keyfile';
import { readConfigFixture } from './fixture';

const L = '\u201c';
const R = '\u201d';

type FakeFile = string | Uint8Array | { readonly errno: string };

function fakeReadFile(files: Readonly<Record<string, FakeFile>>): ReadConfigFile {
  return (path) => {
    const file = files[path];
    if (file === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    if (typeof file === 'object' && 'errno' in file) {
      throw Object.assign(new Error(`${file.errno}: ${path}`), { code: file.errno });
    }
    return file;
  };
}

const COMMANDS = ['guest-sync-delimited', 'guest-sync', 'guest-ping', 'guest-get-time', 'guest-info'];
const CONTEXT: ParseContext = { ownVersion: '0.1.0', qemuCompatVersion: '10.2.0', commandNames: COMMANDS };

interface ParseOptions {
  readonly env?: Environment;
  readonly files?: Readonly<Record<string, FakeFile>>;
  readonly context?: Partial<ParseContext>;
}

const parse = (args: string[], options: ParseOptions = {}): CommandLineOutcome =>
  parseCommandLine(['qemu-ga', ...args], options.env ?? {}, fakeReadFile(options.files ?? {}), {
    ...CONTEXT,
    ...options.context,
  });

function configOf(args: string[], options: ParseOptions = {}): AgentConfig {
  const outcome = parse(args, options);
  if (outcome.kind !== 'run') assert.fail(`expected to run, got ${JSON.stringify(outcome)}`);
  assert.equal(outcome.stderr, '');
  return outcome.config;
}

function exitOf(args: string[], options: ParseOptions = {}): { code: number; stdout: string; stderr: string } {
  const outcome = parse(args, options);
  if (outcome.kind !== 'exit') assert.fail(`expected an exit, got ${JSON.stringify(outcome)}`);
  return { code: outcome.code, stdout: outcome.stdout, stderr: outcome.stderr };
}

/** A conf file as QGA_CONF, so a test states only its content. */
const withConf = (content: FakeFile, more: ParseOptions = {}): ParseOptions => ({
  ...more,
  env: { QGA_CONF: '/etc/test.conf', ...more.env },
  files: { '/etc/test.conf': content, ...more.files },
});

const critical = (message: string): string => `critical: ${message}\n`;
const loadFailure = (path: string, reason: string): string =>
  critical(`error loading configuration from path: ${path}, ${reason}`);
const UNKNOWN_HINT = "Unknown option, try 'qemu-ga --help' for more information.\n";

/** 7.2's -D output plus the line upstream 8.1+ adds. */
const dumpOf72 = (fixture: string): string => `${readConfigFixture(fixture)}allow-rpcs=\n`;

describe('defaults', () => {
  it('runs with qemu-ga defaults when the default config file is missing', () => {
    assert.deepEqual(configOf([]), {
      daemonize: false,
      method: 'virtio-serial',
      paths: ['/dev/virtio-ports/org.qemu.guest_agent.0'],
      pidfile: '/var/run/qemu-ga.pid',
      statedir: '/var/run',
      verbose: false,
      retryPath: false,
      blockRpcs: [],
      allowRpcs: [],
      freezeTimeoutSeconds: 0,
      dumpConf: false,
      configPath: '/etc/qemu/qemu-ga.conf',
    });
  });

  it('returns a frozen config', () => {
    const config = configOf(['-b', 'guest-ping']);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.paths));
    assert.ok(Object.isFrozen(config.blockRpcs));
    assert.ok(Object.isFrozen(config.allowRpcs));
  });

  it('dumps the defaults exactly as qemu-ga does', () => {
    assert.deepEqual(exitOf(['-D']), { code: 0, stdout: dumpOf72('qemu-ga-7.2-dump-defaults.txt'), stderr: '' });
  });
});

describe('every option, short and long', () => {
  const cases: Array<[string[], Partial<AgentConfig>]> = [
    [['-d'], { daemonize: true }],
    [['--daemonize'], { daemonize: true }],
    [['-v'], { verbose: true }],
    [['--verbose'], { verbose: true }],
    [['-r'], { retryPath: true }],
    [['--retry-path'], { retryPath: true }],
    [['-m', 'isa-serial'], { method: 'isa-serial', paths: ['/dev/ttyS0'] }],
    [['--method=isa-serial'], { method: 'isa-serial', paths: ['/dev/ttyS0'] }],
    [['--method', 'unix-listen', '-p', '/run/s'], { method: 'unix-listen', paths: ['/run/s'] }],
    [['-m', 'vsock-listen', '--path=3:1234'], { method: 'vsock-listen', paths: ['3:1234'] }],
    [['-p/dev/vport0p1'], { paths: ['/dev/vport0p1'] }],
    [['--path', '/dev/vport0p1'], { paths: ['/dev/vport0p1'] }],
    [['-l', '/var/log/qga.log'], { logfile: '/var/log/qga.log' }],
    [['--logfile=/var/log/qga.log'], { logfile: '/var/log/qga.log' }],
    [['-f', '/run/qga.pid'], { pidfile: '/run/qga.pid' }],
    [['--pidfile', '/run/qga.pid'], { pidfile: '/run/qga.pid' }],
    [['-t', '/var/lib/qga'], { statedir: '/var/lib/qga' }],
    [['--statedir=/var/lib/qga'], { statedir: '/var/lib/qga' }],
    [['-b', 'guest-ping'], { blockRpcs: ['guest-ping'] }],
    [['--block-rpcs=guest-ping'], { blockRpcs: ['guest-ping'] }],
    [['-a', 'guest-ping'], { allowRpcs: ['guest-ping'] }],
    [['--allow-rpcs', 'guest-ping'], { allowRpcs: ['guest-ping'] }],
    [['-F'], { fsfreezeHook: '/etc/qemu/fsfreeze-hook' }],
    [['-F/usr/local/hook'], { fsfreezeHook: '/usr/local/hook' }],
    [['--fsfreeze-hook'], { fsfreezeHook: '/etc/qemu/fsfreeze-hook' }],
    [['--fsfreeze-hook=/usr/local/hook'], { fsfreezeHook: '/usr/local/hook' }],
    [['--fsfreeze-hook='], { fsfreezeHook: '' }],
    [['--freeze-timeout=30'], { freezeTimeoutSeconds: 30 }],
    [['--freeze-timeout', '0'], { freezeTimeoutSeconds: 0 }],
    [['-vdr'], { verbose: true, daemonize: true, retryPath: true }],
    [['-vpfoo'], { verbose: true, paths: ['foo'] }],
    [['--dae', '--verb', '--ret'], { daemonize: true, verbose: true, retryPath: true }],
    // -s is Windows' service control: Linux qemu-ga takes its argument and ignores it.
    [['-s', 'install'], {}],
  ];
  for (const [args, expected] of cases) {
    it(args.join(' '), () => {
      const config = configOf(args);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(config[key as keyof AgentConfig], value, key);
      }
    });
  }

  it('leaves a spaced -F argument as an ignored operand', () => {
    const config = configOf(['-F', '/usr/local/hook']);
    assert.equal(config.fsfreezeHook, '/etc/qemu/fsfreeze-hook');
  });

  it('does not enable a hook without -F or the config key', () => {
    assert.equal(configOf([]).fsfreezeHook, undefined);
  });

  it('ignores operands, and everything after --', () => {
    assert.equal(configOf(['foo', '-v', 'bar', '--', '-d']).daemonize, false);
    assert.equal(configOf(['foo', '-v']).verbose, true);
  });

  it('stops at the first operand under POSIXLY_CORRECT', () => {
    assert.equal(configOf(['foo', '-v'], { env: { POSIXLY_CORRECT: '1' } }).verbose, false);
  });
});

describe('block and allow lists', () => {
  it('splits on commas, reverses each argument and appends arguments in order', () => {
    assert.deepEqual(configOf(['-b', 'guest-ping,guest-info', '-b', 'guest-exec']).blockRpcs, [
      'guest-info', 'guest-ping', 'guest-exec',
    ]);
    assert.deepEqual(configOf(['-a', 'a,b', '--allow-rpcs=c,d']).allowRpcs, ['b', 'a', 'd', 'c']);
  });

  it('puts the config file list first', () => {
    const options = withConf('[general]\nblock-rpcs=a,b\nallow-rpcs=x,y\n');
    const config = configOf(['-b', 'c,d', '-b', 'e', '-a', 'z'], options);
    assert.deepEqual(config.blockRpcs, ['b', 'a', 'd', 'c', 'e']);
    assert.deepEqual(config.allowRpcs, ['y', 'x', 'z']);
  });

  it('keeps empty names; an empty argument adds nothing', () => {
    assert.deepEqual(configOf(['-b', 'a,,b,', '-b', 'c']).blockRpcs, ['', 'b', '', 'a', 'c']);
    assert.deepEqual(configOf(['-b', '']).blockRpcs, []);
    assert.deepEqual(configOf(['-a', ',']).allowRpcs, ['', '']);
    assert.match(exitOf(['-D', '-b', 'a,,b,', '-b', 'c']).stdout, /^block-rpcs=,b,,a,c$/m);
  });

  it('takes help only as the whole argument', () => {
    assert.deepEqual(configOf(['-b', 'help,x']).blockRpcs, ['x', 'help']);
  });

  it('dumps the §6.7 example like qemu-ga', () => {
    const args = ['-D', '-b', 'guest-ping,guest-info', '-b', 'guest-exec', '-m', 'unix-listen', '-p', '/tmp/x.sock', '-F', '-r'];
    assert.deepEqual(exitOf(args), {
      code: 0,
      stdout: dumpOf72('qemu-ga-7.2-dump-block-list-example.txt'),
      stderr: '',
    });
  });
});

describe('-b help, -a help, -h, -V', () => {
  const listing = COMMANDS.map((name) => `${name}\n`).join('');

  for (const args of [['-b', 'help'], ['--block-rpcs=help'], ['-a', 'help'], ['--allow-rpcs', '?'], ['-b?']]) {
    it(`${args.join(' ')} lists every command in registration order`, () => {
      assert.deepEqual(exitOf(args), { code: 0, stdout: listing, stderr: '' });
    });
  }

  it('-V prints our version and the qemu-ga level we follow', () => {
    for (const flag of ['-V', '--version']) {
      assert.deepEqual(exitOf([flag]), {
        code: 0,
        stdout: 'qga-ts 0.1.0 (QEMU Guest Agent 10.2.0 compatible)\n',
        stderr: '',
      });
    }
  });

  it('-h prints a usage covering every option and extension', () => {
    for (const flag of ['-h', '--help']) {
      const { code, stdout, stderr } = exitOf([flag]);
      assert.equal(code, 0);
      assert.equal(stderr, '');
      assert.ok(stdout.startsWith('Usage: qemu-ga [-m <method> -p <path>] [<options>]\n'));
      assert.ok(stdout.includes('qga-ts 0.1.0 (QEMU Guest Agent 10.2.0 compatible)'));
      for (const option of ['-c, --config', '-m, --method', '-p, --path', '-l, --logfile', '-f, --pidfile',
        '-F, --fsfreeze-hook', '-t, --statedir', '-v, --verbose', '-V, --version', '-d, --daemonize',
        '-b, --block-rpcs', '-a, --allow-rpcs', '-D, --dump-conf', '-r, --retry-path', '-h, --help',
        '--freeze-timeout', 'more than once', 'QGA_CONF', '/etc/qemu/qemu-ga.conf',
        '/dev/virtio-ports/org.qemu.guest_agent.0', '/dev/ttyS0', '/var/run/qemu-ga.pid',
        '/etc/qemu/fsfreeze-hook', '/var/run)', 'blacklist']) {
        assert.ok(stdout.includes(option), option);
      }
      for (const line of stdout.split('\n')) assert.ok(line.length <= 79, line);
    }
  });

  it('acts on whichever of them comes first', () => {
    assert.equal(exitOf(['-h', '-V']).stdout.startsWith('Usage:'), true);
    assert.equal(exitOf(['-V', '-x']).code, 0);
    assert.equal(exitOf(['-x', '-h']).code, 1);
    assert.equal(exitOf(['-b', 'help', '-x']).stdout, listing);
    assert.equal(exitOf(['-D', '-h']).stdout.startsWith('Usage:'), true);
  });
});

describe('command-line errors', () => {
  const cases: Array<[string[], string]> = [
    [['-x'], "qemu-ga: invalid option -- 'x'\n"],
    [['--xyz=3'], "qemu-ga: unrecognized option '--xyz=3'\n"],
    [['-p'], "qemu-ga: option requires an argument -- 'p'\n"],
    [['--path'], "qemu-ga: option '--path' requires an argument\n"],
    [['--help=3'], "qemu-ga: option '--help' doesn't allow an argument\n"],
    [['-D', '--dump-conf=1'], "qemu-ga: option '--dump-conf' doesn't allow an argument\n"],
    [['--ver'], "qemu-ga: option '--ver' is ambiguous; possibilities: '--version' '--verbose'\n"],
    [['-D', '-W', 'foo'], "qemu-ga: invalid option -- 'W'\n"],
    [['--service=install'], "qemu-ga: unrecognized option '--service=install'\n"],
    [['--freeze'], "qemu-ga: unrecognized option '--freeze'\n"],
  ];
  for (const [args, stderr] of cases) {
    it(args.join(' '), () => {
      assert.deepEqual(exitOf(args), { code: 1, stdout: UNKNOWN_HINT, stderr });
    });
  }

  it('names argv[0] as given', () => {
    const outcome = parseCommandLine(['/usr/sbin/qga-ts', '-x'], {}, fakeReadFile({}), CONTEXT);
    assert.deepEqual(outcome, {
      kind: 'exit',
      code: 1,
      stdout: "Unknown option, try '/usr/sbin/qga-ts --help' for more information.\n",
      stderr: "/usr/sbin/qga-ts: invalid option -- 'x'\n",
    });
  });

  it('reports only the first error, once', () => {
    assert.equal(exitOf(['-x', '-y', '--zz']).stderr, "qemu-ga: invalid option -- 'x'\n");
  });

  it('loads the config file before reporting option errors (upstream parses twice)', () => {
    assert.deepEqual(exitOf(['-x', '-c', '/missing.conf']), {
      code: 1,
      stdout: '',
      stderr: loadFailure('/missing.conf', 'No such file or directory'),
    });
  });

  it('rejects a bad --freeze-timeout', () => {
    for (const value of ['abc', '-1', '1.5', ' 5', '', '2147483648']) {
      assert.deepEqual(exitOf([`--freeze-timeout=${value}`]), {
        code: 1,
        stdout: '',
        stderr: critical(
          `invalid --freeze-timeout value '${value}': expected a whole number of seconds from 0 to 2147483647`,
        ),
      });
    }
    assert.equal(configOf(['--freeze-timeout=2147483647']).freezeTimeoutSeconds, 2147483647);
  });
});

describe('config file location and precedence', () => {
  it('reads /etc/qemu/qemu-ga.conf by default', () => {
    const config = configOf([], { files: { '/etc/qemu/qemu-ga.conf': '[general]\nverbose=true\n' } });
    assert.equal(config.verbose, true);
    assert.equal(config.configPath, '/etc/qemu/qemu-ga.conf');
  });

  it('prefers QGA_CONF, and ignores it silently when missing', () => {
    const files = {
      '/etc/qemu/qemu-ga.conf': '[general]\nverbose=true\n',
      '/alt.conf': '[general]\ndaemon=true\n',
    };
    const alt = configOf([], { env: { QGA_CONF: '/alt.conf' }, files });
    assert.equal(alt.daemonize, true);
    assert.equal(alt.verbose, false);
    assert.equal(alt.configPath, '/alt.conf');
    const missing = configOf([], { env: { QGA_CONF: '/nowhere.conf' }, files });
    assert.equal(missing.verbose, false);
    assert.equal(missing.configPath, '/nowhere.conf');
    // An empty QGA_CONF still counts as set (GLib then fails to open "", silently).
    assert.equal(configOf([], { env: { QGA_CONF: '' }, files }).verbose, false);
  });

  it('prefers -c/--config over QGA_CONF; the last one wins; the file must exist', () => {
    const files = { '/a.conf': '[general]\nmethod=isa-serial\n', '/b.conf': '[general]\nverbose=true\n' };
    const env = { QGA_CONF: '/a.conf' };
    assert.equal(configOf(['-c', '/b.conf'], { env, files }).verbose, true);
    assert.equal(configOf(['-c', '/b.conf'], { env, files }).method, 'virtio-serial');
    assert.equal(configOf(['--config=/b.conf', '-c/a.conf'], { files }).method, 'isa-serial');
    assert.equal(configOf(['--conf', '/b.conf'], { files }).configPath, '/b.conf');
    assert.deepEqual(exitOf(['-c', '/missing.conf'], { files }), {
      code: 1,
      stdout: '',
      stderr: loadFailure('/missing.conf', 'No such file or directory'),
    });
  });

  it('fails on any other read error, even for the default file', () => {
    assert.equal(
      exitOf([], { files: { '/etc/qemu/qemu-ga.conf': { errno: 'EACCES' } } }).stderr,
      loadFailure('/etc/qemu/qemu-ga.conf', 'Permission denied'),
    );
    assert.equal(
      exitOf([], withConf({ errno: 'EISDIR' })).stderr,
      loadFailure('/etc/test.conf', 'Not a regular file'),
    );
    assert.equal(
      exitOf([], withConf({ errno: 'ENOTREG' })).stderr,
      loadFailure('/etc/test.conf', 'Not a regular file'),
    );
  });

  it('lets command-line scalars override the file', () => {
    const options = withConf(
      '[general]\nmethod=unix-listen\npath=/conf.sock\nlogfile=/conf.log\npidfile=/conf.pid\n' +
        'fsfreeze-hook=/conf-hook\nstatedir=/conf-state\nfreeze-timeout=10\n',
    );
    const config = configOf(
      ['-m', 'isa-serial', '-p', '/dev/ttyS1', '-l', '/cli.log', '-f', '/cli.pid', '-F', '-t', '/cli-state', '--freeze-timeout=20'],
      options,
    );
    assert.equal(config.method, 'isa-serial');
    assert.deepEqual(config.paths, ['/dev/ttyS1']);
    assert.equal(config.logfile, '/cli.log');
    assert.equal(config.pidfile, '/cli.pid');
    assert.equal(config.fsfreezeHook, '/etc/qemu/fsfreeze-hook');
    assert.equal(config.statedir, '/cli-state');
    assert.equal(config.freezeTimeoutSeconds, 20);
  });

  it('reads every key, and a method change keeps the file path', () => {
    const options = withConf(
      '[general]\ndaemon=1\nmethod=unix-listen\npath=/conf.sock\nlogfile=/conf.log\npidfile=/conf.pid\n' +
        'fsfreeze-hook=/conf-hook\nstatedir=/conf-state\nverbose=true\nretry-path=true\nfreeze-timeout=10\n',
    );
    const config = configOf(['-m', 'vsock-listen'], options);
    assert.deepEqual(config, {
      daemonize: true,
      method: 'vsock-listen',
      paths: ['/conf.sock'],
      logfile: '/conf.log',
      pidfile: '/conf.pid',
      fsfreezeHook: '/conf-hook',
      statedir: '/conf-state',
      verbose: true,
      retryPath: true,
      blockRpcs: [],
      allowRpcs: [],
      freezeTimeoutSeconds: 10,
      dumpConf: false,
      configPath: '/etc/test.conf',
    });
  });

  it('cannot switch flags set by the file back off', () => {
    const config = configOf([], withConf('[general]\ndaemon=true\nverbose=true\nretry-path=true\n'));
    assert.equal(config.daemonize && config.verbose && config.retryPath, true);
  });

  it('ignores unknown keys, other groups and translations silently', () => {
    const options = withConf('[other]\nmethod=tcp\n[general]\nfoo=bar\nmethod[de]=tcp\ndebug=true\n');
    assert.equal(configOf([], options).method, 'virtio-serial');
  });

  it('takes bytes or text from the reader', () => {
    const text = '[general]\nlogfile=/var/log/é.log\n';
    assert.equal(configOf([], withConf(text)).logfile, '/var/log/é.log');
    assert.equal(configOf([], withConf(Buffer.from(text))).logfile, '/var/log/é.log');
  });
});

describe('config file errors', () => {
  const cases: Array<[string | Uint8Array, string]> = [
    ['garbage\n', `Key file contains line ${L}garbage${R} which is not a key-value pair, group, or comment`],
    ['daemon=true\n[general]\n', 'Key file does not start with a group'],
    ['[]\n', 'Invalid group name: '],
    ['[general]\nmeth[od=1\n', 'Invalid key name: meth[od'],
    ['[general]\nEncoding=latin1\n', `Key file contains unsupported encoding ${L}latin1${R}`],
    ['[general]\ndaemon=yes\n', `Key file contains key ${L}daemon${R} which has a value that cannot be interpreted.`],
    ['[general]\ndaemon=\n', `Key file contains key ${L}daemon${R} which has a value that cannot be interpreted.`],
    ['[general]\ndaemon=TRUE\n', `Key file contains key ${L}daemon${R} which has a value that cannot be interpreted.`],
    ['[general]\nverbose=on\n', `Key file contains key ${L}verbose${R} which has a value that cannot be interpreted.`],
    ['[general]\nretry-path=2\n', `Key file contains key ${L}retry-path${R} which has a value that cannot be interpreted.`],
    ['[general]\nmethod=a\\qb\n', `Key file contains key ${L}method${R} which has a value that cannot be interpreted.`],
    ['[general]\nmethod=ab\\\n', `Key file contains key ${L}method${R} which has a value that cannot be interpreted.`],
    [Buffer.from('[general]\nmethod=a\xffb\n', 'latin1'), `Key file contains key ${L}method${R} with value ${L}a\ufffdb${R} which is not UTF-8`],
    // qemu-ga reads keys in its own order and reports the first failure (daemon before verbose).
    ['[general]\nverbose=bad\ndaemon=bad\n', `Key file contains key ${L}daemon${R} which has a value that cannot be interpreted.`],
    // freeze-timeout is ours; its errors are GLib's integer wording.
    ['[general]\nfreeze-timeout=soon\n', `Key file contains key ${L}freeze-timeout${R} in group ${L}general${R} which has a value that cannot be interpreted.`],
    ['[general]\nfreeze-timeout=-1\n', `Key file contains key ${L}freeze-timeout${R} in group ${L}general${R} which has a value that cannot be interpreted.`],
  ];
  for (const [content, reason] of cases) {
    it(JSON.stringify(typeof content === 'string' ? content : Buffer.from(content).toString('latin1')), () => {
      assert.deepEqual(exitOf(['-D'], withConf(content)), {
        code: 1,
        stdout: '',
        stderr: loadFailure('/etc/test.conf', reason),
      });
    });
  }

  it('fails even for -h, since the file is read first', () => {
    assert.equal(exitOf(['-h'], withConf('garbage\n')).code, 1);
  });
});

describe('the deprecated blacklist key', () => {
  const warning = "warning: config using deprecated 'blacklist' key, should be replaced with the 'block-rpcs' key.\n";

  it('is read as block-rpcs, with a warning', () => {
    const options = withConf(readConfigFixture('blacklist.conf'));
    assert.deepEqual(exitOf(['-D'], options), {
      code: 0,
      stdout: dumpOf72('qemu-ga-7.2-dump-blacklist.txt'),
      stderr: warning,
    });
    const outcome = parse([], options);
    assert.equal(outcome.kind, 'run');
    assert.equal(outcome.stderr, warning);
    assert.deepEqual(outcome.kind === 'run' && outcome.config.blockRpcs, ['guest-exec', 'guest-ping']);
  });

  it('replaces block-rpcs when both are present, as in 7.2', () => {
    const outcome = parse(['-b', 'd'], withConf('[general]\nblock-rpcs=c\nblacklist=a,b\n'));
    assert.deepEqual(outcome.kind === 'run' && outcome.config.blockRpcs, ['b', 'a', 'd']);
  });

  it('warns before a later fatal error', () => {
    assert.equal(
      exitOf([], withConf('[general]\nblacklist=a\nallow-rpcs=\\q\n')).stderr,
      warning + loadFailure('/etc/test.conf', `Key file contains key ${L}allow-rpcs${R} which has a value that cannot be interpreted.`),
    );
  });
});

describe('-D, --dump-conf', () => {
  it('passes upstream /qga/config: stderr empty, [general] first, values as loaded', () => {
    // The upstream test runs `qemu-ga -D` with only QGA_CONF in the environment.
    const options: ParseOptions = {
      env: { QGA_CONF: 'tests/data/test-qga-config' },
      files: { 'tests/data/test-qga-config': readConfigFixture('test-qga-config.conf') },
    };
    const { code, stdout, stderr } = exitOf(['-D'], options);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.equal(stdout, dumpOf72('qemu-ga-7.2-dump-test-qga-config.txt'));

    const dumped = parseKeyFile(stdout);
    assert.equal(dumped.groupNames()[0], 'general');
    assert.equal(dumped.getBoolean('general', 'daemon'), false);
    assert.equal(dumped.getString('general', 'method'), 'virtio-serial');
    assert.equal(dumped.getString('general', 'path'), '/path/to/org.qemu.guest_agent.0');
    assert.equal(dumped.getString('general', 'pidfile'), '/var/foo/qemu-ga.pid');
    assert.equal(dumped.getString('general', 'statedir'), '/var/state');
    assert.equal(dumped.getBoolean('general', 'verbose'), true);
    // Read back as a GLib string list (;-separated) it has the two names the test expects.
    assert.deepEqual(dumped.getString('general', 'block-rpcs').split(';'), ['guest-ping', 'guest-get-time']);
  });

  it('keeps that list as one (non-existent) command name when running', () => {
    const options = withConf(readConfigFixture('test-qga-config.conf'));
    assert.deepEqual(configOf([], options).blockRpcs, ['guest-ping;guest-get-time']);
  });

  it('escapes values as g_key_file_set_string does', () => {
    const args = ['-D', '-p', ' a\\b', '-l', ' \tx\ny\r z ', '-f', '\t \tq', '-t', '\r s'];
    assert.equal(exitOf(args).stdout, dumpOf72('qemu-ga-7.2-dump-escaping.txt'));
  });

  it('writes empty values that were given', () => {
    const stdout = exitOf(['-D', '--path=', '-l', '', '--fsfreeze-hook=']).stdout;
    assert.match(stdout, /^path=$/m);
    assert.match(stdout, /^logfile=$/m);
    assert.match(stdout, /^fsfreeze-hook=$/m);
  });

  it('dumps an unsupported method, as qemu-ga checks it only when opening the channel', () => {
    assert.match(exitOf(['-D', '-m', 'tcp', '-p', 'x']).stdout, /^method=tcp\npath=x$/m);
  });

  it('still needs a path for the listening methods and unknown ones', () => {
    for (const method of ['unix-listen', 'vsock-listen', 'tcp']) {
      assert.deepEqual(exitOf(['-D', '-m', method]), {
        code: 1,
        stdout: '',
        stderr: critical('must specify a path for this channel'),
      });
    }
  });

  it('adds freeze-timeout only when set, so plain dumps stay identical to qemu-ga', () => {
    assert.ok(!exitOf(['-D', '--freeze-timeout=0']).stdout.includes('freeze-timeout'));
    assert.ok(exitOf(['-D', '--freeze-timeout=90']).stdout.endsWith('allow-rpcs=\nfreeze-timeout=90\n'));
  });

  it('round-trips: a dump read back as the config file gives the same dump', () => {
    const args = ['-D', '-d', '-v', '-r', '-m', 'unix-listen', '-p', '/a', '-p', '/b', '-l', ' log', '-F', '-b', 'x', '-a', 'z', '--freeze-timeout=5'];
    const first = exitOf(args).stdout;
    assert.equal(exitOf(['-D'], withConf(first)).stdout, first);
  });

  it('reverses multi-name lists on every reload, as qemu-ga does (7.2: y,x then x,y)', () => {
    const first = exitOf(['-D', '-b', 'x,y']).stdout;
    assert.match(first, /^block-rpcs=y,x$/m);
    assert.match(exitOf(['-D'], withConf(first)).stdout, /^block-rpcs=x,y$/m);
  });
});

describe('channels and methods', () => {
  it('uses the per-method default path', () => {
    assert.deepEqual(configOf(['-m', 'virtio-serial']).paths, ['/dev/virtio-ports/org.qemu.guest_agent.0']);
    assert.deepEqual(configOf(['-m', 'isa-serial']).paths, ['/dev/ttyS0']);
  });

  it('requires a path for unix-listen and vsock-listen', () => {
    for (const method of ['unix-listen', 'vsock-listen']) {
      assert.deepEqual(exitOf(['-m', method]), {
        code: 1,
        stdout: '',
        stderr: critical('must specify a path for this channel'),
      });
    }
  });

  it('rejects an unsupported method with upstream 10.2 messages', () => {
    assert.deepEqual(exitOf(['-m', 'tcp', '-p', 'x']), {
      code: 1,
      stdout: '',
      stderr:
        critical('unsupported channel method/type: tcp') +
        critical('failed to initialize guest agent channel') +
        critical('error initializing guest agent'),
    });
  });

  it('serves several paths when -p is repeated (extension); one -p behaves as in qemu-ga', () => {
    assert.deepEqual(configOf(['-m', 'unix-listen', '-p', '/a', '-p', '/b', '--path=/c']).paths, ['/a', '/b', '/c']);
    assert.match(exitOf(['-D', '-m', 'unix-listen', '-p', '/a', '-p', '/b']).stdout, /^path=\/a,\/b$/m);
  });

  it('splits the config key path on commas (extension), and -p replaces the whole list', () => {
    const options = withConf('[general]\nmethod=unix-listen\npath=/a.sock,/b.sock\n');
    assert.deepEqual(configOf([], options).paths, ['/a.sock', '/b.sock']);
    assert.deepEqual(configOf(['-p', '/c.sock', '-p', '/d.sock'], options).paths, ['/c.sock', '/d.sock']);
  });
});

describe('systemd socket activation', () => {
  const activation = (family: 'unix' | 'vsock' | 'other', fds = '1', pid = '4242'): ParseOptions => ({
    env: { LISTEN_PID: pid, LISTEN_FDS: fds },
    context: { pid: 4242, listenSocketFamily: () => family },
  });

  it('takes the method from the passed socket and ignores -m/-p', () => {
    const config = configOf(['-m', 'isa-serial', '-p', '/dev/ttyS1'], activation('unix'));
    assert.equal(config.method, 'unix-listen');
    assert.deepEqual(config.paths, []);
    assert.equal(config.socketActivationFd, 3);
    assert.equal(configOf([], activation('vsock')).method, 'vsock-listen');
  });

  it('dumps without a path line', () => {
    assert.match(exitOf(['-D'], activation('unix')).stdout, /^method=unix-listen\npidfile=/m);
  });

  it('refuses more than one socket or another socket family', () => {
    assert.equal(exitOf([], activation('unix', '2')).stderr, critical('qemu-ga only supports listening on one socket'));
    assert.equal(exitOf([], activation('other')).stderr, critical('unsupported listen fd type'));
  });

  it('applies only to our pid, with at least one fd, and only when main.ts can probe', () => {
    assert.equal(configOf([], activation('unix', '1', '1')).method, 'virtio-serial');
    assert.equal(configOf([], activation('unix', '0')).method, 'virtio-serial');
    assert.equal(configOf([], activation('unix', 'x')).method, 'virtio-serial');
    assert.equal(configOf([], { env: { LISTEN_PID: '4242', LISTEN_FDS: '1' } }).socketActivationFd, undefined);
  });
});
