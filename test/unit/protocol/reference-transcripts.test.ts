/**
 * The recorded exchanges of reference §6.1, §6.5 and §6.6 that exercise the lexer and the writer,
 * fed with the exact request bytes (and chunking) of the transcripts. Values are shown as the
 * writer prints them (what the dispatcher receives); errors as the full reply line qemu-ga sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeJson } from '../../../src/protocol/json-writer';
import { StreamLexer, type StreamItem } from '../../../src/protocol/stream-lexer';
import { errorReply } from './lexer-harness';

const FF = '\xff';
const bytes = (text: string) => Buffer.from(text, 'latin1');
const strayFF = '{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n';
const parseError = (what: string) => `{"error": {"class": "GenericError", "desc": "JSON parse error, ${what}"}}\n`;

function render(item: StreamItem): string {
  return item.kind === 'error' ? errorReply(item.error) : `value ${encodeJson(item.value)}`;
}

/** Feeds each chunk in turn and returns what every chunk produced. */
function exchange(lexer: StreamLexer, out: StreamItem[], chunks: string[]): string[][] {
  return chunks.map((chunk) => {
    out.length = 0;
    lexer.feed(bytes(chunk));
    return out.map(render);
  });
}

function session(): { lexer: StreamLexer; out: StreamItem[] } {
  const out: StreamItem[] = [];
  return { lexer: new StreamLexer((item) => out.push(item)), out };
}

describe('reference §6.1 (protocol)', () => {
  const cases: Array<[string, string, string[]]> = [
    ['guest-ping', '{"execute":"guest-ping"}\n', ['value {"execute": "guest-ping"}']],
    ['guest-ping without trailing newline', '{"execute":"guest-ping"}', ['value {"execute": "guest-ping"}']],
    [
      'guest-sync',
      '{"execute":"guest-sync","arguments":{"id":123456789}}',
      ['value {"execute": "guest-sync", "arguments": {"id": 123456789}}'],
    ],
    [
      '0xFF + guest-sync-delimited in one write',
      `${FF}{"execute":"guest-sync-delimited","arguments":{"id":987654321}}`,
      [strayFF, 'value {"execute": "guest-sync-delimited", "arguments": {"id": 987654321}}'],
    ],
    [
      'guest-sync-delimited without leading 0xFF',
      '{"execute":"guest-sync-delimited","arguments":{"id":42}}',
      ['value {"execute": "guest-sync-delimited", "arguments": {"id": 42}}'],
    ],
    ['lone 0xFF byte while parser idle', FF, [strayFF]],
    ['id integer', '{"execute":"guest-ping","id":1}', ['value {"execute": "guest-ping", "id": 1}']],
    ['id string', '{"execute":"guest-ping","id":"abc"}', ['value {"execute": "guest-ping", "id": "abc"}']],
    ['id object', '{"execute":"guest-ping","id":{"x":[1,2]}}', ['value {"execute": "guest-ping", "id": {"x": [1, 2]}}']],
    ['unknown command with id', '{"execute":"guest-nope","id":7}', ['value {"execute": "guest-nope", "id": 7}']],
    ['top-level array', '[1,2,3]', ['value [1, 2, 3]']],
    ['top-level string', '"hello"', ['value "hello"']],
    ['top-level number (space terminates token)', '42 ', ['value 42']],
    ['invalid JSON: trailing comma', '{"execute":"guest-ping",}', [parseError('expecting value')]],
    ['invalid JSON: missing colon', '{"execute" "guest-ping"}', [parseError('missing : in object pair')]],
    ['invalid JSON: bare word', '{"execute":guest-ping}', [parseError("stray '-p'"), parseError('expecting value')]],
    ['stray close brace', '}', [parseError('expecting value')]],
    ['invalid character @', '@', [parseError("stray '@'")]],
    ['single-quoted strings', "{'execute':'guest-ping'}", ['value {"execute": "guest-ping"}']],
    ['duplicate key', '{"execute":"guest-ping","execute":"guest-info"}', [parseError('duplicate key')]],
    [
      'two requests in one write',
      '{"execute":"guest-ping"}{"execute":"guest-sync","arguments":{"id":5}}',
      ['value {"execute": "guest-ping"}', 'value {"execute": "guest-sync", "arguments": {"id": 5}}'],
    ],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      const { lexer, out } = session();
      assert.deepEqual(exchange(lexer, out, [input]), [expected]);
    });
  }

  it('replies are written like qemu-ga: return/id order, id echo re-serialised', () => {
    assert.equal(encodeJson({ return: 123456789n }), '{"return": 123456789}');
    assert.equal(encodeJson({ return: {}, id: 'abc' }), '{"return": {}, "id": "abc"}');
    assert.equal(
      encodeJson({
        error: { class: 'CommandNotFound', desc: 'The command guest-nope has not been found' },
        id: 7n,
      }),
      '{"id": 7, "error": {"class": "CommandNotFound", "desc": "The command guest-nope has not been found"}}',
    );
  });
});

describe('reference §6.5 (chunking, resynchronisation, lexer edge cases)', () => {
  it('request fed 1 byte at a time: nothing until the final }', () => {
    const input = '{"execute":"guest-sync","arguments":{"id":777}}';
    const { lexer, out } = session();
    const produced = exchange(lexer, out, [...input]);
    produced.slice(0, 46).forEach((items) => assert.deepEqual(items, []));
    assert.deepEqual(produced[46], ['value {"execute": "guest-sync", "arguments": {"id": 777}}']);
  });

  it('request in three chunks, split inside a string and inside a number', () => {
    const { lexer, out } = session();
    assert.deepEqual(exchange(lexer, out, ['{"execute":"guest-sy', 'nc","arguments":{"id":12', '34}}']), [
      [],
      [],
      ['value {"execute": "guest-sync", "arguments": {"id": 1234}}'],
    ]);
  });

  it('partial request left open, then 0xFF discards it before guest-sync-delimited', () => {
    const { lexer, out } = session();
    assert.deepEqual(
      exchange(lexer, out, ['{"execute":"guest-ping"', `${FF}{"execute":"guest-sync-delimited","arguments":{"id":5}}`]),
      [[], [strayFF, 'value {"execute": "guest-sync-delimited", "arguments": {"id": 5}}']],
    );
  });

  it('1025 nested [ then 0xFF to reset', () => {
    const { lexer, out } = session();
    assert.deepEqual(exchange(lexer, out, ['['.repeat(1025), FF]), [
      ['{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}\n'],
      [strayFF],
    ]);
  });

  it('id nested 1023 deep inside the object (total depth 1024) is accepted and echoed', () => {
    const request = '{"execute":"guest-ping","id":' + '['.repeat(1023) + ']'.repeat(1023) + '}';
    assert.equal(request.length, 2076);
    const { lexer, out } = session();
    lexer.feed(bytes(request));
    assert.equal(out.length, 1);
    const item = out[0] as StreamItem;
    assert.ok(item.kind === 'value');
    const reply = encodeJson({ return: {}, id: (item.value as { id: unknown }).id }) + '\n';
    assert.equal(reply.length, 2069);
    assert.equal(reply, '{"return": {}, "id": ' + '['.repeat(1023) + ']'.repeat(1023) + '}\n');
  });

  const cases: Array<[string, string, string[]]> = [
    [
      'raw newline inside string',
      '{"execute":"guest-ping","id":"a\nb"}',
      [parseError("stray '\\\"a\\n'"), parseError('expecting value')],
    ],
    ['lone 0xFE byte', '\xfe', [strayFF]],
    ['invalid UTF-8 in string', '{"execute":"guest-ping","id":"\xc3("}', [parseError('invalid UTF-8 sequence in string')]],
    ['invalid keyword', '{"execute":"guest-ping","id":nul}', [parseError("invalid keyword 'nul'")]],
    [
      'leading zero number',
      '{"execute":"guest-ping","id":01}',
      [parseError("stray '01'"), parseError('expecting value')],
    ],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      const { lexer, out } = session();
      assert.deepEqual(exchange(lexer, out, [input]), [expected]);
    });
  }

  const echoes: Array<[string, string, string]> = [
    ['id true', 'true', 'true'],
    ['id float echo', '1.5e3', '1500'],
    ['id 0.1 echo (%.17g)', '0.1', '0.10000000000000001'],
    ['id uint64 max echo', '18446744073709551615', '18446744073709551615'],
    ['id beyond uint64 becomes double', '18446744073709551616', '1.8446744073709552e+19'],
    ['id -0', '-0', '0'],
  ];
  for (const [name, id, echoed] of echoes) {
    it(name, () => {
      const { lexer, out } = session();
      lexer.feed(bytes(`{"execute":"guest-ping","id":${id}}`));
      const item = out[0] as StreamItem;
      assert.ok(item.kind === 'value' && out.length === 1);
      assert.equal(
        encodeJson({ return: {}, id: (item.value as { id: unknown }).id }) + '\n',
        `{"return": {}, "id": ${echoed}}\n`,
      );
    });
  }
});

describe('reference §6.6 (stale parser state across clients)', () => {
  it('a half-sent request swallows the next client\'s request until } and 0xFF recover', () => {
    const { lexer, out } = session();
    assert.deepEqual(
      exchange(lexer, out, [
        '{"execute":"guest-ping"',
        '{"execute":"guest-sync","arguments":{"id":1}}',
        '}',
        `${FF}{"execute":"guest-sync-delimited","arguments":{"id":2}}`,
        '{"execute":"guest-ping"}',
      ]),
      [
        [],
        [],
        [parseError('expected separator in dict')],
        [strayFF, 'value {"execute": "guest-sync-delimited", "arguments": {"id": 2}}'],
        ['value {"execute": "guest-ping"}'],
      ],
    );
  });
});
