/**
 * The handler table: one entry per schema command, checked against the generated interface, so
 * a command added to the schema without a handler (or a marker) does not compile.
 */
import { unavailable, type HandlerTable, type Unavailable } from '../dispatch/handler-table';
import type { NativeHelper, NativeUnavailable } from '../native/native-helper';
import { agentHandlers } from './agent';
import { createDiskHandlers, defaultDiskDeps } from './disk';
import { createFileHandlers, defaultFileDeps, type FileHandleTable } from './file';
import type { FsfreezeGroup } from './fsfreeze';
import { createFstrimHandlers, defaultFstrimDeps } from './fstrim';
import { createStatvfsHandlers, defaultStatvfsDeps } from './statvfs';
import { createCpuMemoryHandlers, defaultCpuMemoryDeps } from './cpu-memory';
import { createExecHandlers, defaultExecDeps } from './exec';
import { createNetworkHandlers, defaultNetworkDeps } from './network';
import { createSetTimeHandlers, defaultSetTimeDeps } from './set-time';
import { createSystemInfoHandlers, defaultSystemInfoDeps } from './system-info';
import { createMemoryStatsHandlers, defaultMemoryStatsDeps } from './memory-stats';
import { createPowerHandlers, defaultPowerDeps } from './power';
import type { CommandRunner } from './run-command';
import { createSshKeyHandlers, defaultSshKeyDeps } from './ssh-keys';
import { timeHandlers } from './time';
import { createUserHandlers, defaultUserDeps } from './user';
import type { ProcessTable } from '../state/process-table';

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

export function createHandlers(deps: HandlerDeps): HandlerTable {
  return {
    ...agentHandlers,
    ...timeHandlers,
    ...createMemoryStatsHandlers(defaultMemoryStatsDeps()),
    ...createFileHandlers(defaultFileDeps(deps.fileHandles)),
    ...withNative(deps.native, ['guest-get-statvfs'], (n) => createStatvfsHandlers(defaultStatvfsDeps(n))),
    ...deps.fsfreeze.handlers,
    // Without the helper nothing can be frozen, but status and thaw stay: an agent that starts
    // frozen (marker file) must still be able to leave that state.
    ...withNative(deps.native, ['guest-fsfreeze-freeze', 'guest-fsfreeze-freeze-list'], () => ({
      'guest-fsfreeze-freeze': deps.fsfreeze.handlers['guest-fsfreeze-freeze'],
      'guest-fsfreeze-freeze-list': deps.fsfreeze.handlers['guest-fsfreeze-freeze-list'],
    })),
    ...withNative(deps.native, ['guest-fstrim'], (n) => createFstrimHandlers(defaultFstrimDeps(n))),
    ...createDiskHandlers(defaultDiskDeps(deps.native)),
    ...createExecHandlers(defaultExecDeps(deps.processTable)),
    ...createSshKeyHandlers(defaultSshKeyDeps()),
    ...createUserHandlers(defaultUserDeps(deps.runCommand)),
    ...createPowerHandlers(defaultPowerDeps(deps.runCommand)),
    ...createNetworkHandlers(defaultNetworkDeps()),
    ...createCpuMemoryHandlers(defaultCpuMemoryDeps(deps.native)),
    ...createSystemInfoHandlers(defaultSystemInfoDeps()),
    ...withNative(deps.native, ['guest-set-time'], (n) => createSetTimeHandlers(defaultSetTimeDeps(n))),
  } satisfies HandlerTable;
}
