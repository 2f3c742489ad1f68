/**
 * `npm run gen` writes src/generated/ and docs/commands.md from schema/qga.json;
 * `npm run gen:check` regenerates in memory and fails on any difference.
 * Runs from the compiled tree (dist/schema/codegen) but resolves paths from the repo root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateAll } from './generate';
import { SchemaError } from './parse';

const SCHEMA = 'schema/qga.json';

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root');
    dir = up;
  }
  return dir;
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const root = repoRoot();
  let files;
  try {
    files = generateAll(fs.readFileSync(path.join(root, SCHEMA), 'utf8'), SCHEMA);
  } catch (e) {
    if (e instanceof SchemaError) {
      process.stderr.write(`schema error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const stale: string[] = [];
  for (const f of files) {
    const target = path.join(root, f.path);
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : null;
    if (current === f.content) continue;
    if (check) {
      stale.push(f.path);
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, f.content);
      process.stdout.write(`wrote ${f.path}\n`);
    }
  }
  if (stale.length > 0) {
    process.stderr.write(`generated files are stale: ${stale.join(', ')}\nrun \`npm run gen\` and commit the result\n`);
    return 1;
  }
  if (check) process.stdout.write(`generated files are up to date (${files.length} files)\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
