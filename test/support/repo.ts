/** Paths into the checkout, valid both from test/ (tsx) and from dist/test/ (compiled). */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}`);
    dir = up;
  }
  return dir;
}

export const REPO_ROOT = findRoot(__dirname);
export const repoPath = (...parts: string[]): string => path.join(REPO_ROOT, ...parts);
