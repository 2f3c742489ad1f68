/**
 * The handler table: one entry per schema command, checked against the generated interface, so
 * a command added to the schema without a handler (or a marker) does not compile.
 */
import type { QgaCommandHandlers, QgaCommandName } from '../generated/qga-commands';
import type { CommandContext } from '../dispatch/command-context';
import { unavailable, type HandlerTable, type Unavailable } from '../dispatch/handler-table';
import type { NativeHelper, NativeUnavailable } from '../native/native-helper';
import type { ProcessTable } from '../state/process-table';
import { agentHandlers } from './agent';
import type { FileHandleTable } from './file';
import type { FsfreezeGroup } from './fsfreeze';
import type { CommandRunner } from './run-command';
import { timeHandlers } from './time';

// The groups' modules are required on the first call of one of their commands, not at start-up:
// most of them pull in child_process, fs/promises or large parsers, and an agent that is only
// polled for a few commands should not pay for the rest before its first reply. `typeof import`
// keeps the types (and so the completeness check below) exact.
/* eslint-disable @typescript-eslint/no-require-imports */
const groups = {
  disk: (): typeof import('./disk') => require('./disk'),
  file: (): typeof import('./file') => require('./file'),
  fstrim: (): typeof import('./fstrim') => require('./fstrim'),
  statvfs: (): typeof import('./statvfs') => require('./statvfs'),
  cpuMemory: (): typeof import('./cpu-memory') => require('./cpu-memory'),
  exec: (): typeof import('./exec') => require('./exec'),
  network: (): typeof import('./network') => require('./network'),
  setTime: (): typeof import('./set-time') => require('./set-time'),
  systemInfo: (): typeof import('./system-info') => require('./system-info'),
  memoryStats: (): typeof import('./memory-stats') => require('./memory-stats'),
  power: (): typeof import('./power') => require('./power'),
  sshKeys: (): typeof import('./ssh-keys') => require('./ssh-keys'),
  user: (): typeof import('./user') => require('./user'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** Everything the command groups are built from; made once in main.ts. */
export interface HandlerDeps {
  native: NativeHelper | NativeUnavailable;
  fileHandles: FileHandleTable;
  /** stateful (watchdog, cleanup), so main.ts owns it; see createFsfreezeGroup */
  fsfreeze: FsfreezeGroup;
  processTable: ProcessTable;
  /** qemu-ga's ga_run_command: shared by the hook, passwords, shutdown, hwclock */
  runCommand: CommandRunner;
}

/** A group that needs the native helper, or a disabled marker for each of its commands. */
function withNative<T extends object>(native: NativeHelper | NativeUnavailable, names: readonly (keyof T)[], make: (n: NativeHelper) => T): T | Record<keyof T, Unavailable> {
  if (native.available) return make(native);
  const marker = unavailable(`the native helper is not available: ${native.reason}`);
  return Object.fromEntries(names.map((n) => [n, marker])) as Record<keyof T, Unavailable>;
}

/**
 * Handlers for `names` that build their group (loading its module) on the first call of any of
 * them. The group is kept in this closure, so it lives as long as the handler table that holds it.
 */
function deferred<K extends QgaCommandName>(names: readonly K[], build: () => Pick<QgaCommandHandlers, K>): Pick<QgaCommandHandlers, K> {
  let group: Pick<QgaCommandHandlers, K> | null = null;
  const entries = names.map((name) => {
    const call = (args: unknown, ctx: CommandContext): unknown => {
      group ??= build();
      return (group[name] as (a: unknown, c: CommandContext) => unknown)(args, ctx);
    };
    return [name, call] as const;
  });
  return Object.fromEntries(entries) as unknown as Pick<QgaCommandHandlers, K>;
}

export function createHandlers(deps: HandlerDeps): HandlerTable {
  const { native } = deps;
  return {
    ...agentHandlers,
    ...timeHandlers,
    ...deferred(['guest-get-memory-stats'], () => {
      const m = groups.memoryStats();
      return m.createMemoryStatsHandlers(m.defaultMemoryStatsDeps());
    }),
    ...deferred(['guest-file-open', 'guest-file-close', 'guest-file-read', 'guest-file-write', 'guest-file-seek', 'guest-file-flush'], () => {
      const m = groups.file();
      return m.createFileHandlers(m.defaultFileDeps(deps.fileHandles));
    }),
    ...withNative(native, ['guest-get-statvfs'], (n) =>
      deferred(['guest-get-statvfs'], () => {
        const m = groups.statvfs();
        return m.createStatvfsHandlers(m.defaultStatvfsDeps(n));
      }),
    ),
    ...deps.fsfreeze.handlers,
    // Without the helper nothing can be frozen, but status and thaw stay: an agent that starts
    // frozen (marker file) must still be able to leave that state.
    ...withNative(native, ['guest-fsfreeze-freeze', 'guest-fsfreeze-freeze-list'], () => ({
      'guest-fsfreeze-freeze': deps.fsfreeze.handlers['guest-fsfreeze-freeze'],
      'guest-fsfreeze-freeze-list': deps.fsfreeze.handlers['guest-fsfreeze-freeze-list'],
    })),
    ...withNative(native, ['guest-fstrim'], (n) =>
      deferred(['guest-fstrim'], () => {
        const m = groups.fstrim();
        return m.createFstrimHandlers(m.defaultFstrimDeps(n));
      }),
    ),
    ...deferred(['guest-get-fsinfo', 'guest-get-disks', 'guest-get-diskstats'], () => {
      const m = groups.disk();
      return m.createDiskHandlers(m.defaultDiskDeps(native));
    }),
    ...deferred(['guest-exec', 'guest-exec-status'], () => {
      const m = groups.exec();
      return m.createExecHandlers(m.defaultExecDeps(deps.processTable));
    }),
    ...deferred(['guest-ssh-get-authorized-keys', 'guest-ssh-add-authorized-keys', 'guest-ssh-remove-authorized-keys'], () => {
      const m = groups.sshKeys();
      return m.createSshKeyHandlers(m.defaultSshKeyDeps());
    }),
    ...deferred(['guest-set-user-password'], () => {
      const m = groups.user();
      return m.createUserHandlers(m.defaultUserDeps(deps.runCommand));
    }),
    ...deferred(['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-ram', 'guest-suspend-hybrid'], () => {
      const m = groups.power();
      return m.createPowerHandlers(m.defaultPowerDeps(deps.runCommand));
    }),
    ...deferred(['guest-network-get-interfaces', 'guest-network-get-route'], () => {
      const m = groups.network();
      return m.createNetworkHandlers(m.defaultNetworkDeps());
    }),
    ...deferred(
      ['guest-get-vcpus', 'guest-set-vcpus', 'guest-get-memory-blocks', 'guest-set-memory-blocks', 'guest-get-memory-block-info', 'guest-get-cpustats', 'guest-get-load'],
      () => {
        const m = groups.cpuMemory();
        return m.createCpuMemoryHandlers(m.defaultCpuMemoryDeps(native));
      },
    ),
    ...deferred(['guest-get-host-name', 'guest-get-osinfo', 'guest-get-timezone', 'guest-get-users'], () => {
      const m = groups.systemInfo();
      return m.createSystemInfoHandlers(m.defaultSystemInfoDeps());
    }),
    ...withNative(native, ['guest-set-time'], (n) =>
      deferred(['guest-set-time'], () => {
        const m = groups.setTime();
        return m.createSetTimeHandlers(m.defaultSetTimeDeps(n));
      }),
    ),
  } satisfies HandlerTable;
}
