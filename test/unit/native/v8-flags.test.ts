/**
 * setV8Flags (src/native/v8_flags.c): the real addon in a child node, where V8's flags can be
 * changed without touching the test runner's own.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { shippedNodeBinary } from '../../support/shipped-node';
import { BUILT_ADDON, builtSkip, helper, REPO_ROOT } from './native-test-support';

// on the shipped runtime even when npm test runs on an older node
const NODE = shippedNodeBinary(REPO_ROOT);
const NODE_V8 = execFileSync(NODE, ['-p', 'process.versions.v8'], { encoding: 'utf8' }).trim();

/**
 * Calls a small function until V8 has optimized it (or 3000 times) and prints how many calls
 * that took; with `flag` set through the addon first. `%` needs --allow-natives-syntax, so the
 * function is compiled from text after that flag is set.
 */
function callsUntilOptimized(flag: string | null): { calls: number; set: boolean | null } {
  const script = `
    const m = { exports: {} };
    process.dlopen(m, ${JSON.stringify(BUILT_ADDON)});
    const set = ${flag === null ? 'null' : `m.exports.setV8Flags(${JSON.stringify(flag)})`};
    const run = new Function(\`
      function f(x) { return x * 2 + 1; }
      let n = 0;
      for (; n < 3000; n++) {
        f(n);
        if (%GetOptimizationStatus(f) & 16) break;
      }
      return n;\`);
    process.stdout.write(JSON.stringify({ calls: run(), set }));`;
  const out = execFileSync(NODE, ['--allow-natives-syntax', '--no-concurrent-recompilation', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as { calls: number; set: boolean | null };
}

const oldV8 = Number.parseInt(NODE_V8, 10) < 12 ? `V8 ${NODE_V8} (${NODE}) has Maglev off, so the earlier tier-up this observes does not happen` : false;

test('setV8Flags sets a V8 flag in the running process (an earlier tier-up is observable)', { skip: builtSkip || oldV8 }, () => {
  const before = callsUntilOptimized(null);
  const after = callsUntilOptimized('--invocation-count-for-maglev=5');
  assert.equal(after.set, true, 'the executable exports v8::V8::SetFlagsFromString');
  assert.ok(after.calls < 50, `optimized after ${after.calls} calls with --invocation-count-for-maglev=5`);
  assert.ok(before.calls > after.calls * 4, `V8's own count (${before.calls} calls) is not much later than 5 (${after.calls})`);
});

test('setV8Flags refuses what is not a short string, before any call into V8', { skip: builtSkip }, () => {
  const native = helper();
  assert.throws(() => native.setV8Flags(42 as unknown as string), TypeError);
  assert.throws(() => native.setV8Flags(`--${'x'.repeat(2000)}`), RangeError);
});
