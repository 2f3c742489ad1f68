import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Errors } from '../../../src/protocol/errors';
import { newJsonObject } from '../../../src/protocol/json-value';
import { encodeJson, formatDouble, qdictBucket, tdbHash } from '../../../src/protocol/json-writer';
import { stringFromCBytes } from '../../../src/protocol/modified-utf8';
import { FIXTURES, errorReply } from './lexer-harness';

/** An object whose members are inserted in the given (schema) order, with placeholder values. */
function inOrder(names: readonly string[]): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const name of names) object[name] = 0;
  return object;
}

function memberOrder(json: string): string[] {
  return [...json.matchAll(/"([^"]+)": /g)].map((m) => m[1] as string);
}

describe('encodeJson: member order follows QDict buckets (reference Appendix A)', () => {
  // [struct, members in schema (insertion) order, members in the order qemu-ga writes them]
  const table: Array<[string, string[], string[]]> = [
    ['GuestFileRead', ['count', 'buf-b64', 'eof'], ['count', 'buf-b64', 'eof']],
    ['GuestFileWrite', ['count', 'eof'], ['count', 'eof']],
    ['GuestFileSeek', ['position', 'eof'], ['eof', 'position']],
    ['GuestAgentCommandInfo', ['name', 'enabled', 'success-response'], ['enabled', 'name', 'success-response']],
    [
      'GuestExecStatus',
      ['exited', 'exitcode', 'signal', 'out-data', 'err-data', 'out-truncated', 'err-truncated'],
      ['exitcode', 'err-data', 'out-data', 'err-truncated', 'signal', 'out-truncated', 'exited'],
    ],
    [
      'GuestOSInfo',
      ['kernel-release', 'kernel-version', 'machine', 'id', 'name', 'pretty-name', 'version', 'version-id',
        'variant', 'variant-id'],
      ['name', 'kernel-release', 'version', 'variant', 'pretty-name', 'version-id', 'variant-id',
        'kernel-version', 'machine', 'id'],
    ],
    ['GuestFilesystemTrimResult', ['path', 'trimmed', 'minimum', 'error'], ['minimum', 'path', 'trimmed', 'error']],
    [
      'GuestNetworkInterfaceStat',
      ['rx-bytes', 'rx-packets', 'rx-errs', 'rx-dropped', 'tx-bytes', 'tx-packets', 'tx-errs', 'tx-dropped'],
      ['tx-packets', 'tx-errs', 'rx-bytes', 'rx-dropped', 'rx-packets', 'rx-errs', 'tx-bytes', 'tx-dropped'],
    ],
    [
      'GuestDiskStats',
      ['read-sectors', 'read-ios', 'read-merges', 'write-sectors', 'write-ios', 'write-merges', 'discard-sectors',
        'discard-ios', 'discard-merges', 'flush-ios', 'read-ticks', 'write-ticks', 'discard-ticks', 'flush-ticks',
        'ios-pgr', 'total-ticks', 'weight-ticks'],
      ['discard-sectors', 'write-ios', 'discard-ios', 'discard-ticks', 'weight-ticks', 'read-ios', 'flush-ios',
        'write-sectors', 'write-merges', 'write-ticks', 'ios-pgr', 'read-sectors', 'read-merges', 'total-ticks',
        'discard-merges', 'flush-ticks', 'read-ticks'],
    ],
    [
      'GuestLinuxCpuStats',
      ['cpu', 'user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestnice'],
      ['cpu', 'guestnice', 'idle', 'steal', 'iowait', 'system', 'guest', 'nice', 'irq', 'user', 'softirq'],
    ],
    ['GuestTimezone', ['zone', 'offset'], ['zone', 'offset']],
    ['GuestUser', ['user', 'login-time', 'domain'], ['login-time', 'domain', 'user']],
    ['success envelope', ['return', 'id'], ['return', 'id']],
    ['error envelope', ['id', 'error'], ['id', 'error']],
    ['error envelope built the other way', ['error', 'id'], ['id', 'error']],
    ['error object', ['class', 'desc'], ['class', 'desc']],
  ];
  for (const [struct, schemaOrder, wireOrder] of table) {
    it(struct, () => {
      assert.deepEqual(memberOrder(encodeJson(inOrder(schemaOrder))), wireOrder);
    });
  }

  it('writes whole replies byte for byte like qemu-ga', () => {
    assert.equal(encodeJson({ return: {} }), '{"return": {}}');
    assert.equal(encodeJson({ return: {}, id: 1n }), '{"return": {}, "id": 1}');
    assert.equal(
      encodeJson({ id: 7n, error: { class: 'CommandNotFound', desc: 'The command guest-nope has not been found' } }),
      '{"id": 7, "error": {"class": "CommandNotFound", "desc": "The command guest-nope has not been found"}}',
    );
    assert.equal(
      errorReply(Errors.jsonStray('\uFFFD')),
      '{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n',
    );
    assert.equal(
      encodeJson({ return: { count: 5n, 'buf-b64': 'aGVsbG8=', eof: true } }),
      '{"return": {"count": 5, "buf-b64": "aGVsbG8=", "eof": true}}',
    );
  });

  it('inside one bucket the later-inserted member comes first', () => {
    // find two names sharing a bucket
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const name = `k${i}`;
      const other = seen.get(qdictBucket(name));
      if (other !== undefined) pair = [other, name];
      else seen.set(qdictBucket(name), name);
    }
    const [first, second] = pair;
    assert.deepEqual(memberOrder(encodeJson(inOrder([first, second]))), [second, first]);
    assert.deepEqual(memberOrder(encodeJson(inOrder([second, first]))), [first, second]);
    const asMap = new Map<string, unknown>([[first, 1], [second, 2]]);
    assert.deepEqual(memberOrder(encodeJson(asMap)), [second, first]);
  });

  it('hashes like the reference implementation, over modified UTF-8', () => {
    // values from the Python reference of Appendix A (U+0000 counted as C0 80)
    const expected: Array<[string, number]> = [
      ['return', 4214570897],
      ['id', 1668787174],
      ['error', 3306973673],
      ['class', 3280376019],
      ['desc', 206032249],
      ['execute', 1421325611],
      ['arguments', 1362049983],
      ['\u00e9', 3516110948],
      ['a\u0000b', 2540248920],
      ['', 12345],
    ];
    for (const [name, hash] of expected) assert.equal(tdbHash(name), hash, JSON.stringify(name));
  });

  it('skips undefined members; accepts null-prototype records, plain objects and Maps', () => {
    const record = newJsonObject();
    record['b'] = 1n;
    assert.equal(encodeJson({ a: undefined, b: 1n }), '{"b": 1}');
    assert.equal(encodeJson(record), '{"b": 1}');
    assert.equal(encodeJson(new Map([['b', 1n], ['a', undefined]])), '{"b": 1}');
    assert.equal(encodeJson({ a: undefined }), '{}');
    assert.equal(encodeJson({ __proto__: null, x: [] }), '{"x": []}');
    const withProto = JSON.parse('{"__proto__": 1}') as object;
    assert.equal(encodeJson(withProto), '{"__proto__": 1}');
  });

  it('refuses values JSON cannot carry', () => {
    assert.throws(() => encodeJson(undefined), TypeError);
    assert.throws(() => encodeJson([undefined]), TypeError);
    assert.throws(() => encodeJson(() => 1), TypeError);
    assert.throws(() => encodeJson(Symbol('x')), TypeError);
    assert.throws(() => encodeJson(new Date(0)), TypeError);
    assert.throws(() => encodeJson(Buffer.from('x')), TypeError);
    assert.throws(() => encodeJson(new Map([[1, 2]])), TypeError);
  });
});

describe('encodeJson: scalars', () => {
  it('writes arrays, keywords and bigints compactly', () => {
    assert.equal(encodeJson([]), '[]');
    assert.equal(encodeJson([1n, [2n, []], {}, null, true, false]), '[1, [2, []], {}, null, true, false]');
    assert.equal(encodeJson(18446744073709551615n), '18446744073709551615');
    assert.equal(encodeJson(-9223372036854775808n), '-9223372036854775808');
  });

  it('escapes strings to pure ASCII with upper-case hex', () => {
    let all = '';
    for (let c = 0; c < 0x80; c++) all += String.fromCharCode(c);
    assert.equal(
      encodeJson(all),
      '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000B\\f\\r\\u000E\\u000F' +
        '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001A\\u001B\\u001C\\u001D' +
        '\\u001E\\u001F !\\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`' +
        'abcdefghijklmnopqrstuvwxyz{|}~\\u007F"',
    );
    assert.equal(encodeJson('\u0080\u00e9\u20ac\uffFD'), '"\\u0080\\u00E9\\u20AC\\uFFFD"');
    assert.equal(encodeJson('😀 \u{10FFFD}'), '"\\uD83D\\uDE00 \\uDBFF\\uDFFD"');
  });

  it('writes \\uFFFD for what qemu could not decode: lone surrogates and noncharacters', () => {
    assert.equal(encodeJson('a\ud800b\udc00c'), '"a\\uFFFDb\\uFFFDc"');
    assert.equal(encodeJson('\ufdd0\ufdef\ufdf0\ufffe\uffff'), '"\\uFFFD\\uFFFD\\uFDF0\\uFFFD\\uFFFD"');
    assert.equal(encodeJson('\u{1FFFE}\u{10FFFF}'), '"\\uFFFD\\uFFFD"');
  });

  it('writes every double like glibc printf("%.17g") (test/fixtures/protocol/g17-cases.json)', () => {
    const cases = JSON.parse(readFileSync(join(FIXTURES, 'g17-cases.json'), 'utf8')) as Array<[string, string]>;
    assert.ok(cases.length > 4000);
    for (const [bits, expected] of cases) {
      const value = Buffer.from(bits, 'hex').readDoubleBE(0);
      assert.equal(formatDouble(value), expected, `${bits} (${value})`);
      assert.equal(encodeJson(value), expected);
    }
    assert.equal(formatDouble(NaN), 'nan');
  });

  it('echoes an id of every JSON type', () => {
    const ids: Array<[unknown, string]> = [
      [1n, '1'],
      ['abc', '"abc"'],
      [{ x: [1n, 2n] }, '{"x": [1, 2]}'],
      [true, 'true'],
      [false, 'false'],
      [null, 'null'],
      [[], '[]'],
      [1500, '1500'],
      [0.1, '0.10000000000000001'],
      [18446744073709551615n, '18446744073709551615'],
      [1.8446744073709552e19, '1.8446744073709552e+19'],
      ['\u00e9', '"\\u00E9"'],
      [Infinity, 'inf'],
    ];
    for (const [id, text] of ids) {
      assert.equal(encodeJson({ return: {}, id }), `{"return": {}, "id": ${text}}`);
    }
  });
});

describe('stringFromCBytes: how qemu writes raw bytes', () => {
  const show = (bytes: number[]) => encodeJson(stringFromCBytes(Uint8Array.from(bytes)));

  it('stops at NUL and replaces each invalid sequence the way qemu delimits it', () => {
    assert.equal(show([0x61, 0x00, 0x62]), '"a"');
    assert.equal(show([0xff]), '"\\uFFFD"');
    assert.equal(show([0xc3, 0x28]), '"\\uFFFD("');
    assert.equal(show([0xe2, 0x82, 0x28]), '"\\uFFFD("');
    assert.equal(show([0xc0, 0xaf]), '"\\uFFFD"');
    assert.equal(show([0xc0, 0x80]), '"\\u0000"');
    assert.equal(show([0xed, 0xa0, 0x80]), '"\\uFFFD"');
    assert.equal(show([0xef, 0xbf, 0xbf]), '"\\uFFFD"');
    assert.equal(show([0xf8, 0x88, 0x80, 0x80, 0x80, 0x41]), '"\\uFFFDA"');
    assert.equal(show([0x80, 0x80]), '"\\uFFFD\\uFFFD"');
    assert.equal(show([0xf0, 0x9f, 0x98]), '"\\uFFFD"');
    assert.equal(show([0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]), '"\\u00E9\\uD83D\\uDE00"');
  });
});
