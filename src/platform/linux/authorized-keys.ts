import { Errors } from '../../protocol/errors';

/**
 * qemu-ga's handling of ~/.ssh/authorized_keys as text (guest-ssh-*-authorized-keys). The file is
 * split on "\n" exactly as g_strsplit does (so a trailing newline yields a last, empty line, and an
 * empty file yields no lines at all); reading, ownership and modes are the caller's business.
 */

/** g_strsplit(contents, "\n", -1). */
function splitLines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

/** g_strstrip: GLib's ASCII whitespace (space, \t, \n, \f, \r; not \v) at both ends. */
function glibStrip(s: string): string {
  return s.replace(/^[ \t\n\f\r]+/, '').replace(/[ \t\n\f\r]+$/, '');
}

/**
 * guest-ssh-get-authorized-keys: every line stripped, empty lines and `#` comments dropped, and
 * the rest in REVERSE file order (qemu-ga prepends each key to its result list).
 */
export function keysFromFile(text: string): string[] {
  const keys: string[] = [];
  for (const line of splitLines(text)) {
    const key = glibStrip(line);
    if (key === '' || key.startsWith('#')) continue;
    keys.unshift(key);
  }
  return keys;
}

/** qemu-ga's only sanity check on a key it is asked to add or remove. */
export function validateKey(key: string): void {
  if (key.startsWith('#') || key.includes('\n')) {
    throw Errors.generic(`invalid OpenSSH public key: '${key}'`);
  }
}

/** Checks every key, in order, and throws for the first invalid one, before anything is touched. */
export function validateKeys(keys: readonly string[]): void {
  for (const key of keys) validateKey(key);
}

/**
 * guest-ssh-add-authorized-keys: the new file text. `existing` is the current file (null when it
 * is missing or unreadable, which qemu-ga treats like an empty file); with `reset` it is ignored.
 * Existing lines stay as they are (blank lines and comments included), each key not already
 * present as a whole line is appended, and the result is the lines joined by "\n" with no
 * trailing newline. A file that ended in "\n" therefore gets a blank line before the first added
 * key, as with qemu-ga. Validate the keys first (validateKeys).
 */
export function addKeys(existing: string | null, keys: readonly string[], reset: boolean): string {
  const lines = reset || existing === null ? [] : splitLines(existing);
  for (const key of keys) {
    if (!lines.includes(key)) lines.push(key);
  }
  return lines.join('\n');
}

/**
 * guest-ssh-remove-authorized-keys: the new file text, every line exactly equal to one of the
 * keys removed and everything else kept byte for byte, including a trailing newline. (A missing
 * file is not an error for qemu-ga and is left missing; that is the caller's check.)
 */
export function removeKeys(text: string, keys: readonly string[]): string {
  const remove = new Set(keys);
  return splitLines(text)
    .filter((line) => !remove.has(line))
    .join('\n');
}
