/**
 * What the agent loads before its first reply. Start-up time and idle memory of the single
 * executable depend on not loading what a polled agent does not use (issue #6); this pins the
 * lazy loading down: loading the agent's whole start-up graph (src/main.ts) and building the
 * handler table must not load these Node modules or npm packages. Each is then loaded by the
 * first request or option that needs it (see src/commands/index.ts, src/transport/index.ts,
 * src/logging/agent-logger.ts, src/generated/qga-commands.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const NOT_AT_START_UP_BUILTINS = ['net', 'child_process', 'crypto', 'cluster', 'worker_threads', 'zlib', 'http', 'tls', 'dgram'];
const NOT_AT_START_UP_PACKAGES = ['pino', 'zod', 'serialport', '@serialport/stream', 'thread-stream', 'sonic-boom'];

/** Internal modules and npm files a fresh node (with this test's loader flags) has after `script`. */
function loadedAfter(script: string): { builtins: Set<string>; files: string[] } {
  const probe = `${script};\nconsole.log(JSON.stringify({ builtins: process.moduleLoadList, files: Object.keys(require.cache) }));`;
  const run = spawnSync(process.execPath, [...process.execArgv, '-e', probe], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { builtins: string[]; files: string[] };
  return { builtins: new Set(out.builtins), files: out.files };
}

test('the start-up graph and the handler table load no networking, process, crypto, logging or validation modules', (t) => {
  const main = JSON.stringify(require.resolve('../../src/main'));
  const commands = JSON.stringify(require.resolve('../../src/commands'));
  const baseline = loadedAfter('0');
  const agent = loadedAfter(
    [
      `require(${main});`,
      `const { createHandlers } = require(${commands});`,
      // The table as main.ts builds it, with stand-ins for the objects it only stores.
      "createHandlers({ native: { available: false, reason: 'test' }, fileHandles: {}, fsfreeze: { handlers: {} }, processTable: {}, runCommand: async () => 0 });",
    ].join('\n'),
  );
  const added = [...agent.builtins].filter((m) => !baseline.builtins.has(m));
  // A TypeScript loader (tsx) loads some of these itself; only `npm test` (compiled) checks those.
  const preloaded = NOT_AT_START_UP_BUILTINS.filter((name) => baseline.builtins.has(`NativeModule ${name}`));
  if (preloaded.length > 0) t.diagnostic(`not checkable under this loader (it loads them itself): ${preloaded.join(', ')}`);
  for (const name of NOT_AT_START_UP_BUILTINS) {
    assert.ok(!added.includes(`NativeModule ${name}`), `start-up loads node:${name}`);
  }
  for (const pkg of NOT_AT_START_UP_PACKAGES) {
    const needle = `/node_modules/${pkg}/`;
    assert.ok(!agent.files.some((f) => f.includes(needle)), `start-up loads the ${pkg} package`);
  }
  // The probe is real: the same check sees these modules once something needs them.
  const later = loadedAfter(`require('node:net'); require(${JSON.stringify(require.resolve('pino'))});`);
  assert.ok([...later.builtins].includes('NativeModule net'));
  assert.ok(later.files.some((f) => f.includes('/node_modules/pino/')));
});
