import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QGA_COMMANDS } from '../../../src/generated/qga-commands';
import { KnownStrings, MAX_KNOWN_STRING_BYTES, PROTOCOL_STRINGS } from '../../../src/protocol/known-strings';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('KnownStrings', () => {
  const words = [...PROTOCOL_STRINGS, ...QGA_COMMANDS.map((c) => c.name)];
  const known = new KnownStrings(words);

  it('finds every word, inside a larger buffer too, and returns the same string', () => {
    for (const w of words) {
      const buf = bytes(`xx"${w}"yy`);
      assert.equal(known.lookup(buf, 3, 3 + w.length), w);
    }
  });

  it('misses near misses: prefixes, extensions, one byte changed, other lengths', () => {
    for (const w of words) {
      for (const other of [w.slice(0, -1), `${w}x`, `${w.slice(0, -1)}${w.endsWith('a') ? 'b' : 'a'}`, `x${w}`]) {
        if (words.includes(other)) continue;
        assert.equal(known.lookup(bytes(other), 0, other.length), undefined, other);
      }
    }
    assert.equal(known.lookup(bytes(''), 0, 0), undefined);
  });

  it('ignores what it cannot compare byte for byte, and anything too long', () => {
    const long = 'g'.repeat(MAX_KNOWN_STRING_BYTES + 1);
    const odd = new KnownStrings(['caf\u00e9', long, '', 'ok']);
    assert.equal(odd.lookup(Buffer.from('caf\u00e9', 'latin1'), 0, 4), undefined);
    assert.equal(odd.lookup(bytes(long), 0, long.length), undefined);
    assert.equal(odd.lookup(bytes('ok'), 0, 2), 'ok');
  });

  it('works with a table much fuller than its words (collisions probe onward)', () => {
    const many = Array.from({ length: 500 }, (_, i) => `w${i}`);
    const table = new KnownStrings(many);
    for (const w of many) assert.equal(table.lookup(bytes(w), 0, w.length), w);
    assert.equal(table.lookup(bytes('w500'), 0, 4), undefined);
  });
});
