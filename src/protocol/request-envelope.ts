/**
 * The request envelope check (qmp_dispatch_check_obj): which members a request may have and
 * what they must be. Members are examined in qemu's QDict iteration order, so when a request
 * has several problems we report the same one qemu-ga does.
 */
import { Errors, type QgaError } from './errors';
import { isJsonObject, type JsonObject, type JsonValue } from './json-value';
import { qdictOrder } from './qdict-order';

export type Envelope =
  | { ok: true; execute: string; args: JsonObject | undefined; id: JsonValue | undefined }
  | { ok: false; error: QgaError; id: JsonValue | undefined };

export function readEnvelope(request: JsonValue): Envelope {
  if (!isJsonObject(request)) return { ok: false, error: Errors.inputNotObject(), id: undefined };
  // The common case: only known members, all well-formed, seen in one pass over the members
  // (asking a null-prototype object for a member it lacks, such as an absent id, takes V8's
  // slow path). Order only matters when several members are wrong, so the QDict walk below
  // runs only then.
  let execute: JsonValue | undefined;
  let args: JsonValue | undefined;
  let id: JsonValue | undefined;
  let onlyKnown = true;
  for (const key in request) {
    if (key === 'execute') execute = request[key];
    else if (key === 'arguments') args = request[key];
    else if (key === 'id') id = request[key];
    else {
      onlyKnown = false;
      break;
    }
  }
  if (onlyKnown && typeof execute === 'string' && (args === undefined || isJsonObject(args))) {
    return { ok: true, execute, args, id };
  }
  id = request['id'];
  let hasExecute = false;
  for (const key of qdictOrder(Object.keys(request))) {
    const value = request[key] as JsonValue;
    if (key === 'execute') {
      if (typeof value !== 'string') return { ok: false, error: Errors.executeNotString(), id };
      hasExecute = true;
    } else if (key === 'arguments') {
      if (!isJsonObject(value)) return { ok: false, error: Errors.argumentsNotObject(), id };
    } else if (key !== 'id') {
      // exec-oob included: out-of-band execution is never allowed in qga.
      return { ok: false, error: Errors.memberUnexpected(key), id };
    }
  }
  if (!hasExecute) return { ok: false, error: Errors.lacksExecute(), id };
  return { ok: true, execute: request['execute'] as string, args: request['arguments'] as JsonObject | undefined, id };
}
