/**
 * Reply lines exactly as qemu-ga writes them: `{"return": R, "id": I}` and
 * `{"id": I, "error": {"class": C, "desc": D}}` (QDict order), one line ending in `\n`.
 */
import type { QgaError } from './errors';
import type { JsonValue } from './json-value';
import { encodeJson } from './json-writer';

export function encodeReturn(value: unknown, id: JsonValue | undefined): string {
  const ret = value === undefined ? '{}' : encodeJson(value);
  return id === undefined ? `{"return": ${ret}}\n` : `{"return": ${ret}, "id": ${encodeJson(id)}}\n`;
}

export function encodeError(error: QgaError, id: JsonValue | undefined): string {
  const body = `"error": {"class": "${error.errorClass}", "desc": ${encodeJson(error.desc)}}`;
  return id === undefined ? `{${body}}\n` : `{"id": ${encodeJson(id)}, ${body}}\n`;
}
