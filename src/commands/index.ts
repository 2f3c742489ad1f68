/**
 * The handler table: one entry per schema command, checked against the generated interface, so
 * a command added to the schema without a handler (or a marker) does not compile.
 */
import { unavailable, type HandlerTable } from '../dispatch/handler-table';
import { agentHandlers } from './agent';
import { timeHandlers } from './time';

const NOT_YET_FILES = unavailable('not implemented yet (file and filesystem commands: issue #4)');
const NOT_YET_SYSTEM = unavailable('not implemented yet (system, network, user and exec commands: issue #5)');

export function createHandlers(): HandlerTable {
  return {
    ...agentHandlers,
    ...timeHandlers,
    'guest-set-time': NOT_YET_SYSTEM,
    'guest-shutdown': NOT_YET_SYSTEM,
    'guest-file-open': NOT_YET_FILES,
    'guest-file-close': NOT_YET_FILES,
    'guest-file-read': NOT_YET_FILES,
    'guest-file-write': NOT_YET_FILES,
    'guest-file-seek': NOT_YET_FILES,
    'guest-file-flush': NOT_YET_FILES,
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
    'guest-get-statvfs': NOT_YET_FILES,
  } satisfies HandlerTable;
}
