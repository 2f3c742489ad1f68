import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { EARLY_TIERING_FLAGS, MIN_V8_MAJOR, tieringFlagsFromEnv } from '../../../src/runtime/jit-tiering';
import { REPO_ROOT } from '../../support/repo';
import { shippedNodeBinary } from '../../support/shipped-node';

describe('tieringFlagsFromEnv (QGA_TS_V8_TIERING)', () => {
  it('uses the early counts when unset, empty or "early", on V8 12 and later', () => {
    for (const env of [{}, { QGA_TS_V8_TIERING: '' }, { QGA_TS_V8_TIERING: ' early ' }]) {
      assert.deepEqual(tieringFlagsFromEnv(env, '13.6.233.17-node.37'), { flags: EARLY_TIERING_FLAGS });
      assert.deepEqual(tieringFlagsFromEnv(env, '12.4.254.21-node.33'), { flags: EARLY_TIERING_FLAGS });
      // Node 20's V8 lacks --invocation-count-for-turbofan and would print an error for it
      assert.deepEqual(tieringFlagsFromEnv(env, '11.3.244.8-node.30'), { flags: [] });
    }
  });

  it('sets nothing for "default" (V8 keeps its own counts)', () => {
    assert.deepEqual(tieringFlagsFromEnv({ QGA_TS_V8_TIERING: 'default' }), { flags: [] });
  });

  it('takes a list of tier-up counts, comma- or space-separated', () => {
    assert.deepEqual(tieringFlagsFromEnv({ QGA_TS_V8_TIERING: '--invocation-count-for-maglev=50, --minimum-invocations-after-ic-update=20 --invocation-count-for-turbofan=600' }), {
      flags: ['--invocation-count-for-maglev=50', '--minimum-invocations-after-ic-update=20', '--invocation-count-for-turbofan=600'],
    });
  });

  it('refuses anything that is not a tier-up count, naming it', () => {
    for (const bad of ['--jitless', '--max-old-space-size=10', '--invocation-count-for-maglev=', '--invocation-count-for-maglev=1e9', 'maglev=5', '--allow-natives-syntax']) {
      const got = tieringFlagsFromEnv({ QGA_TS_V8_TIERING: `--invocation-count-for-maglev=5,${bad}` });
      assert.ok('error' in got, bad);
      assert.match(got.error, /QGA_TS_V8_TIERING/);
      assert.ok(got.error.includes(`'${bad.split(',').pop()}'`), got.error);
    }
  });

  it('every built-in flag passes its own check and names a flag the shipped V8 knows', (t) => {
    const node = shippedNodeBinary(REPO_ROOT);
    const v8 = execFileSync(node, ['-p', 'process.versions.v8'], { encoding: 'utf8' }).trim();
    if (Number.parseInt(v8, 10) < MIN_V8_MAJOR) {
      t.skip(`V8 ${v8} (${node}) is older than the tiering flags (the agent sets none there)`);
      return;
    }
    assert.deepEqual(tieringFlagsFromEnv({ QGA_TS_V8_TIERING: EARLY_TIERING_FLAGS.join(' ') }, v8), { flags: EARLY_TIERING_FLAGS });
    const options = execFileSync(node, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    for (const flag of EARLY_TIERING_FLAGS) {
      const name = flag.slice(2, flag.indexOf('='));
      assert.ok(options.includes(`--${name} `), `${name} is not in node --v8-options`);
    }
  });
});
