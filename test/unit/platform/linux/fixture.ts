import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * test/fixtures/linux, found by walking up from this file, so the tests read the committed
 * fixtures both under tsx (test/unit/…) and when compiled to dist/test/unit/….
 */
function fixtureDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'linux');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`test/fixtures/linux not found above ${__dirname}`);
  }
}

export function fixturePath(name: string): string {
  return path.join(fixtureDir(), name);
}

export function readFixture(name: string): string {
  return fs.readFileSync(fixturePath(name), 'utf8');
}

export function readFixtureBytes(name: string): Buffer {
  return fs.readFileSync(fixturePath(name));
}
