/**
 * Typed facade over the C addon build/Release/qga_native.node (src/native/*.c).
 *
 * The addon covers only what Node lacks: statvfs(3), FIFREEZE/FITHAW/FITRIM, settimeofday(2), the
 * RTC ioctls, AF_VSOCK sockets, fd readiness on Node's event loop, and read(2)/write(2) that
 * report errno as a return value (see FdSyscalls). It is loaded once, by the
 * composition root, through loadNativeHelper(); command handlers receive the resulting
 * NativeHelper through their context, so tests hand them fakes. When it cannot be loaded the agent
 * keeps running and reports NATIVE_COMMANDS as disabled.
 *
 * Errors: every failing syscall rejects (or throws, for the synchronous calls) with a
 * NativeErrnoError: `code` is the errno name ('ENOENT', 'EBUSY', 'EOPNOTSUPP', ...), `errno` the
 * positive errno value (not libuv's negative one), `syscall` the failing step ('open', 'statvfs',
 * 'FIFREEZE', 'FITHAW', 'FITRIM', 'RTC_RD_TIME', 'RTC_SET_TIME', 'settimeofday', 'socket',
 * 'bind', 'listen', 'accept4', ...) and `path` the path or device when there is one. Argument
 * mistakes throw TypeError/RangeError synchronously, before any syscall. The exception are
 * readInto / writeBytes / writeLatin1, the channels' per-request calls: they return a negative
 * errno instead of throwing (FdSyscalls).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getSystemErrorName } from 'node:util';

/** statvfs(3) as the kernel reports it; all unsigned 64-bit, hence bigint. Names as in the schema. */
export interface StatvfsResult {
  f_bsize: bigint;
  f_frsize: bigint;
  f_blocks: bigint;
  f_bfree: bigint;
  f_bavail: bigint;
  f_files: bigint;
  f_ffree: bigint;
  f_favail: bigint;
  f_fsid: bigint;
  f_flag: bigint;
  f_namemax: bigint;
}

/** FITRIM's struct fstrim_range after the call: len rewritten to the bytes trimmed, minlen possibly
 *  raised to the device's discard granularity. qemu-ga reports both. */
export interface FstrimResult {
  trimmed: bigint;
  minimum: bigint;
}

/** A vsock socket and its address (the local one for a listener, the peer's for a connection). */
export interface VsockEndpoint {
  fd: number;
  cid: number;
  port: number;
}

/** Readiness bits for watchFd, libuv's uv_poll_event values. */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
export const POLL_DISCONNECT = 4;

/**
 * The errno values the channels test for in FdSyscalls results (negated there). Linux's, the same
 * on every architecture Node runs on; the addon's own values are checked against them at load.
 * Constants rather than os.constants.errno, which would load node:os at start-up.
 */
export const EINTR = 4;
export const EAGAIN = 11;

/** svm_cid / svm_port wildcards (-1U in linux/vm_sockets.h). */
export const VMADDR_CID_ANY = 0xffffffff;
export const VMADDR_PORT_ANY = 0xffffffff;

export const DEFAULT_RTC_DEVICE = '/dev/rtc0';

/** A uv_poll watcher on Node's own loop. It keeps the process alive until close(). */
export interface FdWatcher {
  readonly fd: number;
  /** The readiness to wait for; 0 pauses without closing. */
  update(events: number): void;
  /** Idempotent. The fd stays open: it belongs to the caller. */
  close(): void;
}

/** (errno, events): errno is non-zero when polling itself failed (e.g. EBADF). */
export type FdEventCallback = (errno: number, events: number) => void;

/**
 * One non-blocking read(2) or write(2) per call, errors as return values: a non-negative result
 * is a byte count (0 from readInto: end of stream), a negative one is -errno (-EAGAIN when the
 * fd has nothing to read or no room, -EINTR, -EIO, -EPIPE, ...). Nothing is thrown for a failing
 * syscall, so an idle or full fd costs no Error object; bad arguments still throw TypeError.
 */
export interface FdSyscalls {
  /** read(2) into the whole of `buffer` */
  readInto(fd: number, buffer: Uint8Array): number;
  /** write(2) of all of `data` (the kernel may take less) */
  writeBytes(fd: number, data: Uint8Array): number;
  /** write(2) of a latin1 string's bytes, one per char (its low 8 bits) */
  writeLatin1(fd: number, text: string): number;
}

/**
 * The error for a negative FdSyscalls result (only built when a channel fails, never for EAGAIN),
 * shaped like Node's fs errors: code 'EIO', errno 5 (positive, as the addon's other errors),
 * syscall 'read'.
 */
export function fdSyscallError(result: number, syscall: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(result);
  } catch {
    code = `errno ${-result}`;
  }
  return Object.assign(new Error(`${code}: ${syscall} failed`), { code, errno: -result, syscall });
}

export interface NativeHelper extends FdSyscalls {
  readonly available: true;
  /** Where the addon was loaded from, for the log. */
  readonly loadedFrom: string;

  statvfs(path: string): Promise<StatvfsResult>;
  /** open(path, O_RDONLY) + ioctl(FIFREEZE). A second freeze of the same fs rejects EBUSY. */
  fsfreeze(path: string): Promise<void>;
  /** One open + ioctl(FITHAW); rejects EINVAL when the fs is not frozen. qemu-ga's thaw repeats
   *  it until it fails, counting the mount if at least one call succeeded. */
  fsthaw(path: string): Promise<void>;
  /** ioctl(FITRIM, {start 0, len ULLONG_MAX, minlen: minimum}). */
  fstrim(path: string, minimum?: bigint | number): Promise<FstrimResult>;

  /** settimeofday(2); synchronous (it does not block). Needs CAP_SYS_TIME. */
  setTimeOfDay(seconds: bigint, microseconds: number): void;
  /** RTC_RD_TIME, interpreting the RTC as UTC; seconds since the epoch. Changes nothing. */
  rtcRead(device?: string): Promise<number>;
  /** `hwclock -w` for a UTC RTC: waits for the next second boundary, then RTC_SET_TIME. Resolves
   *  with the second written. A guest whose RTC keeps local time (/etc/adjtime LOCAL) needs the
   *  real hwclock instead. */
  rtcSetFromSystem(device?: string): Promise<number>;
  /** `hwclock -s` for a UTC RTC: RTC_RD_TIME then settimeofday; resolves with the seconds set. */
  rtcReadToSystem(device?: string): Promise<number>;

  /** socket(AF_VSOCK, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK) + bind + listen. net.Server cannot
   *  take this fd (libuv does not recognise AF_VSOCK): drive it with watchFd + vsockAccept. */
  vsockListen(cid: number, port: number, backlog: number): VsockEndpoint;
  /** accept4(SOCK_CLOEXEC|SOCK_NONBLOCK); null when nothing is waiting. */
  vsockAccept(listenFd: number): VsockEndpoint | null;
  /**
   * Readiness of a non-blocking fd that libuv does not already own (EEXIST otherwise). `edge`:
   * one call per wake-up of the fd (EPOLLET through a private epoll instance) instead of for as
   * long as the condition holds; `events` then only says watch (non-zero) or pause (0), and every
   * bit that came is reported. For a port whose hang-up would otherwise be reported for ever.
   */
  watchFd(fd: number, events: number, onEvent: FdEventCallback, edge?: boolean): FdWatcher;

  getloadavg(): [number, number, number];
  /** sysconf(_SC_CLK_TCK) */
  clkTck(): number;
  /**
   * v8::V8::SetFlagsFromString without loading node:v8 (v8_flags.c); false when the running
   * executable does not export it (then node:v8 does the same).
   */
  setV8Flags(flags: string): boolean;
}

export interface NativeUnavailable {
  readonly available: false;
  readonly reason: string;
}

export interface NativeErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export function isNativeErrnoError(e: unknown): e is NativeErrnoError {
  return (
    e instanceof Error &&
    typeof (e as Partial<NativeErrnoError>).code === 'string' &&
    typeof (e as Partial<NativeErrnoError>).errno === 'number' &&
    typeof (e as Partial<NativeErrnoError>).syscall === 'string'
  );
}

/** Commands that cannot work without the addon; guest-info lists them disabled when it is missing.
 *  (guest-get-fsinfo falls back to fs.statfs, guest-get-load to os.loadavg, so they stay.) */
export const NATIVE_COMMANDS = [
  'guest-get-statvfs',
  'guest-fsfreeze-freeze',
  'guest-fsfreeze-freeze-list',
  'guest-fsfreeze-thaw',
  'guest-fstrim',
  'guest-set-time',
] as const;

export type NativeCommand = (typeof NATIVE_COMMANDS)[number];

export function commandsDisabledWithoutNative(native: NativeHelper | NativeUnavailable): readonly string[] {
  return native.available ? [] : NATIVE_COMMANDS;
}

/** The ABI the C side reports as abiVersion (QN_ABI_VERSION in qga_native.h). */
const EXPECTED_ABI_VERSION = 3;

/** The raw exports of qga_native.node. */
interface QgaNativeBinding {
  abiVersion: number;
  POLL_READABLE: number;
  POLL_WRITABLE: number;
  POLL_DISCONNECT: number;
  EAGAIN: number;
  EINTR: number;
  statvfs(path: string): Promise<StatvfsResult>;
  fsfreeze(path: string): Promise<void>;
  fsthaw(path: string): Promise<void>;
  fstrim(path: string, minimum?: bigint | number): Promise<FstrimResult>;
  settimeofday(seconds: bigint | number, microseconds: number): void;
  rtcRead(device: string): Promise<number>;
  rtcSetFromSystem(device: string): Promise<number>;
  rtcReadToSystem(device: string): Promise<number>;
  vsockListen(cid: number, port: number, backlog: number): VsockEndpoint;
  vsockAccept(fd: number): VsockEndpoint | null;
  watchFd(fd: number, events: number, cb: FdEventCallback, edge?: boolean): FdWatcher;
  getloadavg(): [number, number, number];
  sysconfClkTck(): number;
  readInto(fd: number, buffer: Uint8Array): number;
  writeBytes(fd: number, data: Uint8Array): number;
  writeLatin1(fd: number, text: string): number;
  setV8Flags(flags: string): boolean;
}

const BINDING_FUNCTIONS = [
  'statvfs',
  'fsfreeze',
  'fsthaw',
  'fstrim',
  'settimeofday',
  'rtcRead',
  'rtcSetFromSystem',
  'rtcReadToSystem',
  'vsockListen',
  'vsockAccept',
  'watchFd',
  'getloadavg',
  'sysconfClkTck',
  'readInto',
  'writeBytes',
  'writeLatin1',
  'setV8Flags',
] as const;

/**
 * Why an export object is not the binding this facade was written for, or null if it is.
 * (The parameter must not be called `exports`: compiled to CommonJS, this module's own constants
 * become `exports.EAGAIN` etc., which that name would shadow.)
 */
function bindingMismatch(addonExports: unknown): string | null {
  if (typeof addonExports !== 'object' || addonExports === null) return 'exports is not an object';
  const b = addonExports as Record<string, unknown>;
  if (b.abiVersion !== EXPECTED_ABI_VERSION) {
    return `abiVersion ${String(b.abiVersion)}, expected ${EXPECTED_ABI_VERSION} (stale build? run node-gyp rebuild)`;
  }
  const missing = BINDING_FUNCTIONS.filter((name) => typeof b[name] !== 'function');
  if (missing.length > 0) return `missing exports: ${missing.join(', ')}`;
  if (b.POLL_READABLE !== POLL_READABLE || b.POLL_WRITABLE !== POLL_WRITABLE || b.POLL_DISCONNECT !== POLL_DISCONNECT) {
    return 'poll event constants differ from libuv values the facade assumes';
  }
  if (b.EAGAIN !== EAGAIN || b.EINTR !== EINTR) return 'errno constants differ from the values the facade assumes';
  return null;
}

function facade(binding: QgaNativeBinding, loadedFrom: string): NativeHelper {
  return {
    available: true,
    loadedFrom,
    statvfs: (p) => binding.statvfs(p),
    fsfreeze: (p) => binding.fsfreeze(p),
    fsthaw: (p) => binding.fsthaw(p),
    fstrim: (p, minimum) => binding.fstrim(p, minimum ?? 0n),
    setTimeOfDay: (seconds, microseconds) => binding.settimeofday(seconds, microseconds),
    rtcRead: (device = DEFAULT_RTC_DEVICE) => binding.rtcRead(device),
    rtcSetFromSystem: (device = DEFAULT_RTC_DEVICE) => binding.rtcSetFromSystem(device),
    rtcReadToSystem: (device = DEFAULT_RTC_DEVICE) => binding.rtcReadToSystem(device),
    vsockListen: (cid, port, backlog) => binding.vsockListen(cid, port, backlog),
    vsockAccept: (fd) => binding.vsockAccept(fd),
    watchFd: (fd, events, onEvent, edge = false) => binding.watchFd(fd, events, onEvent, edge),
    getloadavg: () => binding.getloadavg(),
    clkTck: () => binding.sysconfClkTck(),
    // The per-request calls are the addon's functions themselves, not wrappers: one JS call less
    // each (they do not use `this`).
    readInto: binding.readInto,
    writeBytes: binding.writeBytes,
    writeLatin1: binding.writeLatin1,
    setV8Flags: (flags) => binding.setV8Flags(flags),
  };
}

/**
 * Where a source checkout keeps the build: `<repo>/build/Release/qga_native.node`, relative to this
 * file whether it runs from src/native (tsx) or dist/src/native (tsc). The single-executable
 * packaging prepends its own copy next to the binary.
 */
export function defaultNativeCandidates(moduleDir: string = __dirname): string[] {
  const relative = path.join('build', 'Release', 'qga_native.node');
  const fromSource = path.resolve(moduleDir, '..', '..', relative);
  const fromDist = path.resolve(moduleDir, '..', '..', '..', relative);
  return fromSource === fromDist ? [fromSource] : [fromSource, fromDist];
}

export interface LoadNativeOptions {
  candidates: readonly string[];
  logger?: { warn(msg: string): void };
  /** Injected for tests; defaults to process.dlopen. */
  dlopen?: (module: { exports: unknown }, filename: string) => void;
}

/** Tries each candidate in order; never throws. */
export function loadNativeHelper(opts: LoadNativeOptions): NativeHelper | NativeUnavailable {
  const dlopen = opts.dlopen ?? ((module, filename) => process.dlopen(module, filename));
  const failures: string[] = [];
  for (const candidate of opts.candidates) {
    try {
      if (!fs.existsSync(candidate)) {
        failures.push(`${candidate}: not found`);
        continue;
      }
      const module: { exports: unknown } = { exports: {} };
      dlopen(module, candidate);
      const mismatch = bindingMismatch(module.exports);
      if (mismatch !== null) {
        failures.push(`${candidate}: ${mismatch}`);
        continue;
      }
      return facade(module.exports as QgaNativeBinding, candidate);
    } catch (e) {
      failures.push(`${candidate}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const reason = failures.length > 0 ? failures.join('; ') : 'no candidate paths given';
  try {
    opts.logger?.warn(
      `native helper unavailable (${reason}); disabled commands: ${NATIVE_COMMANDS.join(', ')}`,
    );
  } catch {
    // A failing logger must not turn a missing helper into a crash.
  }
  return { available: false, reason };
}
