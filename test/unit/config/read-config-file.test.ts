import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import { parseCommandLine } from '../../../src/config/cli';
import { readConfigFileFromDisk } from '../../../src/config/read-config-file';

const codeOf = (read: () => unknown): unknown => {
  try {
    read();
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return undefined;
};

describe('readConfigFileFromDisk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-config-'));
  const file = path.join(dir, 'qemu-ga.conf');
  fs.writeFileSync(file, Buffer.from('[general]\nmethod=a\xffb\n', 'latin1'));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('returns the bytes of a regular file', () => {
    assert.deepEqual(readConfigFileFromDisk(file), fs.readFileSync(file));
  });

  it('reports a missing file as ENOENT and anything irregular as ENOTREG', () => {
    assert.equal(codeOf(() => readConfigFileFromDisk(path.join(dir, 'missing'))), 'ENOENT');
    assert.equal(codeOf(() => readConfigFileFromDisk(dir)), 'ENOTREG');
    assert.equal(codeOf(() => readConfigFileFromDisk('/dev/null')), 'ENOTREG');
    assert.equal(codeOf(() => readConfigFileFromDisk(fifo)), 'ENOTREG');
  });

  it('gives the messages qemu-ga gives (7.2: /dev/null is "Not a regular file")', () => {
    const context = { ownVersion: '0', qemuCompatVersion: '10.2.0', commandNames: [] };
    const stderrFor = (conf: string): string => {
      const outcome = parseCommandLine(['qga-ts', '-D'], { QGA_CONF: conf }, readConfigFileFromDisk, context);
      return outcome.stderr;
    };
    const failure = (conf: string, reason: string): string =>
      `critical: error loading configuration from path: ${conf}, ${reason}\n`;
    assert.equal(stderrFor('/dev/null'), failure('/dev/null', 'Not a regular file'));
    assert.equal(stderrFor(dir), failure(dir, 'Not a regular file'));
    assert.equal(
      stderrFor(file),
      failure(file, 'Key file contains key \u201cmethod\u201d with value \u201ca\ufffdb\u201d which is not UTF-8'),
    );
    assert.equal(stderrFor(path.join(dir, 'missing')), '');
  });
});
