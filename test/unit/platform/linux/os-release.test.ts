import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseOsRelease, unquoteOsReleaseValue } from '../../../../src/platform/linux/os-release';
import { readFixture, readFixtureBytes } from './fixture';

describe('parseOsRelease', () => {
  it('passes the upstream test-qga /qga/guest-get-osinfo case (reference §5)', () => {
    const info = parseOsRelease(readFixtureBytes('os-release-qga-test.txt'));
    assert.deepEqual(info, {
      id: 'qemu-ga-test',
      name: 'QEMU-GA',
      'pretty-name': 'QEMU Guest Agent test',
      version: 'Test 1',
      'version-id': '1',
      variant: 'Unit test "\'$`\\ and \\\\ etc.',
      'variant-id': 'unit-test',
    });
    assert.ok(readFixture('os-release-qga-test.txt').includes('VARIANT="Unit test \\"\\\'\\$\\`\\\\ and \\\\\\\\ etc."\n'));
  });

  it('reads the captured Debian 12 /etc/os-release like qemu-ga 7.2 (reference §6.2)', () => {
    assert.deepEqual(parseOsRelease(readFixtureBytes('os-release-debian.txt')), {
      id: 'debian',
      name: 'Debian GNU/Linux',
      'pretty-name': 'Debian GNU/Linux 12 (bookworm)',
      version: '12 (bookworm)',
      'version-id': '12',
    });
  });

  // Each expectation below is the answer of the real qemu-ga 7.2 (/usr/sbin/qemu-ga, started with
  // QGA_OS_RELEASE pointing at a file with exactly these bytes), not of this parser. Where the
  // agent answered with no os-release fields at all because GLib rejected the file (visible when
  // an earlier valid `ID=` line went missing too), the parser's answer is null.
  const ORACLE: Array<[string, string | Buffer, object | null]> = [
    [
      'unquoted cut at space then `;`, single quotes kept, unterminated and bare double quotes',
      'ID=foo bar;baz\nNAME=a;b c\nVERSION=\'Test 1\'\nVERSION_ID=\'x\'\nVARIANT="abc\nVARIANT_ID="\nPRETTY_NAME="a\\nb\\\\"tail\n',
      { id: 'foo', name: 'a', 'pretty-name': 'a\\nb\\', variant: 'abcc', 'variant-id': '"', version: "'Test", 'version-id': "'x'" },
    ],
    [
      'whitespace around `=` and at line start is dropped, trailing text after a closing quote is not kept',
      'ID = spaced\n  NAME=lead\nVERSION=  v2\nVERSION_ID=1 \nPRETTY_NAME="x y"   \nVARIANT=\n',
      { id: 'spaced', name: 'lead', 'pretty-name': 'x y', variant: '', version: 'v2', 'version-id': '1' },
    ],
    ['CRLF line ends lose one \\r; a tab does not cut', 'ID=crlf\r\nNAME="q"\r\nVERSION=v\t1\n', { id: 'crlf', name: 'q', version: 'v\t1' }],
    ['the last duplicate wins; comments and blank lines are skipped', 'ID=first\nID=second\n# comment\n\n   # indented\nNAME=n\n', { id: 'second', name: 'n' }],
    ['a line that is not a pair rejects the whole file', 'ID=x\nthis line is not a pair\nNAME=y\n', null],
    ['keys after another group header are not os-release keys', 'ID=x\n[other]\nNAME=y\n[os-release]\nVERSION=z\n', { id: 'x', version: 'z' }],
    ['invalid UTF-8 rejects the file', Buffer.from('ID=\xff\xfe\n', 'latin1'), null],
    ['a truncated UTF-8 sequence rejects the file', Buffer.from([0x49, 0x44, 0x3d, 0xc3, 0x0a]), null],
    [
      'backslash rules inside double quotes',
      'PRETTY_NAME="abc\\\nNAME="a\\q\\$b"\nID="ab"cd"\nVERSION="\\"\nVERSION_ID=\'a b\'\nVARIANT_ID=\'ab\'c;d\n',
      { id: 'ab', name: 'a\\q$b', 'pretty-name': 'abc\\\\', 'variant-id': "'ab'c", version: '"\\"', 'version-id': "'a" },
    ],
    ['`export ID=` is another key; a locale key does not shadow the plain one', 'export ID=exp\nNAME[de]=deutsch\nNAME=plain\n', { name: 'plain' }],
    ['an empty key rejects the file', 'ID=x\n=novalue\n', null],
    ['an empty file has no fields', '', {}],
    ['the last line needs no newline', 'ID=nonl', { id: 'nonl' }],
    ['a NUL byte ends the file', Buffer.from('ID=a\0b\nNAME=after\n', 'latin1'), { id: 'a' }],
    ['UTF-8 text is kept', 'ID=ümlaut x\nNAME="日本"\n', { id: 'ümlaut', name: '日本' }],
    ['escaped backslash and quote, and kept unknown escapes', 'ID="a\\\\\\"b" tail\nNAME="\\$HOME \\`x\\` \\a"\n', { id: 'a\\"b', name: '$HOME `x` \\a' }],
    ['leading blanks and a tab before `=` are dropped', ' ID=lead-space\n\tNAME=tab-lead\nVERSION\t=tabkey\n', { id: 'lead-space', name: 'tab-lead', version: 'tabkey' }],
    ['a bare word rejects the file', 'ID\n', null],
    ['an unterminated group header rejects the file', 'ID=a=b=c\nNAME=[x]\n[bad\n', null],
    ['trailing tabs of unquoted values are kept', 'ID=x\t\nNAME=[x]\n', { id: 'x\t', name: '[x]' }],
    ['a group name may contain spaces', 'ID=x\n[a b]\nNAME=y\n', { id: 'x' }],
    ['spaces inside a key are allowed', 'I D=x\nID=ok\n', { id: 'ok' }],
    ['`[` or `]` in a key rejects the file', 'ID[=x\n', null],
    ['`]` in a key rejects the file', 'ID]=x\n', null],
    ['an empty group name rejects the file', 'ID=x\n[]\n', null],
    ['text after a group header rejects the file', 'ID=x\n[os-release]junk\n', null],
    ['only the first \\r of a CRLF line end is dropped', 'ID=x\r\r\n', { id: 'x\r' }],
    ['an unterminated last line keeps its \\r', 'ID=a\r', { id: 'a\r' }],
    ['\\v and \\f are kept inside values', 'ID=a\x0bb\nNAME=a\x0c\n', { id: 'a\x0bb', name: 'a\x0c' }],
    ['a repeated [os-release] header is the same group', '[os-release]\nID=dup-group\n', { id: 'dup-group' }],
    ['`;` does not start a comment line', 'ID=x\n ;comment\n', null],
    ['a BOM inside a value is kept', Buffer.from('ID=\xef\xbb\xbfbom\n', 'latin1'), { id: '\ufeffbom' }],
    ['a BOM at the start makes the first key a different key', Buffer.from('\xef\xbb\xbfID=bom\nNAME=n\n', 'latin1'), { name: 'n' }],
    ['\\f is whitespace for GLib but \\v is not', 'ID=x\n\x0cVERSION=ff\nNAME\x0c=nf\nVARIANT\r=cr\n\x0bVARIANT_ID=vt\n', { id: 'x', name: 'nf', variant: 'cr', version: 'ff' }],
    ['a whitespace-only line is a blank line', 'ID=x\n \t \n[os-release] \t\nNAME=y\n', { id: 'x', name: 'y' }],
    ['`]` followed by text is not a group', 'ID=x\n[a]b]\nNAME=y\n', null],
    ['a control character in a group name rejects the file', 'ID=x\n[a\x01]\nNAME=y\n', null],
    ['a line starting with `=` after blanks rejects the file', 'ID=x\n =y\n', null],
    ['a locale suffix must be letters, digits, `-_.@`', 'ID=a\nID[de]=b\nNAME[x y]=1\n', null],
    ['a full locale suffix is fine', 'ID=x\nNAME[de_DE.UTF-8@euro]=v\nVERSION= =\n', { id: 'x', version: '=' }],
    ['a non-UTF-8 Encoding key in the first group rejects the file', 'ID=x\nEncoding=latin1\n', null],
    ['Encoding=utf-8 is accepted', 'ID=x\nEncoding=utf-8\n', { id: 'x' }],
    ['Encoding in another group is not checked', 'ID=x\n[g]\nEncoding=latin1\n', { id: 'x' }],
  ];

  for (const [description, contents, expected] of ORACLE) {
    it(description, () => {
      const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents;
      assert.deepEqual(parseOsRelease(bytes), expected);
    });
  }

  it('accepts a string, where only the NUL rule applies', () => {
    assert.deepEqual(parseOsRelease('ID=a\0\nNAME=b\n'), { id: 'a' });
    assert.deepEqual(parseOsRelease('ID="x y"\n'), { id: 'x y' });
  });
});

describe('unquoteOsReleaseValue', () => {
  it('implements the §2.3 rules on raw values', () => {
    assert.equal(unquoteOsReleaseValue('plain'), 'plain');
    assert.equal(unquoteOsReleaseValue('a;b c'), 'a');
    assert.equal(unquoteOsReleaseValue('a b;c'), 'a');
    assert.equal(unquoteOsReleaseValue("'single quoted'"), "'single");
    assert.equal(unquoteOsReleaseValue('"Unit test \\"\\\'\\$\\`\\\\ and \\\\\\\\ etc."'), 'Unit test "\'$`\\ and \\\\ etc.');
    assert.equal(unquoteOsReleaseValue('"a"b"'), 'a');
    assert.equal(unquoteOsReleaseValue('"ab'), 'abb');
    assert.equal(unquoteOsReleaseValue('"a\\$'), 'a$\\$');
    assert.equal(unquoteOsReleaseValue(''), '');
  });
});
