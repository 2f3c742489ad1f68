/**
 * The main script of the single executable (dist/qga-ts). `qga-ts [qemu-ga flags]` is the agent;
 * `qga-ts client …` and `qga-ts monitor …` run the host-side tools exactly as bin/qga-client and
 * bin/qga-monitor do (src/host/client-cli.ts `clientMain`, src/host/monitor/monitor-cli.ts
 * `monitorMain`, called with the words after the subcommand) when the build found them.
 * `qga-ts self-check` prints how this executable is put together (runtime, embedded assets, where
 * the native helper loads from) as JSON, for an image build or a VM test to assert on.
 *
 * The host tools are optional at build time, so packaging/build-sea.ts supplies the virtual module
 * `qga-ts:host-subcommands` with a loader for each file that existed and null otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostSubcommands } from 'qga-ts:host-subcommands';
import { main } from '../src/main';
import { loadAgentNativeHelper, NATIVE_ASSET_KEY, nodeSeaAssets } from '../src/native/packaged-addon';
import { QEMU_GA_COMPAT_VERSION, QGA_TS_VERSION } from '../src/version';

type Subcommand = keyof typeof hostSubcommands;

function isHostSubcommand(word: string | undefined): word is Subcommand {
  return word !== undefined && Object.prototype.hasOwnProperty.call(hostSubcommands, word);
}

const HOST_TOOL_SOURCES: Record<Subcommand, string> = {
  client: 'src/host/client-cli.ts',
  monitor: 'src/host/monitor/monitor-cli.ts',
};

async function runHostSubcommand(name: Subcommand, args: readonly string[]): Promise<number> {
  const tool = hostSubcommands[name];
  if (tool === null) {
    process.stderr.write(
      `qga-ts: the '${name}' subcommand is not part of this build (${HOST_TOOL_SOURCES[name]} did not exist when dist/qga-ts was built)\n`,
    );
    return 2;
  }
  const entry = tool.load()[tool.entry];
  if (typeof entry !== 'function') {
    process.stderr.write(`qga-ts: ${tool.source} does not export ${tool.entry}(argv)\n`);
    return 2;
  }
  return (entry as (argv: string[]) => Promise<number>)([...args]);
}

function selfCheck(): number {
  const sea = nodeSeaAssets();
  // Does what the agent's start-up does, extraction included, so the answer is the agent's.
  const native = loadAgentNativeHelper({ allowExtraction: true });
  let assets: string[] = [];
  try {
    assets = sea?.isSea() ? (require('node:sea') as { getAssetKeys?: () => string[] }).getAssetKeys?.() ?? [] : [];
  } catch {
    assets = [];
  }
  const report = {
    version: QGA_TS_VERSION,
    qemuGaCompat: QEMU_GA_COMPAT_VERSION,
    node: process.version,
    execPath: process.execPath,
    singleExecutable: sea?.isSea() ?? false,
    assets,
    nativeAsset: assets.includes(NATIVE_ASSET_KEY),
    native: native.available ? { available: true, loadedFrom: native.loadedFrom } : { available: false, reason: native.reason },
    glibc: (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime,
    cwd: fs.existsSync(process.cwd()) ? path.resolve(process.cwd()) : null,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

async function run(): Promise<void> {
  // In a single executable argv[1] repeats argv[0] (the binary); the user's words follow.
  const program = process.argv[1] ?? process.execPath;
  const args = process.argv.slice(2);
  const first = args[0];
  if (isHostSubcommand(first)) {
    // As bin/qga-client and bin/qga-monitor: let pending output drain, and do not let a lingering
    // keep-alive connection hold a finished tool open.
    process.exitCode = await runHostSubcommand(first, args.slice(1));
    setTimeout(() => process.exit(), 3000).unref();
    return;
  }
  const code = first === 'self-check' && args.length === 1 ? selfCheck() : await main([program, ...args]);
  process.exit(code);
}

run().catch((e: unknown) => {
  process.stderr.write(`qga-ts: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
