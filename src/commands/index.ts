/**
 * The handler table: one entry per schema command, checked against the generated interface, so
 * a command added to the schema without a handler (or a marker) does not compile.
 */
import { unavailable, type HandlerTable, type Unavailable } from '../dispatch/handler-table';
import type { NativeHelper, NativeUnavailable } from '../native/native-helper';
import { agentHandlers } from './agent';
import { createFileHandlers, defaultFileDeps, type FileHandleTable } from './file';
import { createStatvfsHandlers, defaultStatvfsDeps } from './statvfs';
import { timeHandlers } from './time';

/** Everything the command groups are built from; made once in main.ts. */
export interface HandlerDeps {
  native: NativeHelper | NativeUnavailable;
  fileHandles: FileHandleTable;
}

/** A group that needs the native helper, or a disabled marker for each of its commands. */
function withNative<T extends object>(native: NativeHelper | NativeUnavailable, names: readonly (keyof T)[], make: (n: NativeHelper) => T): T | Record<keyof T, Unavailable> {
  if (native.available) return make(native);
  const marker = unavailable(`the native helper is not available: ${native.reason}`);
  return Object.fromEntries(names.map((n) => [n, marker])) as Record<keyof T, Unavailable>;
}

const NOT_YET_FILES = unavailable('not implemented yet (file and filesystem commands: issue #4)');
const NOT_YET_SYSTEM = unavailable('not implemented yet (system, network, user and exec commands: issue #5)');

export function createHandlers(deps: HandlerDeps): HandlerTable {
  return {
    ...agentHandlers,
    ...timeHandlers,
    ...createFileHandlers(defaultFileDeps(deps.fileHandles)),
    ...withNative(deps.native, ['guest-get-statvfs'], (n) => createStatvfsHandlers(defaultStatvfsDeps(n))),
    'guest-set-time': NOT_YET_SYSTEM,
    'guest-shutdown': NOT_YET_SYSTEM,
    'guest-fsfreeze-status': NOT_YET_FILES,
    'guest-fsfreeze-freeze': NOT_YET_FILES,
    'guest-fsfreeze-freeze-list': NOT_YET_FILES,
    'guest-fsfreeze-thaw': NOT_YET_FILES,
    'guest-fstrim': NOT_YET_FILES,
    'guest-suspend-disk': NOT_YET_SYSTEM,
    'guest-suspend-ram': NOT_YET_SYSTEM,
    'guest-suspend-hybrid': NOT_YET_SYSTEM,
    'guest-network-get-interfaces': NOT_YET_SYSTEM,
    'guest-get-vcpus': NOT_YET_SYSTEM,
    'guest-set-vcpus': NOT_YET_SYSTEM,
    'guest-get-disks': NOT_YET_FILES,
    'guest-get-fsinfo': NOT_YET_FILES,
    'guest-set-user-password': NOT_YET_SYSTEM,
    'guest-get-memory-blocks': NOT_YET_SYSTEM,
    'guest-set-memory-blocks': NOT_YET_SYSTEM,
    'guest-get-memory-block-info': NOT_YET_SYSTEM,
    'guest-exec-status': NOT_YET_SYSTEM,
    'guest-exec': NOT_YET_SYSTEM,
    'guest-get-host-name': NOT_YET_SYSTEM,
    'guest-get-users': NOT_YET_SYSTEM,
    'guest-get-timezone': NOT_YET_SYSTEM,
    'guest-get-osinfo': NOT_YET_SYSTEM,
    'guest-ssh-get-authorized-keys': NOT_YET_SYSTEM,
    'guest-ssh-add-authorized-keys': NOT_YET_SYSTEM,
    'guest-ssh-remove-authorized-keys': NOT_YET_SYSTEM,
    'guest-get-diskstats': NOT_YET_FILES,
    'guest-get-cpustats': NOT_YET_SYSTEM,
    'guest-get-load': NOT_YET_SYSTEM,
    'guest-network-get-route': NOT_YET_SYSTEM,
  } satisfies HandlerTable;
}
