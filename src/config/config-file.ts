/**
 * Reading /etc/qemu/qemu-ga.conf the way qemu-ga's config_load does (reference §3.2):
 *
 * - Only group [general] is read. Keys are looked up one by one in qemu-ga's order (below), so
 *   unknown keys and other groups are ignored without a word, as upstream does: it never lists the
 *   file's keys, it only asks for the ones it knows.
 * - List keys are plain strings split on `,` (not GLib `;` string lists): `block-rpcs=a;b` is the
 *   one name `a;b`. Each split list is reversed before it is appended (qemu-ga prepends item by
 *   item), so `a,b` contributes `b,a`.
 * - A bad value does not stop the reading: qemu-ga keeps going and reports the first error only.
 *   (GLib then also warns "GError set over the top of a previous GError"; we leave that out.)
 * - `blacklist` (7.2's name, removed upstream in 9.1) is accepted with 7.2's warning, and like 7.2,
 *   when it is present it is read INSTEAD of block-rpcs.
 * - qga-ts extensions: `path` may list several channel paths separated by commas, and
 *   `freeze-timeout` (a non-negative C int) sets the auto-thaw watchdog.
 */
import { strerror } from '../protocol/errors';
import { CONFIG_GROUP } from './agent-config';
import { KeyFile, KeyFileError, parseKeyFile } from './keyfile';
import { KeyFileMessages, StartupMessages } from './messages';

/**
 * Reads a whole file. Throws an error whose `code` is the errno name (`ENOENT`, `EACCES`, ...) on
 * failure; `EISDIR` or `ENOTREG` mean the path is not a regular file (GLib refuses those, even
 * /dev/null). Bytes are preferred: GLib checks UTF-8 per value, which a decoded string hides.
 */
export type ReadConfigFile = (path: string) => string | Uint8Array;

/** What the file set; absent members were not in the file. */
export interface ConfigFileValues {
  readonly daemonize?: boolean;
  readonly method?: string;
  readonly paths?: readonly string[];
  readonly logfile?: string;
  readonly pidfile?: string;
  readonly fsfreezeHook?: string;
  readonly statedir?: string;
  readonly verbose?: boolean;
  readonly retryPath?: boolean;
  readonly blockRpcs: readonly string[];
  readonly allowRpcs: readonly string[];
  readonly freezeTimeoutSeconds?: number;
}

export type ConfigFileOutcome =
  /** The default file does not exist: carry on with defaults. */
  | { readonly kind: 'absent' }
  | {
      readonly kind: 'loaded';
      readonly values: ConfigFileValues;
      /** Messages to print at warning level. */
      readonly warnings: readonly string[];
    }
  | {
      readonly kind: 'failed';
      /** The full critical message, `error loading configuration from path: ...`. */
      readonly message: string;
      readonly warnings: readonly string[];
    };

/** qemu-ga's split_list: g_strsplit on `,` (an empty string gives nothing), items reversed. */
export const splitRpcList = (text: string): string[] => (text === '' ? [] : text.split(',').reverse());

export function loadConfigFile(
  path: string,
  required: boolean,
  readFile: ReadConfigFile,
): ConfigFileOutcome {
  let data: string | Uint8Array;
  try {
    data = readFile(path);
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === 'ENOENT' && !required) return { kind: 'absent' };
    const reason =
      code === 'EISDIR' || code === 'ENOTREG'
        ? KeyFileMessages.notRegularFile
        : typeof code === 'string'
          ? strerror(code)
          : e instanceof Error
            ? e.message
            : String(e);
    return { kind: 'failed', message: StartupMessages.configLoadFailed(path, reason), warnings: [] };
  }

  let keyFile: KeyFile;
  try {
    keyFile = parseKeyFile(data);
  } catch (e) {
    if (!(e instanceof KeyFileError)) throw e;
    return { kind: 'failed', message: StartupMessages.configLoadFailed(path, e.message), warnings: [] };
  }

  const warnings: string[] = [];
  let firstError: KeyFileError | undefined;
  const has = (key: string): boolean => keyFile.hasKey(CONFIG_GROUP, key);
  const read = <T>(key: string, get: (key: string) => T): T | undefined => {
    if (!has(key)) return undefined;
    try {
      return get(key);
    } catch (e) {
      if (!(e instanceof KeyFileError)) throw e;
      firstError ??= e;
      return undefined;
    }
  };
  const string = (key: string): string | undefined =>
    read(key, (k) => keyFile.getString(CONFIG_GROUP, k));
  const boolean = (key: string): boolean | undefined =>
    read(key, (k) => keyFile.getBoolean(CONFIG_GROUP, k));

  // The order is qemu-ga's: it decides which error is reported when several keys are bad.
  const daemonize = boolean('daemon');
  const method = string('method');
  const pathList = string('path');
  const logfile = string('logfile');
  const pidfile = string('pidfile');
  const fsfreezeHook = string('fsfreeze-hook');
  const statedir = string('statedir');
  const verbose = boolean('verbose');
  const retryPath = boolean('retry-path');
  let blockKey = 'block-rpcs';
  if (has('blacklist')) {
    warnings.push(StartupMessages.blacklistKeyDeprecated);
    blockKey = 'blacklist';
  }
  const blockList = string(blockKey);
  const allowList = string('allow-rpcs');
  const freezeTimeoutSeconds = read('freeze-timeout', (k) => {
    const seconds = keyFile.getInteger(CONFIG_GROUP, k);
    if (seconds < 0) {
      throw new KeyFileError(
        'INVALID_VALUE',
        KeyFileMessages.uninterpretableValueInGroup(k, CONFIG_GROUP),
        keyFile.lineOf(CONFIG_GROUP, k),
      );
    }
    return seconds;
  });

  if (firstError !== undefined) {
    return {
      kind: 'failed',
      message: StartupMessages.configLoadFailed(path, firstError.message),
      warnings,
    };
  }

  const values: ConfigFileValues = {
    ...(daemonize !== undefined && { daemonize }),
    ...(method !== undefined && { method }),
    ...(pathList !== undefined && { paths: pathList.split(',') }),
    ...(logfile !== undefined && { logfile }),
    ...(pidfile !== undefined && { pidfile }),
    ...(fsfreezeHook !== undefined && { fsfreezeHook }),
    ...(statedir !== undefined && { statedir }),
    ...(verbose !== undefined && { verbose }),
    ...(retryPath !== undefined && { retryPath }),
    blockRpcs: blockList === undefined ? [] : splitRpcList(blockList),
    allowRpcs: allowList === undefined ? [] : splitRpcList(allowList),
    ...(freezeTimeoutSeconds !== undefined && { freezeTimeoutSeconds }),
  };
  return { kind: 'loaded', values, warnings };
}
