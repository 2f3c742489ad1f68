// Helpers of test/vm/virsh.test.ts: the private libvirtd, virsh invocations, the domain XML, the
// guest payload (the agent + test/vm/virsh/guest/) and parsers for virsh's text output.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmSourceDir } from '../vm';

export function virshDir(): string {
  return path.join(vmSourceDir(), 'virsh');
}

export function repoRootDir(): string {
  return path.resolve(vmSourceDir(), '..', '..');
}

/** Why libvirt cannot be used here, or undefined. */
export function libvirtPrerequisiteProblem(): string | undefined {
  const runs = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
  if (process.getuid?.() !== 0) return 'the private libvirtd needs root (mount namespace, bind mounts)';
  if (!runs('virsh', ['--version'])) return 'virsh not installed (apt: libvirt-clients)';
  if (!runs('libvirtd', ['--version'])) return 'libvirtd not installed (apt: libvirt-daemon libvirt-daemon-driver-qemu)';
  if (!runs('virtlogd', ['--version'])) return 'virtlogd not installed (apt: libvirt-daemon)';
  const driver = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so';
  if (!fs.existsSync(driver)) return `libvirt's QEMU driver is missing (${driver}; apt: libvirt-daemon-driver-qemu)`;
  if (!runs('unshare', ['--version'])) return 'unshare not installed (util-linux)';
  return undefined;
}

/** The agent that goes into the guest. */
export type AgentBuild =
  | { kind: 'single-executable'; binary: string; nativeAddon: string | undefined }
  | { kind: 'node'; problem: undefined };

/**
 * dist/qga-ts when it exists. Otherwise the checkout's agent run by node (as test/vm/agent.test.ts
 * does), except under CI, where the shipped file must be tested: then the missing file is an error.
 */
export function findAgentBuild(env: NodeJS.ProcessEnv = process.env): { build?: AgentBuild; problem?: string; mustFail?: boolean } {
  const root = repoRootDir();
  const binary = path.join(root, 'dist', 'qga-ts');
  if (fs.existsSync(binary)) {
    const addon = path.join(root, 'dist', 'sea', 'qga_native.node');
    return { build: { kind: 'single-executable', binary, nativeAddon: fs.existsSync(addon) ? addon : undefined } };
  }
  if (env['CI'] === 'true') return { problem: 'dist/qga-ts is missing (npm run package); CI must test the shipped file', mustFail: true };
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'main.js'))) {
    return { problem: 'neither dist/qga-ts (npm run package) nor the compiled checkout agent (npm run build) exists' };
  }
  if (!fs.existsSync(path.join(root, 'build', 'Release', 'qga_native.node'))) {
    return { problem: 'dist/qga-ts is missing and the native helper is not built (build/Release/qga_native.node)' };
  }
  return { build: { kind: 'node', problem: undefined } };
}

// ------------------------------------------------------------------ the private libvirtd

export interface Libvirtd {
  uri: string;
  dir: string;
  stop(): Promise<void>;
}

export function runScript(args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('bash', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** Starts virtlogd + libvirtd in their own mount namespace with everything under `dir`. */
export async function startLibvirtd(dir: string): Promise<Libvirtd> {
  const script = path.join(virshDir(), 'libvirtd.sh');
  const { stdout } = await runScript([script, 'start', dir], 120_000);
  const uri = /^URI=(.*)$/m.exec(stdout)?.[1];
  if (uri === undefined) throw new Error(`libvirtd.sh printed no URI:\n${stdout}`);
  return {
    uri,
    dir,
    stop: async () => {
      await runScript([script, 'stop', dir], 30_000);
    },
  };
}

// ------------------------------------------------------------------ virsh

export interface VirshResult {
  args: string[];
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function virsh(uri: string, args: string[], timeoutMs = 60_000): Promise<VirshResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile('virsh', ['-c', uri, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ args, status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** virsh that must succeed; returns its stdout. */
export async function virshOk(uri: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const result = await virsh(uri, args, timeoutMs);
  if (result.status !== 0) {
    throw new Error(`virsh ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()} ${result.stdout.trim()}`);
  }
  return result.stdout;
}

// ------------------------------------------------------------------ domain XML

export interface DomainValues {
  NAME: string;
  KERNEL: string;
  INITRD: string;
  EMULATOR: string;
  DATA_DISK: string;
  DISK_SERIAL: string;
  MAC: string;
  AGENT_SOCKET: string;
  CONSOLE_LOG: string;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' };

/** Fills @WORD@ placeholders of domain.xml; every placeholder must have a value. */
export function renderDomainXml(template: string, values: DomainValues): string {
  const filled = template.replace(/@([A-Z_]+)@/g, (whole, key: string) => {
    const value = (values as unknown as Record<string, string | undefined>)[key];
    if (value === undefined) throw new Error(`domain.xml: no value for ${whole}`);
    return value.replace(/[&<>'"]/g, (c) => XML_ESCAPES[c]!);
  });
  return filled;
}

export function qemuEmulator(): string {
  const found = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' });
  const emulator = found.stdout.trim();
  if (found.status !== 0 || emulator === '') throw new Error('qemu-system-x86_64 not found');
  return fs.realpathSync(emulator);
}

// ------------------------------------------------------------------ guest payload

function sharedLibraries(binary: string): string[] {
  const out = spawnSync('ldd', [binary], { encoding: 'utf8' }).stdout;
  const libraries: string[] = [];
  for (const line of out.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    if (arrow) libraries.push(arrow[1]!);
  }
  return libraries;
}

/** The compiled checkout agent with its production dependencies, run by the image's node. */
function copyCheckoutAgent(app: string): void {
  const root = repoRootDir();
  const copy = (rel: string): void => {
    fs.cpSync(path.join(root, rel), path.join(app, rel), { recursive: true, verbatimSymlinks: true });
  };
  for (const rel of ['bin/qga-ts', 'package.json', 'dist/src', 'build/Release/qga_native.node']) copy(rel);
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' }).stdout;
  const modules = path.join(root, 'node_modules') + path.sep;
  for (const pkg of listed.split('\n').map((line) => line.trim())) {
    if (!pkg.startsWith(modules)) continue;
    fs.cpSync(pkg, path.join(app, 'node_modules', pkg.slice(modules.length)), {
      recursive: true,
      verbatimSymlinks: true,
      // Nested node_modules are listed on their own; prebuilt addons for other platforms are dead weight.
      filter: (source) => !/\/node_modules\/[^/]+(\/[^/]+)?\/node_modules$/.test(source) && !/\/prebuilds\/(?!linux-x64)[^/]+$/.test(source),
    });
  }
}

/**
 * Load order of `module` and its dependencies from modules.dep (dependencies first). Modules the
 * base image already loaded simply fail with "File exists" in the guest.
 */
export function moduleLoadOrder(modulesDep: string, module: string): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon);
    deps.set(path.basename(file).replace(/\.ko.*$/, ''), [file, ...line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== '')]);
  }
  const order: string[] = [];
  const visit = (name: string): void => {
    const entry = deps.get(name);
    if (entry === undefined) throw new Error(`module ${name} not in modules.dep`);
    const [file, ...needs] = entry;
    if (order.includes(file!)) return;
    // modules.dep lists a module's dependencies so that the last one must be loaded first.
    for (const need of [...needs].reverse()) visit(path.basename(need).replace(/\.ko.*$/, ''));
    order.push(file!);
  };
  visit(module);
  return order;
}

/**
 * The payload directory for build-image.sh: guest/ (run, the recording chpasswd), the agent, and
 * virtio_net with its dependencies from the kernel that build-image.sh unpacked (`kernel` is its
 * vmlinuz; the tree sits beside it).
 */
export function assembleVirshPayload(workDir: string, kernel: string, build: AgentBuild): string {
  const dir = path.join(workDir, 'payload');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const guest = path.join(virshDir(), 'guest');
  for (const file of ['run', 'bin/chpasswd']) {
    fs.copyFileSync(path.join(guest, file), path.join(dir, file));
    fs.chmodSync(path.join(dir, file), 0o755);
  }

  if (build.kind === 'single-executable') {
    fs.copyFileSync(build.binary, path.join(dir, 'qga-ts'));
    fs.chmodSync(path.join(dir, 'qga-ts'), 0o755);
    // The packaged copy next to the binary: nothing is extracted in the guest.
    if (build.nativeAddon !== undefined) fs.copyFileSync(build.nativeAddon, path.join(dir, 'qga_native.node'));
    fs.mkdirSync(path.join(dir, 'lib'));
    for (const library of sharedLibraries(build.binary)) {
      fs.copyFileSync(fs.realpathSync(library), path.join(dir, 'lib', path.basename(library)));
    }
  } else {
    copyCheckoutAgent(path.join(dir, 'app'));
  }

  const tree = path.join(path.dirname(kernel), 'tree', 'lib', 'modules');
  const kver = fs.readdirSync(tree)[0]!;
  const moduleDir = path.join(tree, kver);
  const order = moduleLoadOrder(fs.readFileSync(path.join(moduleDir, 'modules.dep'), 'utf8'), 'virtio_net');
  fs.mkdirSync(path.join(dir, 'modules'));
  for (const file of order) fs.copyFileSync(path.join(moduleDir, file), path.join(dir, 'modules', path.basename(file)));
  fs.writeFileSync(path.join(dir, 'modules', 'order'), order.map((file) => path.basename(file)).join('\n') + '\n');
  return dir;
}

// ------------------------------------------------------------------ output parsers

/** `virsh guestinfo` / `domtime`-style "key : value" lines. */
export function parseKeyValues(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\S+)\s*:\s?(.*)$/.exec(line.trim());
    if (match) map.set(match[1]!, match[2]!.trim());
  }
  return map;
}

/** A virsh table (header, dashes, rows) as rows of whitespace-separated cells. */
export function parseTable(text: string): string[][] {
  const lines = text.split('\n').map((line) => line.trim());
  const dashes = lines.findIndex((line) => /^-{3,}$/.test(line));
  if (dashes < 0) throw new Error(`no table in:\n${text}`);
  return lines.slice(dashes + 1).filter((line) => line !== '').map((line) => line.split(/\s+/));
}

/** "qga-virsh-fact: key=value" console lines; repeated keys collect every value. */
export function parseFacts(consoleText: string): Map<string, string[]> {
  const facts = new Map<string, string[]>();
  for (const line of consoleText.split('\n')) {
    const match = /^qga-virsh-fact: ([^=]+)=(.*?)\r?$/.exec(line);
    if (!match) continue;
    const list = facts.get(match[1]!) ?? [];
    list.push(match[2]!);
    facts.set(match[1]!, list);
  }
  return facts;
}

/** Expands a CPU list such as "0-1,3" into numbers. */
export function expandCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const [from, to] = part.split('-').map((n) => Number(n));
    for (let cpu = from!; cpu <= (to ?? from!); cpu++) cpus.push(cpu);
  }
  return cpus;
}
