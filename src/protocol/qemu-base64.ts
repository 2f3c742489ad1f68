/**
 * qemu's qbase64_decode(), used by every command that takes base64 from the host (guest-exec
 * input-data, guest-set-user-password, guest-file-write).
 *
 * qemu first checks the characters (A–Z a–z 0–9 + / = and "\n", anything else gives
 * `Base64 data contains invalid characters`) and then hands the text to GLib's g_base64_decode,
 * which is lenient: newlines are skipped, the text is taken in groups of four, "=" counts as a
 * zero digit, an incomplete last group is dropped, and a group yields one byte, plus a second
 * unless its third character is "=", plus a third unless its fourth is "=". Node's Buffer decoder
 * differs on the odd inputs ("AB=C", "AAA", "QQ==QQ=="), so it is only used for text in the
 * canonical form where both agree.
 */
import { Errors } from './errors';

const FORBIDDEN = /[^A-Za-z0-9+/=\n]/;

const RANK = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((c, i) => (RANK[c.charCodeAt(0)] = i));
RANK['='.charCodeAt(0)] = 0;

/** Decode like qbase64_decode(text, -1, ...); throws the qemu-ga GenericError on a bad character. */
export function decodeQemuBase64(text: string): Buffer {
  // qemu-ga passes the string with length -1, so it ends at the first NUL, as strlen() would.
  const nul = text.indexOf('\0');
  const input = nul >= 0 ? text.slice(0, nul) : text;
  if (FORBIDDEN.test(input)) throw Errors.base64Invalid();
  const compact = input.includes('\n') ? input.replace(/\n/g, '') : input;
  if (isCanonical(compact)) return Buffer.from(compact, 'base64');
  return decodeLikeGlib(compact);
}

/** Whole groups of four, with "=" only as the last one or two characters. */
function isCanonical(digits: string): boolean {
  if (digits.length % 4 !== 0) return false;
  const pad = digits.indexOf('=');
  if (pad < 0) return true;
  return pad >= digits.length - 2 && (pad === digits.length - 1 || digits[digits.length - 1] === '=');
}

/** g_base64_decode on text that holds only alphabet characters and "=". */
function decodeLikeGlib(digits: string): Buffer {
  const out = Buffer.alloc(Math.floor(digits.length / 4) * 3);
  let n = 0;
  for (let i = 0; i + 4 <= digits.length; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) v = (v << 6) | (RANK[digits.charCodeAt(i + j)] as number);
    out[n++] = (v >> 16) & 0xff;
    if (digits[i + 2] !== '=') out[n++] = (v >> 8) & 0xff;
    if (digits[i + 3] !== '=') out[n++] = v & 0xff;
  }
  return out.subarray(0, n);
}
