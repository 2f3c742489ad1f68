import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors } from '../../../src/protocol/errors';
import { INT64_MAX, INT64_MIN, UINT64_MAX, type JsonObject } from '../../../src/protocol/json-value';
import { encodeJson } from '../../../src/protocol/json-writer';
import { KnownStrings } from '../../../src/protocol/known-strings';
import { StreamLexer, type LexerLimits, type StreamItem } from '../../../src/protocol/stream-lexer';
import {
  SENTINEL,
  SENTINEL_REPLY,
  collect,
  errorReply,
  loadRecordedCases,
  prng,
  replies,
} from './lexer-harness';

const recorded = loadRecordedCases();
const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('StreamLexer against qemu-ga 7.2 recordings (test/fixtures/protocol/lexer-cases.json)', () => {
  for (const c of recorded) {
    it(c.name, () => {
      assert.equal(replies([c.input, SENTINEL]).join(''), c.output + SENTINEL_REPLY);
    });
  }
});

describe('StreamLexer chunking', () => {
  it('gives identical items for every split offset and one byte at a time', () => {
    for (const c of recorded) {
      const whole = replies([c.input, SENTINEL]);
      const input = Buffer.concat([c.input, SENTINEL]);
      const offsets: number[] = [];
      if (input.length <= 400) {
        for (let k = 0; k <= input.length; k++) offsets.push(k);
      } else {
        const random = prng(input.length);
        for (let k = 0; k < 150; k++) offsets.push(Math.floor(random() * (input.length + 1)));
      }
      for (const k of offsets) {
        assert.deepEqual(replies([input.subarray(0, k), input.subarray(k)]), whole, `${c.name} split at ${k}`);
      }
      const single: Buffer[] = [];
      for (let k = 0; k < input.length; k++) single.push(input.subarray(k, k + 1));
      assert.deepEqual(replies(single), whole, `${c.name} one byte at a time`);
    }
  });

  it('gives identical items when the whole recording is one stream cut at random places', () => {
    const stream = Buffer.concat(recorded.flatMap((c) => [c.input, SENTINEL]));
    const expected = recorded.map((c) => c.output + SENTINEL_REPLY).join('');
    assert.equal(replies([stream]).join(''), expected);
    const random = prng(7);
    for (let round = 0; round < 20; round++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = 1 + Math.floor(random() * (round < 10 ? 16 : 5000));
        chunks.push(stream.subarray(at, at + size));
        at += size;
      }
      assert.equal(replies(chunks).join(''), expected, `round ${round}`);
    }
  });

  it('splits a large request at random offsets without changing it', () => {
    const random = prng(42);
    const raw = Buffer.alloc(1 << 20);
    for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(random() * 256);
    const data = raw.toString('base64');
    const text =
      `{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"${data}",` +
      `"note":"caf\\u00e9 \u00e9\u20ac\ud83d\ude00 \\"q\\" \\\\ end"},"id":"w-1"}`;
    const input = Buffer.from(text, 'utf8');
    for (let round = 0; round < 8; round++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(random() * (round % 2 === 0 ? 70000 : 4096));
        chunks.push(input.subarray(at, at + size));
        at += size;
      }
      const items = collect(chunks);
      assert.equal(items.length, 1);
      const item = items[0] as StreamItem;
      assert.ok(item.kind === 'value');
      const request = item.value as JsonObject;
      const args = request['arguments'] as JsonObject;
      assert.equal(request['execute'], 'guest-file-write');
      assert.equal(request['id'], 'w-1');
      assert.equal(args['handle'], 1000n);
      assert.ok(args['buf-b64'] === data, 'buf-b64 intact');
      assert.equal(args['note'], 'café é€😀 "q" \\ end');
    }
  });

  it('handles tokens larger than the 64 KiB staging area across any chunk sizes', () => {
    const big = 'x'.repeat(150_000);
    const inputs = [
      `{"execute":"guest-ping","id":"${big}"}`,
      `{"execute":"guest-ping","id":"${big}\\u00e9\\n\u00e9\ud83d\ude00${big}"}`,
      `{"execute":"guest-ping","id":'${big}\\'"'}`,
      `["${big}\u0001tail", 1]`,
      `["${big}\\u12"]`,
      `["${big}\\q"]`,
      `[${'7'.repeat(100_000)}, -${'1'.repeat(100_001)}.5e-3, ${'q'.repeat(100_000)}]`,
      `${'q'.repeat(100_000)} ${'5'.repeat(70_000)} "${big}`,
    ];
    for (const text of inputs) {
      const input = Buffer.from(text, 'utf8');
      const expected = replies([input, SENTINEL]);
      for (const size of [999, 65535, 65536, 65537, 70_000, 150_001, 300_000]) {
        const chunks: Buffer[] = [];
        for (let at = 0; at < input.length; at += size) chunks.push(input.subarray(at, at + size));
        chunks.push(SENTINEL);
        assert.deepEqual(replies(chunks), expected, `${text.slice(0, 40)} in ${size}-byte chunks`);
      }
      const quoteAlone = [input.subarray(0, 1), input.subarray(1, 30), input.subarray(30), SENTINEL];
      assert.deepEqual(replies(quoteAlone), expected);
    }
    const bad = Buffer.from(`["${big}\xc3("]`, 'latin1');
    assert.deepEqual(replies([bad.subarray(0, 70_000), bad.subarray(70_000)]), [
      errorReply(Errors.jsonParse('invalid UTF-8 sequence in string')),
    ]);
    assert.deepEqual(replies([Buffer.from(inputs[0] as string)]), [`{"return": {}, "id": "${big}"}\n`]);
    assert.deepEqual(replies([Buffer.from(inputs[1] as string)]), [
      `{"return": {}, "id": "${big}\\u00E9\\n\\u00E9\\uD83D\\uDE00${big}"}\n`,
    ]);
    assert.deepEqual(replies([Buffer.from(inputs[3] as string)]), [
      errorReply(Errors.jsonStray(`"${big}\u0001`)),
      errorReply(Errors.jsonParse('expecting value')), // recovery stops at the `,`
      errorReply(Errors.inputNotObject()),
      errorReply(Errors.jsonParse('expecting value')),
    ]);
    assert.deepEqual(replies([Buffer.from(inputs[4] as string)]), [
      errorReply(Errors.jsonParse('\\u12" is not a valid Unicode character')),
    ]);
  });

  it('handles several messages in one chunk with whitespace between them', () => {
    const input = bytes(' {"execute":"guest-ping","id":1}\r\n\t{"execute":"guest-ping","id":"b"}  "x" 7\n[1]');
    assert.deepEqual(replies([input]), [
      '{"return": {}, "id": 1}\n',
      '{"return": {}, "id": "b"}\n',
      errorReply(Errors.inputNotObject()),
      errorReply(Errors.inputNotObject()),
      errorReply(Errors.inputNotObject()),
    ]);
  });

  it('dispatches a request as soon as its closing brace arrives, one byte at a time', () => {
    const input = bytes('{"execute":"guest-sync","arguments":{"id":777}}');
    const seen: number[] = [];
    let at = 0;
    const lexer = new StreamLexer(() => seen.push(at));
    for (; at < input.length; at++) lexer.feed(input.subarray(at, at + 1));
    assert.deepEqual(seen, [input.length - 1]);
  });

  it('keeps parser state across feeds until reset() (qemu keeps it across clients)', () => {
    const items: StreamItem[] = [];
    const lexer = new StreamLexer((item) => items.push(item));
    lexer.feed(bytes('{"execute":"guest-ping"'));
    lexer.feed(bytes('{"execute":"guest-sync","arguments":{"id":1}}'));
    assert.equal(items.length, 0);
    lexer.feed(bytes('}'));
    assert.deepEqual(
      items.map((i) => (i.kind === 'error' ? i.error.desc : 'value')),
      ['JSON parse error, expected separator in dict'],
    );
    items.length = 0;
    lexer.feed(bytes('{"execute":"guest-ping","id":"abc'));
    lexer.reset();
    lexer.feed(bytes('{"execute":"guest-ping"}'));
    assert.equal(items.length, 1);
    assert.equal(items[0]?.kind, 'value');
  });

  it('allows reset() from inside the emit callback; the rest of the chunk starts afresh', () => {
    const seen: string[] = [];
    const lexer: StreamLexer = new StreamLexer((item) => {
      seen.push(item.kind === 'error' ? item.error.desc : encodeJson(item.value));
      if (seen.length === 1) lexer.reset();
    });
    lexer.feed(bytes('@abc "x" [1,{"a":2}]'));
    // without the reset, recovery would have skipped `abc "x" ` up to the `[`
    assert.deepEqual(seen, [
      "JSON parse error, stray '@'",
      "JSON parse error, invalid keyword 'abc'",
      '"x"',
      '[1, {"a": 2}]',
    ]);
  });

  it('stays consistent when the emit callback throws', () => {
    const seen: string[] = [];
    let throwNext = true;
    const lexer = new StreamLexer(
      (item) => {
        seen.push(item.kind === 'error' ? item.error.desc : encodeJson(item.value));
        if (throwNext) {
          throwNext = false;
          throw new Error('consumer failed');
        }
      },
      { maxTokenBytes: 10 },
    );
    // the rest of a chunk is lost with the exception, but nothing half-done leaks into later input
    lexer.feed(bytes('"abc'));
    assert.throws(() => lexer.feed(bytes('def" "x"')), /consumer failed/);
    lexer.feed(bytes('"y"'));
    throwNext = true;
    lexer.feed(bytes('"abc'));
    assert.throws(() => lexer.feed(bytes('defghijklm"')), /consumer failed/);
    lexer.feed(bytes('"z"'));
    assert.deepEqual(seen, ['"abcdef"', '"y"', 'JSON token size limit exceeded', '"z"']);
  });

  it('refuses feed() from inside the emit callback', () => {
    const lexer: StreamLexer = new StreamLexer(() => lexer.feed(bytes('1 ')));
    assert.throws(() => lexer.feed(bytes('"x"')), /own emit callback/);
    lexer.feed(bytes(' ')); // still usable afterwards
  });
});

describe('StreamLexer simple strings matched natively (chunks up to 4 KiB)', () => {
  // Items as comparable text: values through the JSON writer (keys in QDict order, bigints exact),
  // errors by their text, plus the prototype of every object.
  const describeItems = (items: StreamItem[]) =>
    items.map((item) => (item.kind === 'error' ? `error ${item.error.desc}` : `value ${encodeJson(item.value)} ${protoShape(item.value)}`));
  const protoShape = (v: unknown): string =>
    typeof v !== 'object' || v === null
      ? ''
      : Array.isArray(v)
        ? `[${v.map(protoShape).join(',')}]`
        : `${Object.getPrototypeOf(v) === null ? 'N' : 'P'}{${Object.values(v as object).map(protoShape).join(',')}}`;
  const pieces = [
    '{', '}', '[', ']', ',', ':', ' ', '\n', '\t', '\r', '"execute"', '"guest-sync"', '"id"', '"arguments"', '"a b!#~"',
    '"esc\\n"', "'single'", '"caf\xc3\xa9"', '0', '-0', '7', '-12', '1732578000000', '123456789012345', '1234567890123456',
    '99999999999999999999', '1.5', '2e3', '01', '-', 'true', 'false', 'null', 'nul', 'truex', '\xff', '\xfe', '\x00', '"open',
    '"x"', '{"execute":"guest-ping"}',
  ];
  const limitsList: Array<Partial<LexerLimits> | undefined> = [undefined, { maxTokenBytes: 8, maxTokenCount: 12, maxNesting: 3 }];

  it('gives the same items as the byte machine alone, for random mixes of tokens', () => {
    const random = prng(20261126);
    for (let round = 0; round < 3000; round++) {
      let text = '';
      const count = 1 + Math.floor(random() * 24);
      for (let k = 0; k < count; k++) text += pieces[Math.floor(random() * pieces.length)];
      const input = bytes(text);
      for (const limits of limitsList) {
        // one byte at a time no string begins and ends in one chunk: all go through the byte loop
        const space = Buffer.alloc(1, 0x20);
        const reference = describeItems(collect([...Array.from(input, (b) => Buffer.from([b])), space], limits));
        assert.deepEqual(describeItems(collect([input, space], limits)), reference, JSON.stringify(text));
        const cut = Math.floor(random() * (input.length + 1));
        assert.deepEqual(
          describeItems(collect([input.subarray(0, cut), input.subarray(cut), space], limits)),
          reference,
          `${JSON.stringify(text)} cut at ${cut}`,
        );
      }
    }
  });
});

describe('StreamLexer values', () => {
  const valueOf = (text: string) => {
    const items = collect([bytes(text + ' ')]);
    assert.equal(items.length, 1, text);
    const item = items[0] as StreamItem;
    assert.ok(item.kind === 'value', text);
    return item.value;
  };

  it('keeps int64 and uint64 integers exact as bigint, otherwise makes a double', () => {
    const table: Array<[string, bigint | number]> = [
      ['0', 0n],
      ['-0', 0n],
      ['1', 1n],
      ['-1', -1n],
      // up to 15 bytes are read from the bytes directly; longer tokens through the text
      ['1732578000000', 1732578000000n],
      ['999999999999999', 999999999999999n],
      ['-99999999999999', -99999999999999n],
      ['-999999999999999', -999999999999999n],
      ['9999999999999999', 9999999999999999n],
      ['9007199254740993', 9007199254740993n],
      ['9223372036854775807', INT64_MAX],
      ['9223372036854775808', 9223372036854775808n],
      ['-9223372036854775808', INT64_MIN],
      ['-9223372036854775809', -9223372036854775809],
      ['18446744073709551615', UINT64_MAX],
      ['18446744073709551616', 18446744073709551616],
      ['-18446744073709551615', -18446744073709551615],
      ['100000000000000000000', 1e20],
      ['1' + '0'.repeat(400), Infinity],
      ['1.0', 1],
      ['1e3', 1000],
      ['-0.0', -0],
      ['0.1', 0.1],
      ['2.5E-3', 0.0025],
      ['1e400', Infinity],
      ['-1e400', -Infinity],
      ['1e-400', 0],
    ];
    for (const [text, expected] of table) {
      const value = valueOf(text);
      assert.equal(typeof value, typeof expected, text);
      assert.ok(Object.is(value, expected), `${text} -> ${String(value)}`);
    }
  });

  it('reads keywords from the bytes and still names a bad one', () => {
    assert.equal(valueOf('true'), true);
    assert.equal(valueOf('false'), false);
    assert.equal(valueOf('null'), null);
    for (const word of ['nul', 'nulx', 'fals', 'truex', 'falsey']) {
      const items = collect([bytes(`[${word}]`)]);
      assert.equal(items.length, 1, word);
      const item = items[0] as StreamItem;
      assert.ok(item.kind === 'error', word);
      assert.equal(item.error.desc, `JSON parse error, invalid keyword '${word}'`, word);
    }
  });

  it('returns known strings as the given constants, other strings as themselves', () => {
    const known = new KnownStrings(['guest-sync', 'id']);
    const out: StreamItem[] = [];
    const lexer = new StreamLexer((item) => out.push(item), undefined, known);
    lexer.feed(bytes('{"execute":"guest-sync","arguments":{"id":1},"guest-syn":"guest-sync2"}'));
    const item = out[0] as StreamItem;
    assert.ok(item.kind === 'value');
    const request = item.value as JsonObject;
    assert.deepEqual(Object.keys(request), ['execute', 'arguments', 'guest-syn']);
    assert.equal(request['execute'], 'guest-sync');
    assert.equal(request['guest-syn'], 'guest-sync2');
    assert.equal((request['arguments'] as JsonObject)['id'], 1n);
  });

  it('builds null-prototype objects, arrays and scalars', () => {
    const object = valueOf('{"__proto__":{"constructor":1},"a":[true,false,null,"s",\'q\'],"toString":{}}') as JsonObject;
    assert.equal(Object.getPrototypeOf(object), null);
    assert.deepEqual(Object.keys(object), ['__proto__', 'a', 'toString']);
    const proto = object['__proto__'] as JsonObject;
    assert.equal(Object.getPrototypeOf(proto), null);
    assert.equal(proto['constructor'], 1n);
    assert.deepEqual(object['a'], [true, false, null, 's', 'q']);
  });

  it('decodes escapes, surrogate pairs, raw UTF-8 and both spellings of U+0000', () => {
    assert.equal(valueOf('"\\"\\\\\\/\\b\\f\\n\\r\\t\\\'"'), '"\\/\b\f\n\r\t\'');
    assert.equal(valueOf('"\\u0041\\u00e9\\u20AC\\ud83d\\ude00"'), 'Aé€😀');
    assert.equal(valueOf('"a\\u0000b"'), 'a\0b');
    assert.equal(valueOf('"a\xc0\x80b"'), 'a\0b');
    assert.equal(valueOf(Buffer.from('"é€😀\x7f"', 'utf8').toString('latin1')), 'é€😀\x7f');
    assert.equal(valueOf("'it'"), 'it');
    assert.equal(valueOf('\'a"b\\\'c\''), 'a"b\'c');
  });
});

describe('StreamLexer limits', () => {
  const descs = (items: StreamItem[]) =>
    items.map((i) => (i.kind === 'error' ? i.error.desc : `value ${encodeJson(i.value)}`));

  it('nesting: depth is open braces plus open brackets', () => {
    const limits = { maxNesting: 4 };
    assert.deepEqual(descs(collect([bytes('[[[[]]]]')], limits)), ['value [[[[]]]]']);
    assert.deepEqual(descs(collect([bytes('{"a":[[[1]]]}')], limits)), ['value {"a": [[[1]]]}']);
    assert.deepEqual(descs(collect([bytes('{"a":[[[[1]]]]}')], limits)), [
      'JSON nesting depth limit exceeded',
      'value 1',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
    ]);
  });

  it('nesting with the default limit: 1025 [ fail, an object holding 1023 arrays passes', () => {
    assert.deepEqual(descs(collect([bytes('['.repeat(1025))])), ['JSON nesting depth limit exceeded']);
    const deep = '{"id":' + '['.repeat(1023) + ']'.repeat(1023) + '}';
    const items = collect([bytes(deep)]);
    assert.equal(items.length, 1);
    assert.equal(items[0]?.kind, 'value');
  });

  it('token count: the token that would exceed the limit is dropped with the message', () => {
    const limits = { maxTokenCount: 5 };
    assert.deepEqual(descs(collect([bytes('[1,2]')], limits)), ['value [1, 2]']);
    // tokens: [ 1 , 2 , 3 -- the sixth (`3`) is dropped, the `]` then closes nothing
    assert.deepEqual(descs(collect([bytes('[1,2,3]')], limits)), [
      'JSON token count limit exceeded',
      'JSON parse error, expecting value',
    ]);
  });

  it('token bytes: the sum over a message, plus one, must not exceed the limit', () => {
    const limits = { maxTokenBytes: 10 };
    assert.deepEqual(descs(collect([bytes('["abcdef"]')], limits)), ['JSON token size limit exceeded']);
    assert.deepEqual(descs(collect([bytes('["abcde"]')], limits)), ['value ["abcde"]']);
    assert.deepEqual(descs(collect([bytes('"abcdefg" "abcdefgh"')], limits)), [
      'value "abcdefg"',
      'JSON token size limit exceeded',
    ]);
  });

  it('token bytes: a token growing past the limit is cut and lexing restarts mid-token', () => {
    const limits = { maxTokenBytes: 10 };
    // the 11th byte of the string overflows; "klmn" is then read as a keyword, `"` opens a string
    const input = bytes('"abcdefghijklmn"');
    const whole = descs(collect([input, bytes('\xff')], limits));
    assert.deepEqual(whole, [
      'JSON token size limit exceeded',
      "JSON parse error, invalid keyword 'klmn'",
      "JSON parse error, stray '\"\uFFFD'",
    ]);
    for (let k = 0; k <= input.length; k++) {
      assert.deepEqual(descs(collect([input.subarray(0, k), input.subarray(k), bytes('\xff')], limits)), whole);
    }
    // the 11th byte is consumed into the token before qemu notices the overflow
    assert.deepEqual(descs(collect([bytes('12345678901234 ')], limits)), [
      'JSON token size limit exceeded',
      'value 234',
    ]);
    assert.deepEqual(descs(collect([bytes('"abcdefgh\\nxyz"')], limits)), [
      'JSON token size limit exceeded',
      "JSON parse error, invalid keyword 'xyz'",
    ]);
  });

  it('token bytes with the default 64 MiB limit, as recorded from qemu-ga 7.2', () => {
    const M = 64 << 20;
    const text = (length: number) => {
      const b = Buffer.alloc(length, 0x41);
      b[0] = 0x22;
      b[length - 1] = 0x22;
      return b;
    };
    assert.deepEqual(descs(collect([text(M - 1)])).map((d) => d.slice(0, 8)), ['value "A']);
    assert.deepEqual(descs(collect([text(M)])), ['JSON token size limit exceeded']);
    const unterminated = Buffer.alloc(M + 6, 0x41);
    unterminated[0] = 0x22;
    unterminated[M + 5] = 0x7d;
    assert.deepEqual(descs(collect([unterminated])), [
      'JSON token size limit exceeded',
      "JSON parse error, stray 'A'",
      'JSON parse error, expecting value',
    ]);
    assert.deepEqual(descs(collect([Buffer.alloc(M + 3, 0x61), bytes(' ')])), [
      'JSON token size limit exceeded',
      "JSON parse error, invalid keyword 'aa'",
    ]);
  });

  it('token count with the default 2 Mi limit, as recorded from qemu-ga 7.2', () => {
    const array = (n: number) => bytes('[' + '1,'.repeat(n - 1) + '1]');
    const ok = collect([array(1048575)]);
    assert.equal(ok.length, 1);
    assert.equal(ok[0]?.kind, 'value');
    assert.deepEqual(descs(collect([array(1048576), bytes(']')])), [
      'JSON token count limit exceeded',
      'JSON parse error, expecting value',
    ]);
  });

  it('rejects nonsensical limits', () => {
    assert.throws(() => new StreamLexer(() => {}, { maxNesting: 0 }), RangeError);
    assert.throws(() => new StreamLexer(() => {}, { maxTokenBytes: 1.5 }), RangeError);
  });
});

describe('StreamLexer memory on garbage', () => {
  it('keeps its buffers small on megabytes of random bytes', () => {
    const random = prng(99);
    let errors = 0;
    const lexer = new StreamLexer((item) => {
      if (item.kind === 'error') errors++;
    });
    const chunk = Buffer.alloc(64 * 1024);
    let maxRetained = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    for (let round = 0; round < 64; round++) {
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
      lexer.feed(chunk);
      maxRetained = Math.max(maxRetained, lexer.retainedBytes);
    }
    assert.ok(errors > 100_000, `errors ${errors}`);
    assert.ok(maxRetained <= 64 * 1024, `retained ${maxRetained}`);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 << 20);
  });

  it('drops queued values on errors: an endless open array stays bounded by the limits', () => {
    let errors = 0;
    const lexer = new StreamLexer(
      (item) => {
        if (item.kind === 'error') errors++;
      },
      { maxTokenCount: 10_000, maxTokenBytes: 1 << 20 },
    );
    const chunk = bytes('[' + '"abcdefgh",'.repeat(5000));
    for (let round = 0; round < 400; round++) lexer.feed(chunk);
    assert.ok(errors >= 190, `errors ${errors}`);
    assert.ok(lexer.retainedBytes <= 64 * 1024);
  });

  it('releases what a huge token held once it is complete (only a 64 KiB staging area stays)', () => {
    const values: StreamItem[] = [];
    const lexer = new StreamLexer((item) => values.push(item));
    lexer.feed(bytes('"'));
    for (let i = 0; i < 16; i++) lexer.feed(Buffer.alloc(64 * 1024, 0x41));
    assert.ok(lexer.retainedBytes >= 1 << 20);
    lexer.feed(bytes('"'));
    assert.ok(lexer.retainedBytes <= 64 * 1024);
    assert.deepEqual(values, [{ kind: 'value', value: 'A'.repeat(1 << 20) }]);
  });
});
