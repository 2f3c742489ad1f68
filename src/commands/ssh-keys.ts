/**
 * guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys, guest-ssh-remove-authorized-keys
 * (reference §2.3; upstream qga/commands-posix-ssh.c). The text rules (order, stripping, newline
 * handling) live in platform/linux/authorized-keys.ts; this file does the user lookup, the
 * reading and the writing.
 *
 * The file is handled as bytes (latin1 strings), so lines in other encodings survive a rewrite
 * untouched; keys from the host are compared by their UTF-8 bytes.
 *
 * Differences from upstream, all about writing (the resulting file is the same):
 * - the new file is written to a temporary file in ~/.ssh (O_EXCL, mode 0600), chowned to the user
 *   and chmodded 0600 through its descriptor, then renamed over authorized_keys. Upstream renames
 *   first and then chowns/chmods by path, so a failure left a root-owned file behind, and a user
 *   who swapped the path for a symlink in between could have redirected the chown;
 * - a newly created ~/.ssh is likewise chowned/chmodded through a descriptor opened with
 *   O_NOFOLLOW.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import { addKeys, keysFromFile, removeKeys, validateKeys } from '../platform/linux/authorized-keys';
import { findPasswdEntry, parsePasswdLine, type PasswdEntry } from '../platform/linux/passwd';
import { Errors, GlibText, QgaError, strerror } from '../protocol/errors';

/** An open file or directory whose owner and mode are set through the descriptor. */
export interface OwnedHandle {
  writeAll(data: Buffer): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  chmod(mode: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls of this group. Failures reject with Node errno errors (`code`, `syscall`). */
export interface SshKeyFs {
  readFile(path: string): Promise<Buffer>;
  /** stat(2), following symlinks */
  stat(path: string): Promise<{ isDirectory(): boolean }>;
  mkdir(path: string, mode: number): Promise<void>;
  /** open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) */
  openDirectory(path: string): Promise<OwnedHandle>;
  /** open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode) */
  createExclusive(path: string, mode: number): Promise<OwnedHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export interface SshKeyDeps {
  /** getpwnam(): the account, or null when there is none. A rejection's errno becomes the message. */
  lookupUser(name: string): Promise<PasswdEntry | null>;
  fs: SshKeyFs;
  /** suffix of the temporary file name */
  tempSuffix(): string;
}

function wrapHandle(h: fsp.FileHandle): OwnedHandle {
  return {
    writeAll: (data) => h.writeFile(data),
    chown: (uid, gid) => h.chown(uid, gid),
    chmod: (mode) => h.chmod(mode),
    sync: () => h.sync(),
    close: () => h.close(),
  };
}

export const realSshKeyFs: SshKeyFs = {
  readFile: (p) => fsp.readFile(p),
  stat: (p) => fsp.stat(p),
  mkdir: async (p, mode) => {
    await fsp.mkdir(p, { mode });
  },
  openDirectory: async (p) =>
    wrapHandle(await fsp.open(p, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW)),
  createExclusive: async (p, mode) =>
    wrapHandle(
      await fsp.open(p, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode),
    ),
  rename: (a, b) => fsp.rename(a, b),
  unlink: (p) => fsp.unlink(p),
};

/**
 * getpwnam through /etc/passwd, then through `getent passwd` for accounts that only NSS knows
 * (LDAP, SSSD, systemd-homed), as glibc's getpwnam would find them too.
 */
export function createPasswdLookup(opts: { passwdFile?: string; useGetent?: boolean } = {}) {
  const passwdFile = opts.passwdFile ?? '/etc/passwd';
  const useGetent = opts.useGetent ?? true;
  return async (name: string): Promise<PasswdEntry | null> => {
    try {
      const found = findPasswdEntry((await fsp.readFile(passwdFile)).toString('utf8'), name);
      if (found) return found;
    } catch {
      // fall through to NSS
    }
    if (!useGetent || name === '') return null;
    return new Promise((resolve) => {
      execFile('getent', ['passwd', '--', name], { timeout: 10_000, encoding: 'utf8' }, (err, stdout) => {
        if (err) return resolve(null);
        const entry = parsePasswdLine(stdout.split('\n')[0] ?? '');
        // getent also answers numeric uids; getpwnam does not.
        resolve(entry && entry.name === name ? entry : null);
      });
    });
  };
}

export function defaultSshKeyDeps(): SshKeyDeps {
  return {
    lookupUser: createPasswdLookup(),
    fs: realSshKeyFs,
    tempSuffix: () => randomBytes(6).toString('hex'),
  };
}

export function createSshKeyHandlers(deps: SshKeyDeps) {
  const lookup = async (username: string): Promise<PasswdEntry> => {
    let entry: PasswdEntry | null;
    try {
      entry = await deps.lookupUser(username);
    } catch (e) {
      throw Errors.sshUserLookupFailed(username, strerror(e));
    }
    if (!entry) throw Errors.sshUserLookupFailed(username, GlibText.success);
    return entry;
  };

  const read = async (path: string): Promise<string> => {
    try {
      return (await deps.fs.readFile(path)).toString('latin1');
    } catch (e) {
      throw Errors.sshReadFailed(path, glibReadMessage(path, e));
    }
  };

  const isDirectory = async (path: string): Promise<boolean> => {
    try {
      return (await deps.fs.stat(path)).isDirectory();
    } catch {
      return false;
    }
  };

  const exists = async (path: string): Promise<boolean> => {
    try {
      await deps.fs.stat(path);
      return true;
    } catch {
      return false;
    }
  };

  const mkdirForUser = async (dir: string, user: PasswdEntry, mode: number): Promise<void> => {
    try {
      await deps.fs.mkdir(dir, mode);
    } catch (e) {
      throw Errors.sshMkdirFailed(dir, e);
    }
    let handle: OwnedHandle;
    try {
      handle = await deps.fs.openDirectory(dir);
    } catch (e) {
      throw Errors.sshChownFailed(dir, e);
    }
    try {
      await step(() => handle.chown(user.uid, user.gid), (e) => Errors.sshChownFailed(dir, e));
      await step(() => handle.chmod(mode), (e) => Errors.sshDirChmodFailed(dir, e));
    } finally {
      await handle.close().catch(() => undefined);
    }
  };

  /** g_file_set_contents + chown + chmod 0600, in an order that never exposes a half-made file. */
  const writeKeys = async (path: string, text: string, user: PasswdEntry): Promise<void> => {
    const temp = `${path}.${deps.tempSuffix()}`;
    let handle: OwnedHandle;
    try {
      handle = await deps.fs.createExclusive(temp, 0o600);
    } catch (e) {
      throw Errors.sshWriteFailed(path, GlibText.createFailed(temp, e));
    }
    let open = true;
    try {
      await step(() => handle.writeAll(Buffer.from(text, 'latin1')), (e) => Errors.sshWriteFailed(path, GlibText.writeFailed(temp, e)));
      await step(() => handle.sync(), (e) => Errors.sshWriteFailed(path, GlibText.fsyncFailed(temp, e)));
      await step(() => handle.chown(user.uid, user.gid), (e) => Errors.sshChownFailed(path, e));
      await step(() => handle.chmod(0o600), (e) => Errors.sshFileChmodFailed(path, e));
      open = false;
      await step(() => handle.close(), (e) => Errors.sshWriteFailed(path, GlibText.writeFailed(temp, e)));
      await step(() => deps.fs.rename(temp, path), (e) => Errors.sshWriteFailed(path, GlibText.renameFailed(temp, path, e)));
    } catch (e) {
      if (open) await handle.close().catch(() => undefined);
      await deps.fs.unlink(temp).catch(() => undefined);
      throw e;
    }
  };

  return {
    'guest-ssh-get-authorized-keys': async (args) => {
      const user = await lookup(args.username);
      const path = buildFilename(user.dir, '.ssh', 'authorized_keys');
      const keys = keysFromFile(await read(path)).map(fromBytes);
      return { keys };
    },

    'guest-ssh-add-authorized-keys': async (args) => {
      validateKeys(args.keys);
      const user = await lookup(args.username);
      const reset = args.reset ?? false;
      const sshDir = buildFilename(user.dir, '.ssh');
      const path = buildFilename(sshDir, 'authorized_keys');
      let existing: string | null = null;
      if (!reset) existing = await read(path).catch(() => null);
      if (existing === null && !(await isDirectory(sshDir))) await mkdirForUser(sshDir, user, 0o700);
      await writeKeys(path, addKeys(existing, args.keys.map(toBytes), reset), user);
    },

    'guest-ssh-remove-authorized-keys': async (args) => {
      validateKeys(args.keys);
      const user = await lookup(args.username);
      const path = buildFilename(user.dir, '.ssh', 'authorized_keys');
      if (!(await exists(path))) return;
      const text = await read(path);
      await writeKeys(path, removeKeys(text, args.keys.map(toBytes)), user);
    },
  } satisfies Pick<
    QgaCommandHandlers,
    'guest-ssh-get-authorized-keys' | 'guest-ssh-add-authorized-keys' | 'guest-ssh-remove-authorized-keys'
  >;
}

async function step(run: () => Promise<unknown>, fail: (e: unknown) => QgaError): Promise<void> {
  try {
    await run();
  } catch (e) {
    throw fail(e);
  }
}

/** g_file_get_contents' message: an open() failure, or a read() failure (a directory, say). */
function glibReadMessage(path: string, e: unknown): string {
  const syscall = (e as { syscall?: unknown } | null)?.syscall;
  return syscall === 'read' ? GlibText.readFailed(path, e) : GlibText.openFailed(path, e);
}

/** g_build_filename: join with "/", without doubling the separators at the joints. */
export function buildFilename(...parts: string[]): string {
  const kept = parts.filter((p) => p !== '');
  return kept
    .map((p, i) => {
      let s = i > 0 ? p.replace(/^\/+/, '') : p;
      if (i < kept.length - 1 && s !== '/') s = s.replace(/\/+$/, '');
      return s;
    })
    .filter((p, i) => p !== '' || i === 0)
    .join('/')
    .replace(/^\/\//, '/');
}

function toBytes(key: string): string {
  return Buffer.from(key, 'utf8').toString('latin1');
}

function fromBytes(line: string): string {
  return Buffer.from(line, 'latin1').toString('utf8');
}
