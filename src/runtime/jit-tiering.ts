/**
 * When V8 optimizes the request path.
 *
 * V8 moves a function from its baseline code to Maglev after about 400 calls (and 500 more after
 * any change in what it has seen), and to TurboFan after about 3000. A parser or a command
 * table called dozens of times per request gets there within a few requests; the functions
 * called once per request (the dispatcher, the session's pump, the encoder, the port's read and
 * write) run unoptimized for the first 400-3000 requests. Natively that is a few microseconds per
 * request; in a guest under emulation (QEMU TCG) unoptimized code costs several times more, and a
 * freshly started agent answered guest-sync 1.85x slower than qemu-ga where the same agent, once
 * optimized, was 1.1-1.2x (bench/vm-rtt.ts, bench/RESULTS.md).
 *
 * So once the agent is up (start-up code has run and is not affected) it lowers those counts:
 * what is called once per request is optimized within about ten requests. The cost is compiling
 * the request path earlier, once (about 170 M instructions natively, on V8's compiler thread);
 * code optimized on thin feedback is thrown away more often at first, but it settles: 6,000 mixed
 * requests of 19 kinds gave 35 deoptimizations in all, at most 4 for one function.
 *
 * QGA_TS_V8_TIERING chooses: unset or `early` these counts, `default` V8's own, or a list of V8
 * tier-up flags (comma- or space-separated, each `--name=value`) to tune without a rebuild.
 */

/** Tier-up counts for a long-lived request server (node --v8-options explains each). */
export const EARLY_TIERING_FLAGS: readonly string[] = [
  '--invocation-count-for-maglev=10',
  '--minimum-invocations-after-ic-update=5',
  '--invocation-count-for-turbofan=100',
];

export const TIERING_ENV = 'QGA_TS_V8_TIERING';

/**
 * V8 12 (Node 22) and later tier up by these invocation counts; older ones (Node 20, used only to
 * run a checkout) lack some of them and print an error for each unknown flag, so get none.
 */
export const MIN_V8_MAJOR = 12;

/** Only V8's tiering counters may be set this way: nothing that changes semantics or limits. */
const TUNABLE = /^--(invocation-count-for-[a-z-]+|minimum-invocations-[a-z-]+)=\d{1,6}$/;

export type TieringChoice = { flags: readonly string[] } | { error: string };

/** What QGA_TS_V8_TIERING asks for, on V8 `v8Version`; pure. */
export function tieringFlagsFromEnv(env: NodeJS.ProcessEnv, v8Version: string = process.versions.v8): TieringChoice {
  const value = (env[TIERING_ENV] ?? '').trim();
  if (value === '' || value === 'early') return { flags: Number.parseInt(v8Version, 10) >= MIN_V8_MAJOR ? EARLY_TIERING_FLAGS : [] };
  if (value === 'default') return { flags: [] };
  const flags = value.split(/[\s,]+/).filter((f) => f !== '');
  const bad = flags.find((f) => !TUNABLE.test(f));
  if (bad !== undefined) {
    return { error: `${TIERING_ENV}: '${bad}' is not a V8 tier-up count (--invocation-count-for-...=N or --minimum-invocations-...=N); using V8's defaults` };
  }
  return { flags };
}
