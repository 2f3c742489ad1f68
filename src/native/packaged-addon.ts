/**
 * Where the native helper comes from when the agent runs as the single executable (dist/qga-ts,
 * /usr/sbin/qga-ts), and from a checkout otherwise.
 *
 * A single executable cannot dlopen() a file inside itself, so the addon travels twice: as a
 * packaged file (the .deb puts it in /usr/lib/qga-ts/) and as a SEA asset inside the binary. At
 * start-up, in this order:
 *   1. a packaged copy: `<dir of binary>/qga_native.node`, `<dir of binary>/../lib/qga-ts/…`,
 *      `/usr/lib/qga-ts/…`;
 *   2. an earlier extraction of the embedded asset, named by its sha256, in an exec-capable
 *      directory: reused after comparing its bytes with the asset, WITHOUT writing anything. A restart while the
 *      guest is frozen (Restart=always after a crash or kill -9) must never write: the write would
 *      block in D state on the frozen filesystem and nobody could thaw it;
 *   3. a fresh extraction into the first directory that is ours, exec-capable and writable —
 *      skipped when the caller says filesystems may be frozen.
 * If all of that fails the agent runs without the helper and the commands needing it are
 * reported disabled (NativeUnavailable), with every reason in one log line.
 *
 * The directories are chosen, not taken from a library default: /var/lib/qga-ts for root (the
 * .deb creates it), $XDG_RUNTIME_DIR/qga-ts, /run/qga-ts for root, and last a private
 * <tmpdir>/qga-ts-<uid>. Never $HOME: a boot-time root daemon may have no HOME, a read-only one, or
 * ProtectHome=. /tmp and /run are often mounted noexec, where dlopen fails with EPERM/"failed to map
 * segment", so every directory is checked against its mount's options in /proc/self/mountinfo
 * (Node's fs.statfs has no f_flag) before anything is written there. Shared directories (/tmp) are
 * accepted only when they are real directories owned by us (or root) and not writable by others,
 * since a root daemon dlopen()s what it finds there.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseMountInfo, type MountInfoEntry } from '../platform/linux/mountinfo';
import {
  NATIVE_COMMANDS,
  defaultNativeCandidates,
  loadNativeHelper,
  type NativeHelper,
  type NativeUnavailable,
} from './native-helper';

/** The SEA asset key of our addon (packaging/build-sea.ts embeds it under this name). */
export const NATIVE_ASSET_KEY = 'qga_native.node';
/** The asset beside each embedded addon that holds its sha256 in hex, computed at build time. */
export const digestAssetKey = (assetKey: string): string => `${assetKey}.sha256`;
export const NATIVE_FILE_NAME = 'qga_native.node';
/** Where the .deb installs the packaged copy; also the conventional place for a manual install. */
export const PACKAGED_NATIVE_DIR = '/usr/lib/qga-ts';
/** Root's extraction directory; the .deb creates it and removes it on purge. */
export const ROOT_EXTRACTION_DIR = '/var/lib/qga-ts';

/** The part of node:sea this module uses. */
export interface SeaAssets {
  isSea(): boolean;
  /** Throws when there is no such asset. */
  getAsset(key: string): ArrayBuffer;
}

/** node:sea when the runtime has it (Node ≥ 20.12), else null. */
export function nodeSeaAssets(): SeaAssets | null {
  try {
    // A plain require: node:sea is a builtin, so bundling leaves it alone.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sea = require('node:sea') as SeaAssets;
    return typeof sea.isSea === 'function' ? sea : null;
  } catch {
    return null;
  }
}

function unique(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}

/** Packaged copies next to the executable, most specific first. */
export function packagedNativeCandidates(execPath: string): string[] {
  const dir = path.dirname(execPath);
  return unique([
    path.join(dir, NATIVE_FILE_NAME),
    path.resolve(dir, '..', 'lib', 'qga-ts', NATIVE_FILE_NAME),
    path.join(PACKAGED_NATIVE_DIR, NATIVE_FILE_NAME),
  ]);
}

/** Extraction directories in order of preference for this user. */
export function extractionDirectories(uid: number, env: Readonly<Record<string, string | undefined>>, tmpdir: string): string[] {
  const dirs: string[] = [];
  if (uid === 0) dirs.push(ROOT_EXTRACTION_DIR);
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && path.isAbsolute(runtime)) dirs.push(path.join(runtime, 'qga-ts'));
  if (uid === 0) dirs.push('/run/qga-ts');
  dirs.push(path.join(tmpdir, `qga-ts-${uid}`));
  return unique(dirs);
}

/** The content-addressed file name of an asset: `<stem>-<sha256>.node`. */
export function contentAddressedName(assetKey: string, sha256Hex: string): string {
  const stem = assetKey.endsWith('.node') ? assetKey.slice(0, -'.node'.length) : assetKey;
  return `${stem}-${sha256Hex}.node`;
}

/**
 * The mount holding an absolute, symlink-free path: the longest mount point that is the path or a
 * parent of it; of several mounts on the same point the last one listed is on top.
 */
export function mountHolding(realPath: string, mounts: readonly MountInfoEntry[]): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = mp === '/' || realPath === mp || realPath.startsWith(`${mp}/`);
    if (inside && (best === undefined || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** Why code may not be mapped from (or files written to) that mount, or null when it can. */
export function mountRefusal(mount: MountInfoEntry | undefined, needWrite: boolean): string | null {
  if (mount === undefined) return 'no mount found in /proc/self/mountinfo';
  const options = mount.options.split(',');
  if (options.includes('noexec')) return `${mount.mountPoint} is mounted noexec`;
  if (needWrite && (options.includes('ro') || mount.superOptions.split(',').includes('ro'))) {
    return `${mount.mountPoint} is mounted read-only`;
  }
  return null;
}

export interface LocateEmbeddedOptions {
  /** false when filesystems may be frozen: only an existing, verified copy may be used. */
  allowWrite: boolean;
  directories: readonly string[];
  uid: number;
  pid: number;
  /** /proc/self/mountinfo text */
  mountInfo: string;
  /**
   * The data's sha256 in hex when the build recorded it (the `.sha256` asset); computed here
   * otherwise, which loads node:crypto.
   */
  sha256?: string | undefined;
}

export type LocateResult = { path: string; written: boolean } | { path: null; reasons: string[] };

const sha256 = (data: Uint8Array): string =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('node:crypto') as typeof import('node:crypto')).createHash('sha256').update(data).digest('hex');

/** A recorded digest that is well-formed, else null (then the data is hashed here). */
function recordedDigest(sea: SeaAssets, assetKey: string): string | undefined {
  try {
    const text = Buffer.from(sea.getAsset(digestAssetKey(assetKey))).toString('latin1').trim();
    return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Why we must not trust (or write into) this directory, or null. Missing directories are not refused here. */
function directoryRefusal(dir: string, uid: number): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? null : `${dir}: ${(e as Error).message}`;
  }
  if (!st.isDirectory()) return `${dir}: not a directory`;
  if (st.uid !== uid && st.uid !== 0) return `${dir}: owned by uid ${st.uid}, not by us`;
  if ((st.mode & 0o022) !== 0) return `${dir}: writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** The realpath of the nearest existing ancestor, for the mount lookup of a not-yet-created dir. */
function nearestExisting(dir: string): string | null {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      return fs.realpathSync(d);
    } catch {
      if (path.dirname(d) === d) return null;
    }
  }
}

/**
 * An existing copy that is ours and has exactly the asset's bytes; reads only. Comparing the
 * bytes is both stricter than comparing a hash and cheaper (no hashing at start-up).
 */
function verifiedCopy(file: string, expected: Uint8Array, uid: number): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : (e as Error).message;
  }
  if (!st.isFile()) return 'not a regular file';
  if (st.uid !== uid && st.uid !== 0) return `owned by uid ${st.uid}`;
  if ((st.mode & 0o022) !== 0) return 'writable by group or others';
  try {
    return Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength).equals(fs.readFileSync(file)) ? null : 'content does not match its name';
  } catch (e) {
    return (e as Error).message;
  }
}

function ensureDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

function writeAtomically(dir: string, name: string, data: Uint8Array, pid: number): void {
  const temp = path.join(dir, `.${name}.${pid}.tmp`);
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o444);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(temp, path.join(dir, name));
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw e;
  }
}

/**
 * A file holding `data` that may be dlopen()ed: an existing content-addressed copy when one is
 * there (nothing written), else a new one when writing is allowed. Never throws.
 */
export function locateEmbeddedAddon(assetKey: string, data: Uint8Array, opts: LocateEmbeddedOptions): LocateResult {
  const name = contentAddressedName(assetKey, opts.sha256 ?? sha256(data));
  const mounts = parseMountInfo(opts.mountInfo);
  const reasons: string[] = [];
  const usable: string[] = [];
  for (const dir of opts.directories) {
    const refusal = directoryRefusal(dir, opts.uid);
    if (refusal !== null) {
      reasons.push(refusal);
      continue;
    }
    const real = nearestExisting(dir);
    const mountProblem = real === null ? `${dir}: no existing ancestor` : mountRefusal(mountHolding(real, mounts), false);
    if (mountProblem !== null) {
      reasons.push(`${dir}: ${mountProblem}`);
      continue;
    }
    const file = path.join(dir, name);
    const problem = verifiedCopy(file, data, opts.uid);
    if (problem === null) return { path: file, written: false };
    if (problem !== 'absent') reasons.push(`${file}: ${problem}`);
    usable.push(dir);
  }
  if (!opts.allowWrite) {
    reasons.push(`no extracted copy of ${assetKey} to reuse, and extracting is not allowed now (filesystems may be frozen)`);
    return { path: null, reasons };
  }
  for (const dir of usable) {
    const real = nearestExisting(dir);
    const readOnly = real === null ? 'no existing ancestor' : mountRefusal(mountHolding(real, mounts), true);
    if (readOnly !== null) {
      reasons.push(`${dir}: ${readOnly}`);
      continue;
    }
    try {
      ensureDirectory(dir);
      // Checked again now that it exists: someone else may have created it in between.
      const refusal = directoryRefusal(dir, opts.uid);
      if (refusal !== null) {
        reasons.push(refusal);
        continue;
      }
      writeAtomically(dir, name, data, opts.pid);
      // Re-check what is now there: another process may have raced us into a shared directory.
      const problem = verifiedCopy(path.join(dir, name), data, opts.uid);
      if (problem === null) return { path: path.join(dir, name), written: true };
      reasons.push(`${path.join(dir, name)}: ${problem} after writing`);
    } catch (e) {
      reasons.push(`${dir}: cannot extract: ${(e as Error).message}`);
    }
  }
  if (usable.length === 0 && reasons.length === 0) reasons.push('no extraction directory');
  return { path: null, reasons };
}

export interface AgentNativeOptions {
  logger?: { warn(msg: string): void; info?(msg: string): void };
  /**
   * False when the previous instance may have left filesystems frozen (the statedir's
   * qga.state.isfrozen marker): then nothing is extracted, only existing copies are used.
   */
  allowExtraction: boolean;
  // Injected for tests; the defaults are this process's.
  sea?: SeaAssets | null;
  execPath?: string;
  uid?: number;
  pid?: number;
  env?: Readonly<Record<string, string | undefined>>;
  tmpdir?: string;
  mountInfo?: () => string;
  packagedCandidates?: readonly string[];
  extractionDirs?: readonly string[];
  checkoutCandidates?: readonly string[];
  dlopen?: (module: { exports: unknown }, filename: string) => void;
}

function unavailable(reasons: readonly string[], opts: AgentNativeOptions): NativeUnavailable {
  const reason = reasons.join('; ');
  try {
    opts.logger?.warn(`native helper unavailable (${reason}); disabled commands: ${NATIVE_COMMANDS.join(', ')}`);
  } catch {
    // A failing logger must not turn a missing helper into a crash.
  }
  return { available: false, reason };
}

/**
 * The native helper for this process: from a checkout, build/Release; inside the single
 * executable, the packaged copy, else the embedded asset (see the header). Never throws.
 */
export function loadAgentNativeHelper(opts: AgentNativeOptions): NativeHelper | NativeUnavailable {
  const sea = opts.sea !== undefined ? opts.sea : nodeSeaAssets();
  const dlopen = opts.dlopen;
  if (sea === null || !sea.isSea()) {
    const checkout = opts.checkoutCandidates ?? defaultNativeCandidates();
    return loadNativeHelper({ candidates: checkout, ...(opts.logger && { logger: opts.logger }), ...(dlopen && { dlopen }) });
  }

  const reasons: string[] = [];
  const packaged = loadNativeHelper({
    candidates: opts.packagedCandidates ?? packagedNativeCandidates(opts.execPath ?? process.execPath),
    ...(dlopen && { dlopen }),
  });
  if (packaged.available) return packaged;
  reasons.push(packaged.reason);

  let data: Uint8Array;
  try {
    data = new Uint8Array(sea.getAsset(NATIVE_ASSET_KEY));
  } catch (e) {
    reasons.push(`no embedded ${NATIVE_ASSET_KEY} asset: ${(e as Error).message}`);
    return unavailable(reasons, opts);
  }
  let mountInfo = '';
  try {
    mountInfo = (opts.mountInfo ?? (() => fs.readFileSync('/proc/self/mountinfo', 'utf8')))();
  } catch (e) {
    reasons.push(`cannot read /proc/self/mountinfo: ${(e as Error).message}`);
    return unavailable(reasons, opts);
  }
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const located = locateEmbeddedAddon(NATIVE_ASSET_KEY, data, {
    allowWrite: opts.allowExtraction,
    directories: opts.extractionDirs ?? extractionDirectories(uid, opts.env ?? process.env, opts.tmpdir ?? os.tmpdir()),
    uid,
    pid: opts.pid ?? process.pid,
    mountInfo,
    sha256: recordedDigest(sea, NATIVE_ASSET_KEY),
  });
  if (located.path === null) {
    reasons.push(...located.reasons);
    return unavailable(reasons, opts);
  }
  const extracted = loadNativeHelper({ candidates: [located.path], ...(dlopen && { dlopen }) });
  if (extracted.available) {
    if (located.written) opts.logger?.info?.(`native helper extracted to ${located.path}`);
    return extracted;
  }
  reasons.push(extracted.reason);
  return unavailable(reasons, opts);
}

/**
 * The binding of an npm dependency (serialport's) embedded under `assetKey`, for the single
 * executable's bundle, where packaging/build-sea.ts routes that package's node-gyp-build call here.
 * Same order as our helper: `<dir of binary>/<assetKey>`, `/usr/lib/qga-ts/<assetKey>`, then a
 * verified content-addressed extraction. It is loaded only when a transport needs it, after start-up,
 * so extracting is allowed; a restart while frozen still finds the earlier copy and writes nothing.
 * Throws like node-gyp-build when nothing loads.
 */
export function loadEmbeddedDependencyAddon(assetKey: string): unknown {
  const reasons: string[] = [];
  const tryLoad = (file: string): unknown => {
    const module: { exports: unknown } = { exports: {} };
    process.dlopen(module, file);
    return module.exports;
  };
  const dir = path.dirname(process.execPath);
  for (const file of unique([path.join(dir, assetKey), path.resolve(dir, '..', 'lib', 'qga-ts', assetKey), path.join(PACKAGED_NATIVE_DIR, assetKey)])) {
    if (!fs.existsSync(file)) continue;
    try {
      return tryLoad(file);
    } catch (e) {
      reasons.push(`${file}: ${(e as Error).message}`);
    }
  }
  const sea = nodeSeaAssets();
  if (sea === null || !sea.isSea()) throw new Error(`${assetKey}: not running as the single executable`);
  const uid = process.getuid?.() ?? 0;
  const located = locateEmbeddedAddon(assetKey, new Uint8Array(sea.getAsset(assetKey)), {
    allowWrite: true,
    directories: extractionDirectories(uid, process.env, os.tmpdir()),
    uid,
    pid: process.pid,
    mountInfo: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    sha256: recordedDigest(sea, assetKey),
  });
  if (located.path === null) throw new Error(`cannot load the embedded ${assetKey}: ${[...reasons, ...located.reasons].join('; ')}`);
  return tryLoad(located.path);
}
