// Every start-up text with its exact wording, so that a change to one is a deliberate change.
// Sources: GLib 2.74 (probe against libglib), glibc 2.36 getopt_long, qemu-ga 7.2.22 runs and
// upstream qga/main.c (10.2) for the texts 7.2 lacks; the qga-ts ones are ours.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  formatStartupLine,
  GetoptMessages,
  KeyFileMessages,
  StartupMessages,
} from '../../../src/config/messages';

describe('start-up texts', () => {
  it('GLib key file', () => {
    assert.deepEqual(
      [
        KeyFileMessages.notKeyValuePair('foo'),
        KeyFileMessages.doesNotStartWithGroup,
        KeyFileMessages.invalidGroupName('a[b'),
        KeyFileMessages.invalidKeyName('meth[od'),
        KeyFileMessages.unsupportedEncoding('latin1'),
        KeyFileMessages.missingGroup('general'),
        KeyFileMessages.missingKey('daemon', 'general'),
        KeyFileMessages.valueNotUtf8('method', 'a\ufffdb'),
        KeyFileMessages.uninterpretableValue('daemon'),
        KeyFileMessages.uninterpretableValueInGroup('k', 'g'),
        KeyFileMessages.notRegularFile,
      ],
      [
        'Key file contains line \u201cfoo\u201d which is not a key-value pair, group, or comment',
        'Key file does not start with a group',
        'Invalid group name: a[b',
        'Invalid key name: meth[od',
        'Key file contains unsupported encoding \u201clatin1\u201d',
        'Key file does not have group \u201cgeneral\u201d',
        'Key file does not have key \u201cdaemon\u201d in group \u201cgeneral\u201d',
        'Key file contains key \u201cmethod\u201d with value \u201ca\ufffdb\u201d which is not UTF-8',
        'Key file contains key \u201cdaemon\u201d which has a value that cannot be interpreted.',
        'Key file contains key \u201ck\u201d in group \u201cg\u201d which has a value that cannot be interpreted.',
        'Not a regular file',
      ],
    );
  });

  it('glibc getopt_long', () => {
    assert.deepEqual(
      [
        GetoptMessages.unrecognizedOption('qemu-ga', 'x=1'),
        GetoptMessages.ambiguousOption('qemu-ga', 'ver', ['version', 'verbose']),
        GetoptMessages.argumentNotAllowed('qemu-ga', 'help'),
        GetoptMessages.longArgumentRequired('qemu-ga', 'path'),
        GetoptMessages.invalidShortOption('qemu-ga', 'x'),
        GetoptMessages.shortArgumentRequired('qemu-ga', 'p'),
      ],
      [
        "qemu-ga: unrecognized option '--x=1'",
        "qemu-ga: option '--ver' is ambiguous; possibilities: '--version' '--verbose'",
        "qemu-ga: option '--help' doesn't allow an argument",
        "qemu-ga: option '--path' requires an argument",
        "qemu-ga: invalid option -- 'x'",
        "qemu-ga: option requires an argument -- 'p'",
      ],
    );
  });

  it('qemu-ga and qga-ts', () => {
    assert.deepEqual(
      [
        StartupMessages.unknownOptionHint('qemu-ga'),
        StartupMessages.configLoadFailed('bad.conf', 'Not a regular file'),
        StartupMessages.blacklistKeyDeprecated,
        StartupMessages.pathRequired,
        StartupMessages.unsupportedMethod('tcp'),
        StartupMessages.channelInitFailed,
        StartupMessages.agentInitFailed,
        StartupMessages.tooManyListenSockets,
        StartupMessages.unsupportedListenFd,
        StartupMessages.invalidFreezeTimeout('x'),
        StartupMessages.version('0.1.0', '10.2.0'),
        formatStartupLine('critical', 'm'),
        formatStartupLine('warning', 'm'),
      ],
      [
        "Unknown option, try 'qemu-ga --help' for more information.",
        'error loading configuration from path: bad.conf, Not a regular file',
        "config using deprecated 'blacklist' key, should be replaced with the 'block-rpcs' key.",
        'must specify a path for this channel',
        'unsupported channel method/type: tcp',
        'failed to initialize guest agent channel',
        'error initializing guest agent',
        'qemu-ga only supports listening on one socket',
        'unsupported listen fd type',
        "invalid --freeze-timeout value 'x': expected a whole number of seconds from 0 to 2147483647",
        'qga-ts 0.1.0 (QEMU Guest Agent 10.2.0 compatible)',
        'critical: m\n',
        'warning: m\n',
      ],
    );
  });
});
