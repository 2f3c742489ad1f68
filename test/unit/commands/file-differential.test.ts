/**
 * The file commands side by side with Debian's qemu-ga (7.2): both agents listen on unix sockets
 * in temp dirs of their own, get the same bytes, and must answer byte for byte the same. After
 * every step the files in both working dirs must also match in size (so stdio buffering shows
 * the same way to other readers), after every open the new descriptor must carry the same
 * f_flags, and at the end the file contents and qga.state must be identical.
 *
 * Paths are relative, so the texts of the replies do not differ: qemu-ga runs with its temp dir
 * as working directory, and so does this process while the test runs. Our agent is wired as
 * main.ts wires it (unix-listen channel → session → dispatcher → handlers) inside this process.
 *
 * Not compared, because qga-ts deliberately differs (see src/commands/stdio-file.ts): a fifo
 * read that gets EAGAIN after some bytes, seeks beyond a filesystem's maximum file size, SEEK_END
 * on directories and /dev/null.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createHandlers } from '../../../src/commands';
import { createFileHandleTable, type FileHandleTable } from '../../../src/commands/file';
import type { AgentServices } from '../../../src/dispatch/command-context';
import { Dispatcher } from '../../../src/dispatch/dispatcher';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import { ChannelSession } from '../../../src/protocol/channel-session';
import { AgentState } from '../../../src/state/agent-state';
import { loadPersistentState } from '../../../src/state/persistent-state';
import { UnixListenChannel } from '../../../src/transport/unix-listen';
import { testHandlerDeps } from '../../support/inject';
import { QEMU_GA_BIN, RawClient, makeTempDir, qemuGaAvailable, startAgent, type RunningAgent } from '../../support/agent-process';

const skip = qemuGaAvailable() ? false : `Debian's qemu-ga is not installed (${QEMU_GA_BIN}; apt-get install qemu-guest-agent)`;

interface Side {
  dir: string;
  pid: number;
  client: RawClient;
}

let reference: RunningAgent | undefined;
let theirs: Side;
let ours: Side;
let ourChannel: UnixListenChannel | undefined;
let ourHandles: FileHandleTable | undefined;
let previousCwd: string;

async function startOurs(): Promise<Side> {
  const dir = makeTempDir('qga-file-diff-');
  const statedir = path.join(dir, 'state');
  fs.mkdirSync(statedir);
  const socket = path.join(dir, 'qga.sock');
  const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
  const state = new AgentState({ frozen: false });
  const persistent = await loadPersistentState({ statedir, frozen: false });
  ourHandles = createFileHandleTable(persistent);
  const dispatcher = new Dispatcher({
    handlers: createHandlers(testHandlerDeps(logger, ourHandles)),
    blockRpcs: [],
    allowRpcs: [],
    logger,
  });
  const services: AgentServices = {
    state,
    compatVersion: '7.2.22',
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    commandInfo: () => dispatcher.commandInfo(),
  };
  dispatcher.attach(services);
  const channel = new UnixListenChannel({ path: socket, logger });
  ourChannel = channel;
  const session = new ChannelSession(dispatcher, channel, logger);
  await channel.open({ onConnect: () => session.reset(), onData: (c) => session.receive(c), onInputEnd: (done) => session.whenIdle(done), onDisconnect: () => undefined });
  process.chdir(dir);
  return { dir, pid: process.pid, client: await RawClient.connect(socket) };
}

before(async () => {
  if (skip) return;
  previousCwd = process.cwd();
  reference = await startAgent({ binary: QEMU_GA_BIN });
  theirs = { dir: reference.dir, pid: reference.proc.pid!, client: await RawClient.connect(reference.socket) };
  ours = await startOurs();
});

after(async () => {
  if (skip) return;
  theirs?.client.close();
  ours?.client.close();
  await reference?.stop();
  await ourHandles?.closeAll();
  await ourChannel?.close();
  process.chdir(previousCwd);
  for (const side of [theirs, ours]) if (side) fs.rmSync(side.dir, { recursive: true, force: true });
});

/** Files of the working dir (not the agent's own socket, config and state dir) with their sizes. */
function workingFiles(dir: string): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (['state', 'qga.sock', 'qga.conf'].includes(name)) continue;
    const st = fs.lstatSync(path.join(dir, name));
    out[name] = st.isFile() ? st.size : st.isDirectory() ? 'dir' : st.isFIFO() ? 'fifo' : 'other';
  }
  return out;
}

/** fd → f_flags of every descriptor of `pid` open on a file under `dir`. */
function descriptorsUnder(pid: number, dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (!target.startsWith(dir + path.sep) && target !== dir) continue;
    const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    out.set(`${fd}:${target}`, parseInt(/^flags:\s+([0-7]+)/m.exec(info)![1]!, 8));
  }
  return out;
}

/** The f_flags of descriptors that appeared during `fn`, in octal, with paths made relative. */
async function newDescriptorFlags(side: Side, fn: () => Promise<void>): Promise<string[]> {
  const before = descriptorsUnder(side.pid, side.dir);
  await fn();
  const after = descriptorsUnder(side.pid, side.dir);
  return [...after]
    .filter(([key]) => !before.has(key))
    .map(([key, flags]) => `${path.relative(side.dir, key.slice(key.indexOf(':') + 1))} ${flags.toString(8)}`);
}

type Step = { req: Record<string, unknown> } | { both: (dir: string) => void } | { label: string };

const req = (execute: string, args?: Record<string, unknown>): Step => ({ req: args ? { execute, arguments: args } : { execute } });
const both = (fn: (dir: string) => void): Step => ({ both: fn });
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const hello = b64('Hello World!\n');

/** Handles are predictable: both agents start from a fresh state dir and open in the same order. */
const STEPS: Step[] = [
  // the recorded cycle of reference §6.3, on a relative path
  req('guest-file-open', { path: 'foo', mode: 'w+' }),
  req('guest-file-write', { handle: 1000, 'buf-b64': hello }),
  req('guest-file-read', { handle: 1000 }),
  req('guest-file-seek', { handle: 1000, offset: 0, whence: 'set' }),
  req('guest-file-read', { handle: 1000, count: 5 }),
  req('guest-file-seek', { handle: 1000, offset: 0, whence: 1 }),
  req('guest-file-read', { handle: 1000 }),
  req('guest-file-read', { handle: 1000 }),
  req('guest-file-seek', { handle: 1000, offset: -3, whence: 'end' }),
  req('guest-file-seek', { handle: 1000, offset: 100, whence: 'set' }),
  req('guest-file-seek', { handle: 1000, offset: 0, whence: 3 }),
  req('guest-file-seek', { handle: 1000, offset: -100, whence: 'set' }),
  req('guest-file-seek', { handle: 1000, offset: -100, whence: 'cur' }),
  req('guest-file-seek', { handle: 1000, offset: 0, whence: -1 }),
  req('guest-file-seek', { handle: 1000, offset: 0, whence: 'bogus' }),
  req('guest-file-write', { handle: 1000, 'buf-b64': 'QUJD', count: 2 }),
  req('guest-file-write', { handle: 1000, 'buf-b64': 'QUJD', count: 4 }),
  req('guest-file-write', { handle: 1000, 'buf-b64': 'QUJD', count: -1 }),
  req('guest-file-write', { handle: 1000, 'buf-b64': '@@@' }),
  req('guest-file-write', { handle: 1000, 'buf-b64': '' }),
  req('guest-file-read', { handle: 1000, count: -1 }),
  req('guest-file-read', { handle: 1000, count: 50331649 }),
  req('guest-file-read', { handle: 1000, count: 0 }),
  req('guest-file-read', { handle: 1000, count: 1.5 }),
  req('guest-file-flush', { handle: 1000 }),
  req('guest-file-close', { handle: 1000 }),
  req('guest-file-close', { handle: 1000 }),
  req('guest-file-open', { path: 'foo' }),
  req('guest-file-write', { handle: 1001, 'buf-b64': 'QUJD' }),
  req('guest-file-write', { handle: 1001, 'buf-b64': '' }),
  req('guest-file-read', { handle: 1001 }),
  req('guest-file-close', { handle: 1001 }),
  req('guest-file-open', { path: 'foo', mode: 'a' }),
  req('guest-file-read', { handle: 1002, count: 0 }),
  req('guest-file-read', { handle: 1002 }),
  req('guest-file-seek', { handle: 1002, offset: 0, whence: 'cur' }),
  req('guest-file-write', { handle: 1002, 'buf-b64': b64('AB') }),
  req('guest-file-seek', { handle: 1002, offset: 0, whence: 'cur' }),
  req('guest-file-close', { handle: 1002 }),

  // directories, missing files, bad modes
  both((dir) => fs.mkdirSync(path.join(dir, 'd'))),
  req('guest-file-open', { path: 'd', mode: 'r' }),
  req('guest-file-read', { handle: 1003, count: 0 }),
  req('guest-file-read', { handle: 1003 }),
  req('guest-file-seek', { handle: 1003, offset: 5, whence: 'set' }),
  req('guest-file-write', { handle: 1003, 'buf-b64': 'QUJD' }),
  req('guest-file-close', { handle: 1003 }),
  req('guest-file-open', { path: 'd', mode: 'w' }),
  req('guest-file-open', { path: 'd', mode: 'a+' }),
  req('guest-file-open', { path: 'nope', mode: 'r' }),
  req('guest-file-open', { path: 'nope/x', mode: 'w' }),
  req('guest-file-open', { path: '', mode: 'r' }),
  req('guest-file-open', { path: 'foo', mode: 'rw' }),
  req('guest-file-open', { path: 'foo', mode: '' }),
  req('guest-file-open', { path: 'foo', mode: 'r\u00e9' }),
  req('guest-file-open', { path: 'foo', mode: 'w\u0000' }),
  req('guest-file-open', { path: 'foo', mode: 'rb+ ' }),

  // append with reading (a+), and writing after reading (r+)
  both((dir) => fs.writeFileSync(path.join(dir, 'ap'), 'Hello World!\n')),
  req('guest-file-open', { path: 'ap', mode: 'a+' }),
  req('guest-file-seek', { handle: 1004, offset: 0, whence: 'cur' }),
  req('guest-file-read', { handle: 1004, count: 5 }),
  req('guest-file-write', { handle: 1004, 'buf-b64': b64('AB') }),
  req('guest-file-read', { handle: 1004 }),
  req('guest-file-seek', { handle: 1004, offset: 0, whence: 'cur' }),
  req('guest-file-seek', { handle: 1004, offset: 3, whence: 'set' }),
  req('guest-file-read', { handle: 1004, count: 2 }),
  req('guest-file-write', { handle: 1004, 'buf-b64': b64('CD') }),
  req('guest-file-seek', { handle: 1004, offset: 0, whence: 'cur' }),
  req('guest-file-write', { handle: 1004, 'buf-b64': b64('EF') }),
  req('guest-file-seek', { handle: 1004, offset: -1, whence: 'cur' }),
  req('guest-file-read', { handle: 1004 }),
  req('guest-file-close', { handle: 1004 }),
  both((dir) => fs.writeFileSync(path.join(dir, 'rp'), 'Hello World!\n')),
  req('guest-file-open', { path: 'rp', mode: 'r+' }),
  req('guest-file-read', { handle: 1005, count: 5 }),
  req('guest-file-write', { handle: 1005, 'buf-b64': b64('XY') }),
  req('guest-file-read', { handle: 1005, count: 3 }),
  req('guest-file-write', { handle: 1005, 'buf-b64': b64('Q') }),
  req('guest-file-seek', { handle: 1005, offset: 0, whence: 'cur' }),
  req('guest-file-seek', { handle: 1005, offset: 8796093022208, whence: 'set' }),
  req('guest-file-read', { handle: 1005 }),
  req('guest-file-seek', { handle: 1005, offset: 9223372036854775807, whence: 'end' }),
  req('guest-file-close', { handle: 1005 }),

  // stdio buffering as other readers see it (sizes are compared after every step)
  req('guest-file-open', { path: 'big', mode: 'w' }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64(Buffer.alloc(13, 'x')) }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64(Buffer.alloc(5000, 'y')) }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64(Buffer.alloc(10000, 'z')) }),
  req('guest-file-seek', { handle: 1006, offset: 0, whence: 1 }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64('www') }),
  req('guest-file-flush', { handle: 1006 }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64(Buffer.alloc(4096, 'v')) }),
  req('guest-file-seek', { handle: 1006, offset: 0, whence: 'end' }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64(Buffer.alloc(4096, 'u')) }),
  req('guest-file-seek', { handle: 1006, offset: 20, whence: 'set' }),
  req('guest-file-write', { handle: 1006, 'buf-b64': b64(Buffer.alloc(9000, 't')) }),
  req('guest-file-close', { handle: 1006 }),
  req('guest-file-open', { path: 'big', mode: 'r+' }),
  req('guest-file-read', { handle: 1007, count: 10 }),
  req('guest-file-write', { handle: 1007, 'buf-b64': b64(Buffer.alloc(5000, 'X')) }),
  req('guest-file-read', { handle: 1007, count: 3 }),
  req('guest-file-close', { handle: 1007 }),

  // a large read in one go
  both((dir) => fs.writeFileSync(path.join(dir, 'large'), Buffer.alloc(1024 * 1024 + 7, 'L'))),
  req('guest-file-open', { path: 'large', mode: 'r' }),
  req('guest-file-read', { handle: 1008, count: 1024 * 1024 }),
  req('guest-file-read', { handle: 1008, count: 100 }),
  req('guest-file-close', { handle: 1008 }),

  // a fifo: nothing is waiting, no reader, and no seeking
  both((dir) => execFileSync('mkfifo', [path.join(dir, 'fifo')])),
  req('guest-file-open', { path: 'fifo', mode: 'r' }),
  req('guest-file-read', { handle: 1009 }),
  req('guest-file-seek', { handle: 1009, offset: 0, whence: 'cur' }),
  req('guest-file-write', { handle: 1009, 'buf-b64': 'QUJD' }),
  req('guest-file-close', { handle: 1009 }),
  req('guest-file-open', { path: 'fifo', mode: 'w' }),

  // every command on a handle that never existed
  req('guest-file-read', { handle: 99, count: -5 }),
  req('guest-file-write', { handle: 99, 'buf-b64': '@@' }),
  req('guest-file-seek', { handle: 99, offset: 0, whence: 7 }),
  req('guest-file-flush', { handle: 99 }),
  req('guest-file-close', { handle: 99 }),
];

// every mode, on a new and on an existing file (descriptor flags compared)
let nextHandle = 1010;
for (const mode of ['r', 'rb', 'w', 'wb', 'a', 'ab', 'r+', 'rb+', 'r+b', 'w+', 'wb+', 'w+b', 'a+', 'ab+', 'a+b']) {
  for (const name of [`new-${mode}`, 'existing']) {
    if (name === 'existing') STEPS.push(both((dir) => fs.writeFileSync(path.join(dir, 'existing'), 'old content')));
    STEPS.push(req('guest-file-open', { path: name, mode }));
    if (!mode.startsWith('r') || name === 'existing') {
      const handle = nextHandle++;
      STEPS.push(req('guest-file-write', { handle, 'buf-b64': b64('new') }));
      STEPS.push(req('guest-file-read', { handle }));
      STEPS.push(req('guest-file-close', { handle }));
    }
  }
}

// base64 as qemu decodes it: each input written to a fresh file and read back
for (const input of ['QUI=', 'QQ==', 'Q', 'QUJDR', '====', 'A===', 'AB=C', 'A=BC', 'QQ==QUJD', 'QU\nJD', 'Q=J=', 'QUJD\r\n', 'QUJD ', 'QU-D', 'QUJD\u00e9', 'QUJD\u0000', 'YWJj\nZGVm\n']) {
  const handle = nextHandle++;
  STEPS.push(req('guest-file-open', { path: 'b64', mode: 'w+' }));
  STEPS.push(req('guest-file-write', { handle, 'buf-b64': input }));
  STEPS.push(req('guest-file-seek', { handle, offset: 0, whence: 'set' }));
  STEPS.push(req('guest-file-read', { handle }));
  STEPS.push(req('guest-file-close', { handle }));
}

function modeOf(p: string): string {
  return (fs.statSync(p).mode & 0o7777).toString(8);
}

test('the file commands answer exactly as qemu-ga does', { skip, timeout: 120000 }, async () => {
  const mismatches: string[] = [];
  let descriptorsSeen = 0;
  for (const [i, step] of STEPS.entries()) {
    if ('both' in step) {
      step.both(theirs.dir);
      step.both(ours.dir);
      continue;
    }
    if (!('req' in step)) continue;
    const line = JSON.stringify(step.req) + '\n';
    let theirReply = '';
    let ourReply = '';
    const theirFds = await newDescriptorFlags(theirs, async () => {
      theirs.client.send(line);
      theirReply = (await theirs.client.readLines(1, 30000)).toString('latin1');
    });
    const ourFds = await newDescriptorFlags(ours, async () => {
      ours.client.send(line);
      ourReply = (await ours.client.readLines(1, 30000)).toString('latin1');
    });
    descriptorsSeen += theirFds.length;
    const label = `step ${i} ${line.trim().slice(0, 160)}`;
    if (theirReply !== ourReply) mismatches.push(`${label}\n  qemu-ga: ${theirReply.slice(0, 300)}\n  qga-ts:  ${ourReply.slice(0, 300)}`);
    if (theirReply === '') mismatches.push(`${label}: qemu-ga did not answer`);
    if (JSON.stringify(theirFds) !== JSON.stringify(ourFds)) {
      mismatches.push(`${label}: new descriptors differ\n  qemu-ga: ${theirFds.join(', ')}\n  qga-ts:  ${ourFds.join(', ')}`);
    }
    const theirFiles = workingFiles(theirs.dir);
    const ourFiles = workingFiles(ours.dir);
    if (JSON.stringify(theirFiles) !== JSON.stringify(ourFiles)) {
      mismatches.push(`${label}: files differ\n  qemu-ga: ${JSON.stringify(theirFiles)}\n  qga-ts:  ${JSON.stringify(ourFiles)}`);
    }
  }
  assert.deepEqual(mismatches, []);
  assert.ok(descriptorsSeen >= 40, `the descriptor comparison saw ${descriptorsSeen} opens`);

  for (const name of Object.keys(workingFiles(theirs.dir))) {
    const theirPath = path.join(theirs.dir, name);
    if (!fs.statSync(theirPath).isFile()) continue;
    const ourPath = path.join(ours.dir, name);
    assert.ok(fs.readFileSync(theirPath).equals(fs.readFileSync(ourPath)), `content of ${name}`);
    assert.equal(modeOf(ourPath), modeOf(theirPath), `mode of ${name}`);
  }
  assert.equal(
    fs.readFileSync(path.join(ours.dir, 'state', 'qga.state'), 'latin1'),
    fs.readFileSync(path.join(theirs.dir, 'state', 'qga.state'), 'latin1'),
  );
});
