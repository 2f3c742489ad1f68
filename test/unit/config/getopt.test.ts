// Every expectation here is what glibc 2.36's getopt_long returned (and printed) for the same argv
// with qemu-ga 10.2's option table; the scan was also compared with glibc on thousands of random
// argv vectors while it was written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { COMMAND_LINE_OPTIONS } from '../../../src/config/cli';
import { scanOptions } from '../../../src/config/getopt';

/** The scan as glibc's probe printed it: `x` or `x=arg` per option, `?` after an error line. */
function trace(args: string[], posixlyCorrect = false): string[] {
  const scan = scanOptions(['qemu-ga', ...args], COMMAND_LINE_OPTIONS, { posixlyCorrect });
  const lines: string[] = [];
  for (const event of scan.events) {
    if (event.kind === 'error') {
      lines.push(event.message, '?');
      continue;
    }
    const spec = COMMAND_LINE_OPTIONS.find((candidate) => candidate.id === event.id);
    const name = spec?.short ?? `--${spec?.long}`;
    lines.push(event.argument === undefined ? name : `${name}=${event.argument}`);
  }
  return [...lines, ...scan.operands.map((operand) => `operand:${operand}`)];
}

describe('getopt_long emulation', () => {
  it('bundles short flags and takes attached or separate arguments', () => {
    assert.deepEqual(trace(['-vdr', '-pPATH', '-m', 'unix-listen', '-vpfoo']), [
      'v', 'd', 'r', 'p=PATH', 'm=unix-listen', 'v', 'p=foo',
    ]);
  });

  it('gives a required argument the next word whatever it looks like', () => {
    assert.deepEqual(trace(['-p', '-F', '--path', '-v', '-b', '--']), ['p=-F', 'p=-v', 'b=--']);
  });

  it('only attaches the optional -F argument', () => {
    assert.deepEqual(trace(['-F', '-F/x', '-Fv', '-vF', '-F', '/y']), [
      'F', 'F=/x', 'F=v', 'v', 'F', 'F', 'operand:/y',
    ]);
    assert.deepEqual(trace(['--fsfreeze-hook', '/x', '--fsfreeze-hook=/x', '--fsfreeze-hook=']), [
      'F', 'F=/x', 'F=', 'operand:/x',
    ]);
  });

  it('accepts --opt=value and --opt value, and unambiguous prefixes', () => {
    assert.deepEqual(
      trace(['--path=a', '--path', 'b', '--dump', '--daemon', '--verb', '--retry', '--block=x', '--stat=/s', '--pid=/p', '--log=/l', '--meth=isa-serial', '--fs', '--fs=/h', '--c=/c', '--a=g']),
      ['p=a', 'p=b', 'D', 'd', 'v', 'r', 'b=x', 't=/s', 'f=/p', 'l=/l', 'm=isa-serial', 'F', 'F=/h', 'c=/c', 'a=g'],
    );
  });

  it('needs our extension spelled in full, so --f stays --fsfreeze-hook', () => {
    assert.deepEqual(trace(['--f', '--freeze-timeout=5', '--freeze-timeout', '6']), [
      'F', '--freeze-timeout=5', '--freeze-timeout=6',
    ]);
    assert.deepEqual(trace(['--free=5']), ["qemu-ga: unrecognized option '--free=5'", '?']);
  });

  it('skips operands (GNU permutation) and stops at --', () => {
    assert.deepEqual(trace(['foo', '-D', 'bar', '-', '--', '-v']), [
      'D', 'operand:foo', 'operand:bar', 'operand:-', 'operand:-v',
    ]);
  });

  it('stops at the first operand under POSIXLY_CORRECT', () => {
    assert.deepEqual(trace(['-v', 'a', '-d'], true), ['v', 'operand:a', 'operand:-d']);
  });

  it('reports errors with glibc texts and keeps scanning', () => {
    assert.deepEqual(trace(['-x', '-vx', '--xyz=3', '-W', 'foo', '-:']), [
      "qemu-ga: invalid option -- 'x'", '?',
      'v',
      "qemu-ga: invalid option -- 'x'", '?',
      "qemu-ga: unrecognized option '--xyz=3'", '?',
      "qemu-ga: invalid option -- 'W'", '?',
      "qemu-ga: invalid option -- ':'", '?',
      'operand:foo',
    ]);
  });

  it('reports missing arguments', () => {
    assert.deepEqual(trace(['-p']), ["qemu-ga: option requires an argument -- 'p'", '?']);
    assert.deepEqual(trace(['-vp']), ['v', "qemu-ga: option requires an argument -- 'p'", '?']);
    assert.deepEqual(trace(['--pa']), ["qemu-ga: option '--path' requires an argument", '?']);
  });

  it('reports arguments given to flags, naming the full option', () => {
    assert.deepEqual(trace(['--help=3', '--dump=1', '--retry-path=']), [
      "qemu-ga: option '--help' doesn't allow an argument", '?',
      "qemu-ga: option '--dump-conf' doesn't allow an argument", '?',
      "qemu-ga: option '--retry-path' doesn't allow an argument", '?',
    ]);
  });

  it('lists ambiguous candidates in table order', () => {
    assert.deepEqual(trace(['--ver', '--d', '--p=x']), [
      "qemu-ga: option '--ver' is ambiguous; possibilities: '--version' '--verbose'", '?',
      "qemu-ga: option '--d' is ambiguous; possibilities: '--dump-conf' '--daemonize'", '?',
      "qemu-ga: option '--p=x' is ambiguous; possibilities: '--pidfile' '--path'", '?',
    ]);
    assert.deepEqual(trace(['--=x']), [
      "qemu-ga: option '--=x' is ambiguous; possibilities: '--help' '--version' '--config' '--dump-conf' '--logfile' '--pidfile' '--fsfreeze-hook' '--verbose' '--method' '--path' '--daemonize' '--block-rpcs' '--allow-rpcs' '--statedir' '--retry-path'",
      '?',
    ]);
  });

  it('knows -s (Windows service) only as a short option', () => {
    assert.deepEqual(trace(['-s', 'x', '-sy', '--service=z', '--s']), [
      's=x', 's=y',
      "qemu-ga: unrecognized option '--service=z'", '?',
      "qemu-ga: option '--statedir' requires an argument", '?',
    ]);
    assert.deepEqual(trace(['--s', '/st']), ['t=/st']);
  });
});
