/**
 * The text of -D / --dump-conf: the effective settings as a qemu-ga.conf, in upstream's key order
 * (reference §3.2), with values escaped as g_key_file_set_string escapes them. Byte-identical to
 * qemu-ga 10.2 for everything qemu-ga knows; 7.2 differs only by lacking the allow-rpcs line.
 */
import { CONFIG_GROUP } from './agent-config';
import { formatKeyFile, KeyFileValue } from './keyfile';

export interface DumpableSettings {
  readonly daemonize: boolean;
  /** Unvalidated: qemu-ga dumps `method=tcp` happily and only fails when opening the channel. */
  readonly method: string;
  /** Empty under socket activation, when qemu-ga has no path either and omits the line. */
  readonly paths: readonly string[];
  readonly logfile?: string;
  readonly pidfile: string;
  readonly fsfreezeHook?: string;
  readonly statedir: string;
  readonly verbose: boolean;
  readonly retryPath: boolean;
  readonly blockRpcs: readonly string[];
  readonly allowRpcs: readonly string[];
  readonly freezeTimeoutSeconds: number;
}

export function renderDumpConf(settings: DumpableSettings): string {
  const entries: Array<readonly [string, KeyFileValue]> = [
    ['daemon', settings.daemonize],
    ['method', settings.method],
  ];
  // Several paths (our extension) are written the way the config key accepts them back.
  if (settings.paths.length > 0) entries.push(['path', settings.paths.join(',')]);
  if (settings.logfile !== undefined) entries.push(['logfile', settings.logfile]);
  entries.push(['pidfile', settings.pidfile]);
  if (settings.fsfreezeHook !== undefined) entries.push(['fsfreeze-hook', settings.fsfreezeHook]);
  entries.push(
    ['statedir', settings.statedir],
    ['verbose', settings.verbose],
    ['retry-path', settings.retryPath],
    ['block-rpcs', settings.blockRpcs.join(',')],
    ['allow-rpcs', settings.allowRpcs.join(',')],
  );
  // Only when set, so that a dump without our extensions stays byte-identical to qemu-ga's.
  if (settings.freezeTimeoutSeconds !== 0) {
    entries.push(['freeze-timeout', settings.freezeTimeoutSeconds]);
  }
  return formatKeyFile([{ name: CONFIG_GROUP, entries }]);
}
