import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { QGA_COMMANDS } from '../../../src/generated/qga-commands';
import { ARGUMENT_VALIDATORS } from '../../../src/generated/qga-validators';

// The generated shortcuts may only ever accept what the zod validators accept, with the same
// value: every error text still comes from the validator.
const SAMPLES: unknown[] = [
  0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n, 1.5, 1e3, 'x', '', true, false, null, [], {},
];

function nullProto(o: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(Object.setPrototypeOf({}, null) as Record<string, unknown>, o);
}

test('fast argument checks agree with the zod validators', () => {
  let withFast = 0;
  let accepted = 0;
  for (const spec of QGA_COMMANDS) {
    if (!spec.fastArguments) continue;
    withFast++;
    const shape = Object.keys((ARGUMENT_VALIDATORS[spec.name] as unknown as { shape: Record<string, unknown> }).shape);
    const inputs: Record<string, unknown>[] = [{}];
    for (const key of shape) {
      const next: Record<string, unknown>[] = [];
      for (const base of inputs.slice(0, 200)) {
        next.push(base);
        for (const v of SAMPLES) next.push({ ...base, [key]: v });
      }
      inputs.splice(0, inputs.length, ...next);
    }
    inputs.push(...inputs.slice(0, 50).map((i) => ({ ...i, extra: 1n })));
    for (const raw of inputs) {
      const a = nullProto(raw);
      const fast = spec.fastArguments(a);
      const slow = spec.checkArguments(a);
      if (fast !== null) {
        accepted++;
        assert.ok(slow.ok, `${spec.name}: fast accepted what zod rejects: ${String(Object.keys(raw))}`);
        assert.deepEqual({ ...fast }, { ...(slow as { value: object }).value }, spec.name);
      } else if (slow.ok) {
        // Declining is always allowed (zod then decides); but the common valid shapes must pass.
        assert.ok(Object.values(raw).some((v) => typeof v === 'number'), `${spec.name}: fast declined a plain valid input`);
      }
    }
  }
  assert.ok(withFast >= 8, `only ${withFast} commands have a shortcut`);
  assert.ok(accepted > 100);
});

test('the zod validators are not loaded until a request needs one', () => {
  // This file's first test loaded them on purpose; a fresh process shows the start-up state.
  const script = [
    `const { QGA_COMMANDS } = require(${JSON.stringify(require.resolve('../../../src/generated/qga-commands'))});`,
    "const loaded = () => Object.keys(require.cache).some((f) => /qga-validators/.test(f) || /[\\\\/]zod[\\\\/]/.test(f));",
    "const sync = QGA_COMMANDS.find((c) => c.name === 'guest-sync');",
    "const before = loaded();",
    "const fast = sync.fastArguments({ id: 5n });",
    "const afterFast = loaded();",
    "const slow = sync.checkArguments({ id: 'x' });",
    "console.log(JSON.stringify({ before, fast: fast !== null, afterFast, slowOk: slow.ok, error: slow.ok ? null : slow.error.desc, after: loaded() }));",
  ].join('\n');
  const run = spawnSync(process.execPath, [...process.execArgv, '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    before: false,
    fast: true,
    afterFast: false,
    slowOk: false,
    error: "Invalid parameter type for 'id', expected: integer",
    after: true,
  });
});
