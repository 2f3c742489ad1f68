/**
 * guest-fsfreeze-status / -freeze / -freeze-list / -thaw (reference §2.3, §4.2), the fsfreeze
 * hook, the `<statedir>/qga.state.isfrozen` marker, and a qga-ts addition: an auto-thaw watchdog.
 *
 * Freeze, as qemu-ga 10.2 does it: run `<hook> freeze` (a failure leaves everything as it was);
 * build the mount list; create the marker and mark the agent frozen (the lead's wiring suspends
 * the logger and the dispatcher admits only the freeze allow-list from then on); FIFREEZE the
 * mounts in reverse mount order, skipping EOPNOTSUPP and EBUSY; on any other failure thaw
 * everything (hook included) and report it; with nothing frozen, unset the frozen state at once.
 * Thaw: FITHAW every mount until it fails, counting the mounts thawed at least once; unset the
 * frozen state (delete the marker); then run `<hook> thaw`.
 *
 * While frozen this group writes nothing anywhere: the marker is created before the first
 * FIFREEZE and removed only after the last FITHAW, and nothing is logged in between.
 *
 * Beyond qemu-ga:
 * - The watchdog (`--freeze-timeout`): if no thaw arrives within the timeout, it thaws everything,
 *   unsets the frozen state and logs a warning. It runs on a timer, and the ioctls run on libuv's
 *   thread pool, so a FIFREEZE stuck behind a busy writer cannot stop it.
 * - Several channels share one agent, so a thaw (or the watchdog) can arrive while a freeze is
 *   still working through the mounts. The thaw goes ahead at once; the freeze notices, stops,
 *   thaws what it froze after the thaw's pass, and fails with fsfreezeOvertakenByThaw.
 * - Mounts are thawed concurrently: one FITHAW stuck behind a FIFREEZE still in flight must not
 *   hold back the thaw of the filesystem that FIFREEZE is waiting for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { AgentLogger } from '../logging/agent-logger';
import { isNativeErrnoError, type NativeHelper } from '../native/native-helper';
import type { FsMount } from '../platform/linux/mountinfo';
import { Errors, type QgaError } from '../protocol/errors';
import type { AgentState } from '../state/agent-state';
import { defaultMountTableSource, loadMountList, type MountTableSource } from './mount-list';

/** `<statedir>/<this>` exists exactly while the agent considers the filesystems frozen. */
export const FROZEN_MARKER_NAME = 'qga.state.isfrozen';
/** ga_run_command's `action` for the hook, part of its error texts. */
export const FSFREEZE_HOOK_ACTION = 'execute fsfreeze hook';
/**
 * What qga-ts recommends for --freeze-timeout (the config default stays 0 = off, as qemu-ga has
 * no watchdog): a snapshot needs the filesystems frozen for seconds, Proxmox gives up on a
 * freeze after 10 minutes, and no VM should stay frozen longer than that because a backup tool died.
 */
export const RECOMMENDED_FREEZE_TIMEOUT_SECONDS = 600;
/** setTimeout cannot wait longer than this; longer timeouts wait in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** FITHAW undoes one FIFREEZE; real kernels need one or two, this only stops a broken fake. */
const MAX_FITHAW_PER_MOUNT = 64;

export type FsfreezeHookArg = 'freeze' | 'thaw';

/**
 * ga_run_command for the hook (commands/run-command.ts createCommandRunner fits): resolves when the
 * program exits 0, rejects with qemu-ga's error otherwise. The hook gets no input (stdin /dev/null).
 */
export type HookRunner = (argv: readonly string[], input: null, action: string) => Promise<unknown>;

export interface FrozenMarker {
  create(): Promise<void>;
  /** Resolves when the marker is gone, also when it was not there. */
  remove(): Promise<void>;
}

export interface WatchdogTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** monotonic milliseconds */
  now(): number;
}

export interface FsfreezeDeps {
  native: Pick<NativeHelper, 'fsfreeze' | 'fsthaw'>;
  mountTable: MountTableSource;
  /** -F / fsfreeze-hook; undefined runs no hook. */
  hookPath?: string;
  runCommand: HookRunner;
  marker: FrozenMarker;
  /** Auto-thaw after this long frozen; 0 disables the watchdog. */
  freezeTimeoutMs: number;
  timers: WatchdogTimers;
  /** For what happens outside a request: the watchdog, cleanup, marker trouble. */
  log: AgentLogger;
}

export interface FsfreezeOptions {
  native: Pick<NativeHelper, 'fsfreeze' | 'fsthaw'>;
  statedir: string;
  hookPath?: string | undefined;
  /** the agent's one ga_run_command (createCommandRunner()) */
  runCommand: HookRunner;
  /** config.freezeTimeoutSeconds */
  freezeTimeoutSeconds: number;
  logger: AgentLogger;
}

export function defaultFsfreezeDeps(opts: FsfreezeOptions): FsfreezeDeps {
  return {
    native: opts.native,
    mountTable: defaultMountTableSource(),
    ...(opts.hookPath !== undefined && { hookPath: opts.hookPath }),
    runCommand: opts.runCommand,
    marker: fileMarker(path.join(opts.statedir, FROZEN_MARKER_NAME)),
    freezeTimeoutMs: opts.freezeTimeoutSeconds * 1000,
    timers: realTimers,
    log: opts.logger,
  };
}

export const realTimers: WatchdogTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref(); // the channels keep the agent alive; the watchdog alone must not
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => performance.now(),
};

/** ga_create_file / ga_delete_file: an empty file, mode 0600, never truncated. */
export function fileMarker(markerPath: string): FrozenMarker {
  return {
    async create() {
      const handle = await fs.promises.open(markerPath, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o600);
      await handle.close();
    },
    async remove() {
      try {
        await fs.promises.unlink(markerPath);
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
      }
    },
  };
}

type FsfreezeHandlers = Pick<
  QgaCommandHandlers,
  'guest-fsfreeze-status' | 'guest-fsfreeze-freeze' | 'guest-fsfreeze-freeze-list' | 'guest-fsfreeze-thaw'
>;

export interface FsfreezeGroup {
  readonly handlers: FsfreezeHandlers;
  /**
   * main.ts, once the AgentState exists: an agent that starts frozen (the marker was there) gets
   * the watchdog too, so a crash mid-backup cannot leave the guest frozen for ever.
   */
  start(state: AgentState): void;
  /** main.ts, before exiting: thaw if frozen (qemu-ga's guest_fsfreeze_cleanup). Never rejects. */
  cleanup(state: AgentState): Promise<void>;
}

/** A freeze working through its mounts; a thaw that starts meanwhile sets `cancelled`. */
interface FreezeInFlight {
  cancelled: boolean;
}

export function createFsfreezeGroup(deps: FsfreezeDeps): FsfreezeGroup {
  let freezeInFlight: FreezeInFlight | null = null;
  // Freezes run one at a time, and so do thaws; a thaw never waits for a freeze.
  let freezeQueue: Promise<unknown> = Promise.resolve();
  let thawQueue: Promise<unknown> = Promise.resolve();
  let watchdogTimer: unknown = null;
  // What the last freeze worked on, for a watchdog that cannot read the mount table.
  let lastFreezeMounts: FsMount[] = [];

  function serialized<T>(queue: 'freeze' | 'thaw', work: () => Promise<T>): Promise<T> {
    const previous = queue === 'freeze' ? freezeQueue : thawQueue;
    const run = previous.then(work, work);
    const settledRun = run.then(
      () => undefined,
      () => undefined,
    );
    if (queue === 'freeze') freezeQueue = settledRun;
    else thawQueue = settledRun;
    return run;
  }

  async function runHook(arg: FsfreezeHookArg): Promise<void> {
    if (deps.hookPath === undefined) return;
    await deps.runCommand([deps.hookPath, arg], null, FSFREEZE_HOOK_ACTION);
  }

  function disarmWatchdog(): void {
    if (watchdogTimer !== null) deps.timers.clearTimeout(watchdogTimer);
    watchdogTimer = null;
  }

  function armWatchdog(state: AgentState): void {
    disarmWatchdog();
    if (!(deps.freezeTimeoutMs > 0)) return;
    const deadline = deps.timers.now() + deps.freezeTimeoutMs;
    const wait = () => {
      const left = deadline - deps.timers.now();
      if (left > 0) {
        watchdogTimer = deps.timers.setTimeout(wait, Math.min(Math.ceil(left), MAX_TIMER_MS));
        return;
      }
      watchdogTimer = null;
      void watchdogThaw(state);
    };
    wait();
  }

  async function watchdogThaw(state: AgentState): Promise<void> {
    if (!state.frozen) return;
    const seconds = deps.freezeTimeoutMs / 1000;
    try {
      const count = await thaw(state);
      deps.log.warn(`no guest-fsfreeze-thaw within ${seconds} s of the freeze: auto-thawed ${count} filesystem(s)`);
    } catch (e) {
      if (state.frozen) {
        // The mount table could not be read: thaw what the last freeze worked on.
        const count = await thawMounts(lastFreezeMounts);
        await unsetFrozen(state);
        await runHook('thaw').catch((hookError: unknown) => deps.log.warn({ err: hookError }, 'fsfreeze hook thaw failed'));
        deps.log.warn(
          { err: e },
          `no guest-fsfreeze-thaw within ${seconds} s of the freeze: auto-thawed ${count} filesystem(s) of the last freeze`,
        );
      } else {
        deps.log.warn({ err: e }, `no guest-fsfreeze-thaw within ${seconds} s of the freeze: filesystems thawed, but the thaw hook failed`);
      }
    }
  }

  /** ga_set_frozen: the marker first, while writing is still safe. */
  async function setFrozen(state: AgentState): Promise<void> {
    try {
      await deps.marker.create();
    } catch (e) {
      deps.log.warn({ err: e }, 'unable to create the frozen-state marker, fsfreeze may not function properly');
    }
    deps.log.info('disabling logging due to filesystem freeze');
    state.setFrozen(true);
    armWatchdog(state);
  }

  /** ga_unset_frozen: nothing to do when not frozen (the marker is then left alone, as qemu-ga does). */
  async function unsetFrozen(state: AgentState): Promise<void> {
    disarmWatchdog();
    if (!state.frozen) return;
    let markerError: unknown;
    try {
      await deps.marker.remove();
    } catch (e) {
      markerError = e;
    }
    state.setFrozen(false);
    if (markerError !== undefined) {
      deps.log.warn({ err: markerError }, 'unable to delete the frozen-state marker, fsfreeze may not function properly');
    }
  }

  /** FITHAW each mount until it fails; the number of mounts thawed at least once. */
  async function thawMounts(mounts: readonly FsMount[]): Promise<number> {
    const thawed = await Promise.all(
      mounts.map(async (mount) => {
        let any = false;
        for (let i = 0; i < MAX_FITHAW_PER_MOUNT; i++) {
          try {
            await deps.native.fsthaw(mount.mountPoint);
          } catch {
            break; // EINVAL: not frozen (any more); open failures skip the mount, as in qemu-ga
          }
          any = true;
        }
        return any;
      }),
    );
    return thawed.filter(Boolean).length;
  }

  /** qmp_guest_fsfreeze_thaw */
  function thaw(state: AgentState): Promise<number> {
    disarmWatchdog(); // a thaw is under way; the watchdog must not start a second one
    if (freezeInFlight !== null) freezeInFlight.cancelled = true;
    return serialized('thaw', async () => {
      if (freezeInFlight !== null) freezeInFlight.cancelled = true;
      let mounts: FsMount[];
      try {
        mounts = await loadMountList(deps.mountTable);
      } catch (e) {
        if (state.frozen) armWatchdog(state); // still frozen: keep the guard
        throw e;
      }
      const count = await thawMounts(mounts);
      await unsetFrozen(state);
      await runHook('thaw');
      return count;
    });
  }

  /** qmp_guest_fsfreeze_freeze_list */
  function freeze(command: string, mountpoints: readonly string[] | undefined, state: AgentState): Promise<number> {
    return serialized('freeze', async () => {
      // Another channel's freeze finished while this one waited: answer as the gate would have.
      if (state.frozen) throw Errors.commandDisabled(command);
      const op: FreezeInFlight = { cancelled: false };
      freezeInFlight = op;
      try {
        await runHook('freeze');
        const mounts = await loadMountList(deps.mountTable);
        if (op.cancelled) throw Errors.fsfreezeOvertakenByThaw();
        lastFreezeMounts = mounts;
        await setFrozen(state);

        // From here until the outcome is known nothing is logged or written.
        let count = 0;
        let failure: QgaError | undefined;
        for (let i = mounts.length - 1; i >= 0 && failure === undefined && !op.cancelled; i--) {
          const dir = (mounts[i] as FsMount).mountPoint;
          // Exact string matches only: anything else in the list is silently ignored.
          if (mountpoints !== undefined && !mountpoints.includes(dir)) continue;
          try {
            await deps.native.fsfreeze(dir);
            count++;
          } catch (e) {
            if (isNativeErrnoError(e) && e.syscall === 'open') failure = Errors.fsfreezeOpenFailed(dir, e);
            else if (isNativeErrnoError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'EBUSY')) continue;
            else failure = Errors.fsfreezeFailed(dir, e);
          }
        }

        if (op.cancelled) {
          // The thaw's pass may have run before our last FIFREEZE returned.
          await thawMounts(mounts);
          await unsetFrozen(state);
          throw Errors.fsfreezeOvertakenByThaw();
        }
        if (failure !== undefined) {
          await thaw(state).catch((e: unknown) => deps.log.warn({ err: e }, 'thaw after a failed freeze failed'));
          throw failure;
        }
        if (count === 0) await unsetFrozen(state);
        return count;
      } finally {
        if (freezeInFlight === op) freezeInFlight = null;
      }
    });
  }

  const handlers = {
    'guest-fsfreeze-status': (_args, ctx) => (ctx.agent.state.frozen ? 'frozen' : 'thawed'),
    'guest-fsfreeze-freeze': async (_args, ctx) =>
      BigInt(await freeze('guest-fsfreeze-freeze', undefined, ctx.agent.state)),
    'guest-fsfreeze-freeze-list': async (args, ctx) =>
      BigInt(await freeze('guest-fsfreeze-freeze-list', args.mountpoints, ctx.agent.state)),
    'guest-fsfreeze-thaw': async (_args, ctx) => BigInt(await thaw(ctx.agent.state)),
  } satisfies FsfreezeHandlers;

  return {
    handlers,
    start(state) {
      if (state.frozen) armWatchdog(state);
    },
    async cleanup(state) {
      disarmWatchdog();
      if (freezeInFlight !== null) freezeInFlight.cancelled = true;
      if (!state.frozen) return;
      try {
        await thaw(state);
      } catch (e) {
        deps.log.warn({ err: e }, 'failed to clean up frozen filesystems');
      }
    },
  };
}
