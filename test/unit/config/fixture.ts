import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * test/fixtures/config, found by walking up from this file, so the tests read the committed
 * fixtures both under tsx (test/unit/…) and when compiled to dist/test/unit/….
 * The qemu-ga-7.2-*.txt files are stdout of Debian's /usr/sbin/qemu-ga 7.2.22 run with -D.
 */
function fixtureDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'config');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`test/fixtures/config not found above ${__dirname}`);
  }
}

export function configFixturePath(name: string): string {
  return path.join(fixtureDir(), name);
}

export function readConfigFixture(name: string): string {
  return fs.readFileSync(configFixturePath(name), 'utf8');
}
