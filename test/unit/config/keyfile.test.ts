// Expected values were produced by libglib 2.74 (g_key_file_load_from_data / get_* / set_string /
// to_data) on the same input, through a small probe program linked against the system library.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  escapeKeyFileString,
  formatKeyFile,
  KeyFileError,
  parseKeyFile,
} from '../../../src/config/keyfile';

const L = '\u201c';
const R = '\u201d';

function loadError(text: string | Uint8Array): KeyFileError {
  try {
    parseKeyFile(text);
  } catch (e) {
    assert.ok(e instanceof KeyFileError);
    return e;
  }
  assert.fail('expected a KeyFileError');
}

function readError(read: () => unknown): KeyFileError {
  try {
    read();
  } catch (e) {
    assert.ok(e instanceof KeyFileError);
    return e;
  }
  assert.fail('expected a KeyFileError');
}

describe('keyfile syntax', () => {
  it('reads groups, keys and comments', () => {
    const kf = parseKeyFile('# leading comment\n\n[general]\ndaemon=true\n  # indented comment\nmethod=isa-serial\n');
    assert.deepEqual(kf.groupNames(), ['general']);
    assert.deepEqual(kf.keyNames('general'), ['daemon', 'method']);
    assert.equal(kf.getString('general', 'method'), 'isa-serial');
    assert.equal(kf.getBoolean('general', 'daemon'), true);
  });

  it('trims whitespace around = and before the line, but keeps trailing value whitespace', () => {
    const kf = parseKeyFile('[g]\n \t x  =  1  \nk=trail  \n');
    assert.equal(kf.getValue('g', 'x'), '1  ');
    assert.equal(kf.getString('g', 'k'), 'trail  ');
  });

  it('accepts spaces and tabs after ] and a last line without newline', () => {
    const kf = parseKeyFile('[g] \t\nk=1');
    assert.equal(kf.getValue('g', 'k'), '1');
  });

  it('drops one \\r before \\n (CRLF files)', () => {
    const kf = parseKeyFile('[g]\r\nk=1\r\nx=2\r');
    assert.equal(kf.getValue('g', 'k'), '1');
    // Without a following \n the \r stays, as in GLib.
    assert.equal(kf.getValue('g', 'x'), '2\r');
  });

  it('lets a later duplicate win and merges a re-opened group', () => {
    const kf = parseKeyFile('[g]\nk=1\nk=2\n[h]\nk=9\n[g]\nx=3\n');
    assert.deepEqual(kf.groupNames(), ['g', 'h']);
    assert.equal(kf.getValue('g', 'k'), '2');
    assert.equal(kf.getValue('g', 'x'), '3');
    assert.equal(kf.lineOf('g', 'k'), 3);
  });

  it('tolerates inner spaces in key names and ignores translations', () => {
    const kf = parseKeyFile('[g]\na b=1\nk[de]=v\nk[sr@latin]=w\n');
    assert.equal(kf.getValue('g', 'a b'), '1');
    assert.equal(kf.hasKey('g', 'k[de]'), false);
    assert.deepEqual(kf.keyNames('g'), ['a b']);
  });

  it('accepts Encoding=UTF-8 in any case in the first group', () => {
    assert.doesNotThrow(() => parseKeyFile('[g]\nEncoding=utf-8\n'));
    assert.doesNotThrow(() => parseKeyFile('[h]\n[g]\nEncoding=latin1\n'));
  });

  it('treats a NUL byte as the end of the line, as C strings do', () => {
    const kf = parseKeyFile(Buffer.from('[g]\nk=a\0b\n\0junk\n', 'latin1'));
    assert.equal(kf.getValue('g', 'k'), 'a');
  });

  it('takes strings as UTF-8 text', () => {
    assert.equal(parseKeyFile('[g]\nk=é\n').getString('g', 'k'), 'é');
  });
});

describe('keyfile load errors (GLib texts, with the line number kept aside)', () => {
  const cases: Array<[string, string, string, number]> = [
    ['[g]\ngarbage\n', 'PARSE', `Key file contains line ${L}garbage${R} which is not a key-value pair, group, or comment`, 2],
    ['  foo\n', 'PARSE', `Key file contains line ${L}  foo${R} which is not a key-value pair, group, or comment`, 1],
    ['[g]\n=x\n', 'PARSE', `Key file contains line ${L}=x${R} which is not a key-value pair, group, or comment`, 2],
    ['[g]x\n', 'PARSE', `Key file contains line ${L}[g]x${R} which is not a key-value pair, group, or comment`, 1],
    ['[a]b]\n', 'PARSE', `Key file contains line ${L}[a]b]${R} which is not a key-value pair, group, or comment`, 1],
    ['[g]\r\r\n', 'PARSE', `Key file contains line ${L}[g]\r${R} which is not a key-value pair, group, or comment`, 1],
    ['k=1\n', 'GROUP_NOT_FOUND', 'Key file does not start with a group', 1],
    ['# c\n\nk=1\n', 'GROUP_NOT_FOUND', 'Key file does not start with a group', 3],
    ['[]\n', 'PARSE', 'Invalid group name: ', 1],
    ['[a[b]\n', 'PARSE', 'Invalid group name: a[b', 1],
    ['[g\x01]\n', 'PARSE', 'Invalid group name: g\x01', 1],
    ['[g]\nmeth[od=1\n', 'PARSE', 'Invalid key name: meth[od', 2],
    ['[g]\na]=1\n', 'PARSE', 'Invalid key name: a]', 2],
    ['[g]\na [de]=1\n', 'PARSE', 'Invalid key name: a [de]', 2],
    ['[g]\na[de]x=1\n', 'PARSE', 'Invalid key name: a[de]x', 2],
    ['[g]\na[x y]=1\n', 'PARSE', 'Invalid key name: a[x y]', 2],
    ['[g]\nEncoding=latin1\n', 'UNKNOWN_ENCODING', `Key file contains unsupported encoding ${L}latin1${R}`, 2],
  ];
  for (const [text, code, message, line] of cases) {
    it(JSON.stringify(text), () => {
      const error = loadError(text);
      assert.equal(error.code, code);
      assert.equal(error.message, message);
      assert.equal(error.line, line);
    });
  }

  it('shows invalid bytes and NUL of the offending line as U+FFFD, one per byte', () => {
    const error = loadError(Buffer.from('[g]\nab\0=c\xe2\x82\n', 'latin1'));
    assert.equal(
      error.message,
      `Key file contains line ${L}ab\ufffd=c\ufffd\ufffd${R} which is not a key-value pair, group, or comment`,
    );
  });

  it('rejects a byte-order mark (GLib does not skip it)', () => {
    const error = loadError(Buffer.from('\xef\xbb\xbf[g]\n', 'latin1'));
    assert.equal(
      error.message,
      `Key file contains line ${L}\ufeff[g]${R} which is not a key-value pair, group, or comment`,
    );
  });
});

describe('keyfile value readers', () => {
  it('getString decodes \\s \\n \\t \\r \\\\', () => {
    const kf = parseKeyFile('[g]\nk=\\s a\\tb\\\\c\\nd\\re  \nl=  \\s\\slead\n');
    assert.equal(kf.getString('g', 'k'), '  a\tb\\c\nd\re  ');
    assert.equal(kf.getString('g', 'l'), '  lead');
  });

  it('getString rejects unknown escapes and a trailing backslash', () => {
    for (const value of ['a\\qb', 'ab\\', 'x\\;y']) {
      const kf = parseKeyFile(`[g]\n\nmethod=${value}\n`);
      const error = readError(() => kf.getString('g', 'method'));
      assert.equal(error.code, 'INVALID_VALUE');
      assert.equal(error.message, `Key file contains key ${L}method${R} which has a value that cannot be interpreted.`);
      assert.equal(error.line, 3);
    }
  });

  it('getString rejects a value that is not UTF-8', () => {
    const kf = parseKeyFile(Buffer.from('[g]\nk=a\xffb\xe2\x82c\n', 'latin1'));
    const error = readError(() => kf.getString('g', 'k'));
    assert.equal(error.code, 'UNKNOWN_ENCODING');
    assert.equal(
      error.message,
      `Key file contains key ${L}k${R} with value ${L}a\ufffdb\ufffd\ufffdc${R} which is not UTF-8`,
    );
  });

  it('getBoolean accepts true/false/1/0 with trailing whitespace only', () => {
    const truthy = ['true', '1', 'true ', '1\t', '  1'];
    const falsy = ['false', '0', 'false  ', '  0'];
    for (const v of truthy) assert.equal(parseKeyFile(`[g]\nk=${v}\n`).getBoolean('g', 'k'), true, v);
    for (const v of falsy) assert.equal(parseKeyFile(`[g]\nk=${v}\n`).getBoolean('g', 'k'), false, v);
    for (const v of ['yes', 'TRUE', 't', '', '1x', 'true x', 'on']) {
      const error = readError(() => parseKeyFile(`[g]\ndaemon=${v}\n`).getBoolean('g', 'daemon'));
      assert.equal(error.code, 'INVALID_VALUE');
      assert.equal(error.message, `Key file contains key ${L}daemon${R} which has a value that cannot be interpreted.`, v);
    }
  });

  it('getInteger follows strtol and the C int range', () => {
    const ok: Array<[string, number]> = [
      ['12', 12], ['12 x', 12], ['+5', 5], ['-5', -5], ['  7', 7],
      ['2147483647', 2147483647], ['-2147483648', -2147483648],
    ];
    for (const [v, n] of ok) assert.equal(parseKeyFile(`[g]\nk=${v}\n`).getInteger('g', 'k'), n, v);
    for (const v of ['12x', '', 'x', '0x10', '99999999999', '2147483648']) {
      const error = readError(() => parseKeyFile(`[g]\nk=${v}\n`).getInteger('g', 'k'));
      assert.equal(
        error.message,
        `Key file contains key ${L}k${R} in group ${L}g${R} which has a value that cannot be interpreted.`,
        v,
      );
    }
  });

  it('reports missing groups and keys', () => {
    const kf = parseKeyFile('[g]\nk=1\n');
    const noGroup = readError(() => kf.getString('h', 'k'));
    assert.equal(noGroup.code, 'GROUP_NOT_FOUND');
    assert.equal(noGroup.message, `Key file does not have group ${L}h${R}`);
    const noKey = readError(() => kf.getBoolean('g', 'x'));
    assert.equal(noKey.code, 'KEY_NOT_FOUND');
    assert.equal(noKey.message, `Key file does not have key ${L}x${R} in group ${L}g${R}`);
    assert.equal(kf.hasKey('h', 'k'), false);
    assert.equal(kf.hasGroup('g'), true);
  });
});

describe('keyfile writer', () => {
  it('escapes as g_key_file_set_string does', () => {
    assert.equal(escapeKeyFileString(' a\\b'), '\\sa\\\\b');
    assert.equal(escapeKeyFileString(' \tx\ny\r z '), '\\s\\tx\\ny\\r z ');
    assert.equal(escapeKeyFileString(' \n x'), '\\s\\n\\sx');
    assert.equal(escapeKeyFileString('\t \tq'), '\\t\\s\\tq');
    assert.equal(escapeKeyFileString('\r s'), '\\r\\ss');
    assert.equal(escapeKeyFileString('a\tb \\ c '), 'a\tb \\\\ c ');
    assert.equal(escapeKeyFileString('guest-ping;guest-get-time'), 'guest-ping;guest-get-time');
  });

  it('round-trips through parse', () => {
    for (const value of [' lead', 'a\\b', 'x\ny', '\ttab', 'trail ', 'é;,', '']) {
      const text = formatKeyFile([{ name: 'g', entries: [['k', value]] }]);
      assert.equal(parseKeyFile(text).getString('g', 'k'), value);
    }
  });

  it('formats like g_key_file_to_data, groups apart by an empty line', () => {
    assert.equal(
      formatKeyFile([
        { name: 'general', entries: [['daemon', false], ['method', 'virtio-serial'], ['n', 7]] },
        { name: 'other', entries: [['k', '']] },
      ]),
      '[general]\ndaemon=false\nmethod=virtio-serial\nn=7\n\n[other]\nk=\n',
    );
    // qemu-ga's qga.state is 25 bytes.
    assert.equal(formatKeyFile([{ name: 'global', entries: [['fd_counter', 1000]] }]).length, 25);
  });
});
