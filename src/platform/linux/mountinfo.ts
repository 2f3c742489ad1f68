/**
 * The mount list behind guest-fsfreeze-*, guest-fstrim and guest-get-fsinfo: /proc/self/mountinfo
 * (and qemu-ga's /proc/self/mounts fallback) parsed, then filtered with upstream qemu-ga 10.x
 * rules. The filters need to stat device nodes; that I/O is injected as a `StatDev` function.
 */

/** One /proc/self/mountinfo line (proc(5)); root, mountPoint and source have escapes decoded. */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  root: string;
  mountPoint: string;
  /** Per-mount options, e.g. `rw,relatime`. */
  options: string;
  /** Optional fields such as `shared:1`, possibly none. */
  optionalFields: string[];
  fsType: string;
  source: string;
  superOptions: string;
}

/** One /proc/self/mounts (mtab) entry as glibc's getmntent returns it. */
export interface MtabEntry {
  source: string;
  mountPoint: string;
  fsType: string;
  options: string;
  freq: number;
  passno: number;
}

/** A mount qemu-ga would freeze, trim or describe (its FsMount). */
export interface FsMount {
  mountPoint: string;
  fsType: string;
  major: number;
  minor: number;
}

/**
 * What stat(2) says about a mount source: a block device with its st_rdev, a directory (the
 * source of a bind mount in mtab), or anything else, including a failed stat.
 */
export type DevStat = { kind: 'block'; major: number; minor: number } | { kind: 'directory' } | { kind: 'other' };
export type StatDev = (source: string) => DevStat;

function utf8Bytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/**
 * qemu-ga's decode_mntname: `\\` is one backslash and any `\NNN` with N in 0-3,0-7,0-7 is that
 * byte (the kernel writes space, tab, newline and backslash as \040 \011 \012 \134); any other
 * backslash is kept. Works on bytes so that escaped bytes of a UTF-8 name reassemble.
 */
export function decodeMountName(name: string): string {
  if (!name.includes('\\')) return name;
  const input = utf8Bytes(name);
  const out: number[] = [];
  const isDigit = (b: number | undefined, max: number): boolean => b !== undefined && b >= 0x30 && b <= 0x30 + max;
  for (let i = 0; i < input.length; i++) {
    const b = input[i] as number;
    if (b !== 0x5c) {
      out.push(b);
    } else if (input[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else if (isDigit(input[i + 1], 3) && isDigit(input[i + 2], 7) && isDigit(input[i + 3], 7)) {
      out.push(((input[i + 1] as number) - 0x30) * 64 + ((input[i + 2] as number) - 0x30) * 8 + ((input[i + 3] as number) - 0x30));
      i += 3;
    } else {
      out.push(b);
    }
  }
  return Buffer.from(out).toString('utf8');
}

/**
 * /proc/self/mountinfo → entries in file order. Fields are separated by single spaces (the
 * kernel escapes spaces inside fields); a line without the ` - ` separator or with a malformed
 * `major:minor` is skipped, as qemu-ga skips it.
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 9) continue;
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue;
    const device = /^([0-9]+):([0-9]+)$/.exec(fields[2] as string);
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    if (device === null || !Number.isInteger(mountId) || !Number.isInteger(parentId)) continue;
    entries.push({
      mountId,
      parentId,
      major: Number(device[1]),
      minor: Number(device[2]),
      root: decodeMountName(fields[3] as string),
      mountPoint: decodeMountName(fields[4] as string),
      options: fields[5] as string,
      optionalFields: fields.slice(6, separator),
      fsType: fields[separator + 1] as string,
      source: decodeMountName(fields[separator + 2] as string),
      superOptions: fields.slice(separator + 3).join(' '),
    });
  }
  return entries;
}

const sameDevice = (list: FsMount[], major: number, minor: number): boolean =>
  list.some((m) => m.major === major && m.minor === minor);

/**
 * qemu-ga 10.x's build_fs_mount_list over mountinfo entries, in file order (callers walk it in
 * reverse to freeze, and qemu-ga reports fsinfo and fstrim in reverse too):
 * - major 0 (a virtual or network filesystem) is skipped, except btrfs, which always reports
 *   major 0: its source is stat'ed and kept only if it is a block device, with that device's
 *   major:minor;
 * - an entry whose major:minor is already listed is skipped, so of several mounts of one device
 *   (bind mounts, btrfs subvolumes) only the first survives. (Until 9.2 every one was listed.)
 */
export function freezableMounts(entries: readonly MountInfoEntry[], statDev: StatDev): FsMount[] {
  const mounts: FsMount[] = [];
  for (const entry of entries) {
    let { major, minor } = entry;
    if (major === 0) {
      if (entry.fsType !== 'btrfs') continue;
      const st = statDev(entry.source);
      if (st.kind !== 'block') continue;
      ({ major, minor } = st);
    }
    if (sameDevice(mounts, major, minor)) continue;
    mounts.push({ mountPoint: entry.mountPoint, fsType: entry.fsType, major, minor });
  }
  return mounts;
}

/**
 * glibc's getmntent decoding, which is narrower than qemu-ga's: only \040 \011 \012 \134 and
 * `\\` are recognised.
 */
export function decodeMtabField(field: string): string {
  return field.replace(/\\(040|011|012|134|\\)/g, (_, code: string) =>
    code === '040' ? ' ' : code === '011' ? '\t' : code === '012' ? '\n' : '\\',
  );
}

/**
 * /proc/self/mounts (or any fstab-format file) → entries as getmntent returns them: blank lines
 * and `#` comments skipped, fields separated by runs of spaces and tabs, missing fields empty,
 * freq and passno 0 unless present.
 */
export function parseMtab(text: string): MtabEntry[] {
  const entries: MtabEntry[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/[ \t]+/);
    const field = (i: number): string => decodeMtabField(fields[i] ?? '');
    const number = (i: number): number => {
      const m = /^[+-]?[0-9]+/.exec(fields[i] ?? '');
      return m === null ? 0 : Number(m[0]);
    };
    entries.push({
      source: field(0),
      mountPoint: field(1),
      fsType: field(2),
      options: field(3),
      freq: number(4),
      // sscanf(" %d %d "): passno is read only when freq converted up to its end.
      passno: /^[+-]?[0-9]+$/.test(fields[4] ?? '') ? number(5) : 0,
    });
  }
  return entries;
}

/**
 * qemu-ga 10.x's mtab fallback (used only when /proc/self/mountinfo cannot be opened):
 * - sources not starting with `/` (pseudo and network filesystems) and smbfs/cifs are skipped;
 * - a source that is a directory is a bind mount and is skipped;
 * - a block device gives its major:minor; anything else (a regular file, a failed stat) is kept
 *   with 0:0, as qemu-ga does;
 * - an entry whose major:minor is already listed is skipped (first wins), 0:0 included.
 */
export function freezableMountsFromMtab(entries: readonly MtabEntry[], statDev: StatDev): FsMount[] {
  const mounts: FsMount[] = [];
  for (const entry of entries) {
    if (!entry.source.startsWith('/') || entry.fsType === 'smbfs' || entry.fsType === 'cifs') continue;
    const st = statDev(entry.source);
    if (st.kind === 'directory') continue;
    const [major, minor] = st.kind === 'block' ? [st.major, st.minor] : [0, 0];
    if (sameDevice(mounts, major, minor)) continue;
    mounts.push({ mountPoint: entry.mountPoint, fsType: entry.fsType, major, minor });
  }
  return mounts;
}
