import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QgaError } from '../../../src/protocol/errors';
import { decodeQemuBase64 } from '../../../src/protocol/qemu-base64';

const invalid = (e: unknown) => e instanceof QgaError && e.errorClass === 'GenericError' && e.desc === 'Base64 data contains invalid characters';

describe('decodeQemuBase64 (qbase64_decode + g_base64_decode)', () => {
  test('canonical text decodes as everywhere', () => {
    assert.equal(decodeQemuBase64('aGVsbG8gc3RkaW4=').toString(), 'hello stdin');
    assert.equal(decodeQemuBase64('IiB0ZXN0X3N0ciAi').toString(), '" test_str "');
    assert.equal(decodeQemuBase64('QQ==').toString(), 'A');
    assert.equal(decodeQemuBase64('QUI=').toString(), 'AB');
    assert.equal(decodeQemuBase64('').length, 0);
  });

  test('newlines are allowed anywhere and skipped', () => {
    assert.equal(decodeQemuBase64('aGVs\nbG8g\nc3Rk\naW4=\n').toString(), 'hello stdin');
    assert.equal(decodeQemuBase64('\n\n').length, 0);
    assert.equal(decodeQemuBase64('Q\nQ=\n=').toString(), 'A');
  });

  test('every other character is refused with the qemu-ga text', () => {
    for (const bad of ['!!', 'aGVsbG8 gc3RkaW4=', 'aGVs\rbG8=', 'a-b_', 'é', '\t', 'QQ==\r\n']) {
      assert.throws(() => decodeQemuBase64(bad), invalid, JSON.stringify(bad));
    }
  });

  test('the text ends at a NUL, as qemu-ga reads it with strlen()', () => {
    assert.equal(decodeQemuBase64('QUI=\0!!!').toString(), 'AB');
  });

  test("GLib's lenient rules for non-canonical text", () => {
    // an incomplete last group is dropped
    assert.equal(decodeQemuBase64('QUJD' + 'QQ').toString(), 'ABC');
    assert.equal(decodeQemuBase64('QUJ').length, 0);
    // "=" is a zero digit; bytes 2 and 3 are dropped only where the group's 3rd / 4th is "="
    assert.deepEqual([...decodeQemuBase64('QQ==QUI=')], [0x41, 0x41, 0x42]);
    assert.deepEqual([...decodeQemuBase64('QU=C')], [0x41, 0x02]);
    assert.deepEqual([...decodeQemuBase64('A===')], [0x00]);
    assert.deepEqual([...decodeQemuBase64('====')], [0x00]);
    assert.deepEqual([...decodeQemuBase64('=QUJD')], [0x01, 0x05, 0x09]);
  });

  test('large canonical input takes the fast path and round-trips', () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    assert.ok(decodeQemuBase64(data.toString('base64')).equals(data));
  });
});
