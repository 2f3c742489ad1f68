/**
 * Every user-visible text of the start-up layer (command line and config file), in one place so a
 * test can pin each one. Three vocabularies live here, and each matches its origin byte for byte:
 *
 * - GLib's GKeyFile errors (GLib 2.74, checked by linking a probe against the installed libglib);
 *   GLib writes the curly quotes U+201C/U+201D, and so do we.
 * - glibc's getopt_long diagnostics (glibc 2.36, checked against getopt_long itself).
 * - qemu-ga's own start-up messages (qga/main.c, checked against Debian's qemu-ga 7.2 where it
 *   has them; reference §3.1, §3.2, §6.7).
 *
 * Texts marked "qga-ts" are ours and have no qemu-ga counterpart.
 * Wire error replies are not here: those live in src/protocol/errors.ts.
 */

const quoted = (text: string): string => `\u201c${text}\u201d`;

/** GLib GKeyFile texts. */
export const KeyFileMessages = {
  notKeyValuePair: (line: string) =>
    `Key file contains line ${quoted(line)} which is not a key-value pair, group, or comment`,
  doesNotStartWithGroup: 'Key file does not start with a group',
  invalidGroupName: (name: string) => `Invalid group name: ${name}`,
  invalidKeyName: (key: string) => `Invalid key name: ${key}`,
  unsupportedEncoding: (encoding: string) =>
    `Key file contains unsupported encoding ${quoted(encoding)}`,
  missingGroup: (group: string) => `Key file does not have group ${quoted(group)}`,
  missingKey: (key: string, group: string) =>
    `Key file does not have key ${quoted(key)} in group ${quoted(group)}`,
  valueNotUtf8: (key: string, value: string) =>
    `Key file contains key ${quoted(key)} with value ${quoted(value)} which is not UTF-8`,
  /** g_key_file_get_string and g_key_file_get_boolean word it without the group... */
  uninterpretableValue: (key: string) =>
    `Key file contains key ${quoted(key)} which has a value that cannot be interpreted.`,
  /** ...while g_key_file_get_integer names the group too. */
  uninterpretableValueInGroup: (key: string, group: string) =>
    `Key file contains key ${quoted(key)} in group ${quoted(group)} which has a value that cannot be interpreted.`,
  /** g_key_file_load_from_file on anything that is not a regular file (a directory, /dev/null). */
  notRegularFile: 'Not a regular file',
} as const;

/** glibc getopt_long diagnostics; `program` is argv[0] exactly as given. */
export const GetoptMessages = {
  unrecognizedOption: (program: string, spelled: string) =>
    `${program}: unrecognized option '--${spelled}'`,
  ambiguousOption: (program: string, spelled: string, candidates: readonly string[]) =>
    `${program}: option '--${spelled}' is ambiguous; possibilities:` +
    candidates.map((name) => ` '--${name}'`).join(''),
  argumentNotAllowed: (program: string, longName: string) =>
    `${program}: option '--${longName}' doesn't allow an argument`,
  longArgumentRequired: (program: string, longName: string) =>
    `${program}: option '--${longName}' requires an argument`,
  invalidShortOption: (program: string, letter: string) =>
    `${program}: invalid option -- '${letter}'`,
  shortArgumentRequired: (program: string, letter: string) =>
    `${program}: option requires an argument -- '${letter}'`,
} as const;

/** qemu-ga's start-up texts, plus the few of our own. */
export const StartupMessages = {
  /** Printed on stdout after any getopt error. */
  unknownOptionHint: (program: string) =>
    `Unknown option, try '${program} --help' for more information.`,
  configLoadFailed: (path: string, reason: string) =>
    `error loading configuration from path: ${path}, ${reason}`,
  blacklistKeyDeprecated:
    "config using deprecated 'blacklist' key, should be replaced with the 'block-rpcs' key.",
  pathRequired: 'must specify a path for this channel',
  unsupportedMethod: (method: string) => `unsupported channel method/type: ${method}`,
  channelInitFailed: 'failed to initialize guest agent channel',
  agentInitFailed: 'error initializing guest agent',
  tooManyListenSockets: 'qemu-ga only supports listening on one socket',
  unsupportedListenFd: 'unsupported listen fd type',
  /** qga-ts: --freeze-timeout is our extension. */
  invalidFreezeTimeout: (value: string) =>
    `invalid --freeze-timeout value '${value}': expected a whole number of seconds from 0 to 2147483647`,
  /** qga-ts: -V. */
  version: (ownVersion: string, qemuCompatVersion: string) =>
    `qga-ts ${ownVersion} (QEMU Guest Agent ${qemuCompatVersion} compatible)`,
} as const;

/**
 * How a start-up diagnostic is shown on stderr: qemu-ga's own log line (`<level>: <message>`)
 * without its timestamp, because the parser is pure and has no clock. Before its log handler is
 * installed qemu-ga prints these through GLib's default handler instead
 * (`** (process:PID): CRITICAL **: HH:MM:SS.mmm: <message>`); the message part is what matches.
 */
export type StartupLevel = 'critical' | 'warning';
export const formatStartupLine = (level: StartupLevel, message: string): string =>
  `${level}: ${message}\n`;
