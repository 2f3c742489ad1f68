/**
 * getpwnam() over the text of /etc/passwd, as glibc's "files" NSS backend reads it: one account
 * per line, `name:password:uid:gid:gecos:home:shell`; blank lines, lines starting with "#" (after
 * leading blanks) and lines that do not parse are skipped; the first line with the name wins.
 */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  dir: string;
}

export function findPasswdEntry(text: string, name: string): PasswdEntry | null {
  for (const line of text.split('\n')) {
    const entry = parsePasswdLine(line);
    if (entry && entry.name === name) return entry;
  }
  return null;
}

/** One line, or null when glibc would skip it. Also reads `getent passwd` output. */
export function parsePasswdLine(line: string): PasswdEntry | null {
  const trimmed = line.replace(/^[ \t]+/, '');
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const fields = trimmed.split(':');
  if (fields.length < 6) return null;
  const [name, , uidText, gidText, , dir] = fields as [string, string, string, string, string, string];
  if (name === '' || !/^\d+$/.test(uidText) || !/^\d+$/.test(gidText)) return null;
  const uid = Number(uidText);
  const gid = Number(gidText);
  if (uid > 0xffffffff || gid > 0xffffffff) return null;
  return { name, uid, gid, dir };
}
