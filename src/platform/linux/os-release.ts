/**
 * os-release → the GuestOSInfo fields qemu-ga takes from it. qemu-ga does not parse os-release as
 * a shell file: it prepends `[os-release]\n`, loads the result as a GLib key file, and post-edits
 * each raw value with its own quirky unquoting. Both layers are reproduced here, because a file
 * GLib rejects gives *no* fields (and makes qemu-ga fall back to /usr/lib/os-release).
 * Every rule below was checked against qemu-ga 7.2 with QGA_OS_RELEASE pointing at crafted files.
 */

/** The os-release part of GuestOSInfo, wire names; absent keys are omitted. */
export interface GuestOsReleaseInfo {
  id?: string;
  name?: string;
  'pretty-name'?: string;
  version?: string;
  'version-id'?: string;
  variant?: string;
  'variant-id'?: string;
}

const FIELDS: ReadonlyArray<readonly [keyof GuestOsReleaseInfo, string]> = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['pretty-name', 'PRETTY_NAME'],
  ['version', 'VERSION'],
  ['version-id', 'VERSION_ID'],
  ['variant', 'VARIANT'],
  ['variant-id', 'VARIANT_ID'],
];

const GROUP = 'os-release';

/** g_ascii_isspace: note that GLib, unlike C's isspace, does not count \v. */
const isGlibSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';

/** g_key_file_is_key_name: non-empty, no `=[]`, no leading/trailing space, optional `[locale]`. */
function isKeyName(key: string): boolean {
  let q = 0;
  while (q < key.length && key[q] !== '=' && key[q] !== '[' && key[q] !== ']') q++;
  if (q === 0) return false;
  if (key[0] === ' ' || key[q - 1] === ' ') return false;
  if (key[q] === '[') {
    q++;
    const locale = /^[\p{L}\p{N}\-_.@]*/u.exec(key.slice(q)) as RegExpExecArray;
    q += locale[0].length;
    if (key[q] !== ']') return false;
    q++;
  }
  return q === key.length;
}

/** g_key_file_is_group_name: non-empty, no brackets, no ASCII control characters. */
const isGroupName = (name: string): boolean => name !== '' && !/[[\]\x00-\x1f\x7f]/.test(name);

/**
 * GLib key file → raw values of the `os-release` group (last duplicate wins), or null when
 * GLib would refuse the whole file.
 */
function parseKeyFile(content: string): Map<string, string> | null {
  const values = new Map<string, string>();
  let group = '';
  const pieces = content.split('\n');
  for (let index = 0; index < pieces.length; index++) {
    let line = pieces[index] as string;
    const terminated = index < pieces.length - 1;
    // Only a line that ended in \n has one \r chopped; an unterminated last line keeps it.
    if (terminated && line.endsWith('\r')) line = line.slice(0, -1);
    let start = 0;
    while (isGlibSpace(line[start])) start++;
    line = line.slice(start);
    if (line === '' || line[0] === '#') continue;

    const closing = line.indexOf(']');
    if (line[0] === '[' && closing > 0 && /^[ \t]*$/.test(line.slice(closing + 1))) {
      const name = line.slice(1, closing);
      if (!isGroupName(name)) return null;
      group = name;
      continue;
    }

    const equals = line.indexOf('=');
    if (equals <= 0) return null; // neither group, pair nor comment
    let keyEnd = equals;
    while (isGlibSpace(line[keyEnd - 1])) keyEnd--;
    const key = line.slice(0, keyEnd);
    if (!isKeyName(key)) return null;
    let valueStart = equals + 1;
    while (isGlibSpace(line[valueStart])) valueStart++;
    const value = line.slice(valueStart);
    // GLib insists that an Encoding key in the first group names UTF-8.
    if (group === GROUP && key === 'Encoding' && value.toLowerCase() !== 'utf-8') return null;
    if (group === GROUP) values.set(key, value);
  }
  return values;
}

/**
 * qemu-ga's post-edit of a raw value (ga_osrelease_replace_special), including its accidents:
 * - not starting with `"`: cut at the first space, then at the first `;`. Single quotes are
 *   meant to be handled like double quotes but the test can never match, so `'Test 1'` → `'Test`.
 * - starting with `"`: `\$ \' \" \\ \`` lose their backslash, any other backslash is kept, and
 *   the value ends at the next unescaped `"`. The edit is done in place in C, so when there is no
 *   closing quote the unused tail of the original string survives: `"abc` → `abc` + `c`.
 */
export function unquoteOsReleaseValue(raw: string): string {
  if (raw[0] !== '"') {
    let cut = raw.indexOf(' ');
    let value = cut >= 0 ? raw.slice(0, cut) : raw;
    cut = value.indexOf(';');
    if (cut >= 0) value = value.slice(0, cut);
    return value;
  }
  const chars = Array.from(raw);
  let write = 0;
  let read = 1;
  while (read < chars.length) {
    if (chars[read] === '\\') {
      read++;
      if (!['$', "'", '"', '\\', '`'].includes(chars[read] as string)) read--;
    } else if (chars[read] === '"') {
      return chars.slice(0, write).join('');
    }
    chars[write++] = chars[read++] as string;
  }
  return chars.join('');
}

/**
 * os-release file contents → the fields qemu-ga reports, or null when qemu-ga would reject the
 * file (not UTF-8, or not a valid GLib key file once `[os-release]` is prepended). Pass a Buffer to
 * get the UTF-8 check; a NUL byte ends the file, as it does for qemu-ga's C strings.
 */
export function parseOsRelease(contents: Buffer | string): GuestOsReleaseInfo | null {
  let text: string;
  if (typeof contents === 'string') {
    const nul = contents.indexOf('\0');
    text = nul >= 0 ? contents.slice(0, nul) : contents;
  } else {
    const nul = contents.indexOf(0);
    const bytes = nul >= 0 ? contents.subarray(0, nul) : contents;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      return null;
    }
  }
  const values = parseKeyFile(`[${GROUP}]\n${text}`);
  if (values === null) return null;
  const info: GuestOsReleaseInfo = {};
  for (const [field, key] of FIELDS) {
    const raw = values.get(key);
    if (raw !== undefined) info[field] = unquoteOsReleaseValue(raw);
  }
  return info;
}
