/**
 * `qga-client`: talk to a guest agent from the host.
 *
 *   qga-client --socket /var/lib/libvirt/qemu/test.agent df
 *   qga-client --domain test exec /bin/uname -a
 *   qga-client --socket ./qga.sock raw '{"execute":"guest-info"}'
 *
 * Human output by default, `--json` for scripts (integers exact). Errors go to stderr with exit
 * status 1 (2 for a usage error); `exec` exits with the guest program's status.
 */
import * as fsp from 'node:fs/promises';
import type { GuestFilesystemInfoReply } from '../generated/qga-client';
import { QGA_TS_VERSION } from '../version';
import { QgaClient } from './agent-client';
import type { AgentRoute } from './agent-route';
import { QgaClientError, QgaRemoteError } from './client-errors';
import { humanBytes, usageFromFsinfo, usageFromStatvfs, usePercent, type FilesystemUsage } from './filesystem-usage';
import { formatJson } from './json-text';
import { LibvirtRoute, resolveDomain, runCommand, type RunCommand } from './libvirt-route';
import { SocketRoute } from './socket-route';

export interface ClientCliIo {
  stdout(data: string | Uint8Array): void;
  stderr(text: string): void;
  readFile(path: string): Promise<Buffer>;
  readStdin(): Promise<string>;
  run: RunCommand;
  /** ms since the epoch */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export function defaultClientCliIo(): ClientCliIo {
  return {
    stdout: (d) => void process.stdout.write(d),
    stderr: (t) => void process.stderr.write(t),
    readFile: (p) => fsp.readFile(p),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    run: runCommand,
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

export const CLIENT_USAGE = `Usage: qga-client (--socket PATH | --domain NAME) [options] COMMAND [ARGS]

Where the agent is:
  --socket PATH        the agent's unix socket (a QEMU chardev, a libvirt channel, unix-listen)
  --domain NAME        a libvirt domain: its com.163.spice.0 channel socket (see --channel),
                       or, when it only has libvirt's own agent channel, through
                       \`virsh qemu-agent-command\`
  --connect URI        libvirt connection URI for --domain (e.g. qemu:///system)
  --channel NAME       the channel to look for in the domain XML (default com.163.spice.0)
  --libvirt            with --domain: always go through virsh qemu-agent-command

Options:
  --timeout SECONDS    per-call reply timeout (default 10; fsfreeze freeze waits at least 60)
  --json               print results as JSON (exact integers) instead of text
  -h, --help           this text
  -V, --version        print the version

Commands:
  ping                 check the agent answers
  info                 agent version and its commands
  osinfo               the guest's OS
  time                 the guest's clock
  users                logged-in users
  fsinfo               mounted filesystems and their disks
  df                   filesystem usage, like df -h
  statvfs PATH         statvfs() of the filesystem holding PATH (qga-ts extension)
  memory               memory usage (qga-ts extension guest-get-memory-stats)
  ifconfig             network interfaces, addresses and counters
  exec CMD [ARGS...]   run CMD in the guest, print its output, exit with its status
  cat PATH             print a guest file
  put LOCAL REMOTE     copy a host file into the guest
  fsfreeze status|freeze|thaw
  shutdown [powerdown|reboot|halt]
  raw JSON|-           send one request as it is (- reads it from stdin), print the reply
`;

class UsageError extends Error {}

interface GlobalOptions {
  socket?: string;
  domain?: string;
  connect?: string;
  channel?: string;
  libvirt: boolean;
  timeoutMs: number;
  json: boolean;
}

function parseGlobal(argv: string[]): { opts: GlobalOptions; rest: string[]; help: boolean; version: boolean } {
  const opts: GlobalOptions = { libvirt: false, timeoutMs: 10_000, json: false };
  let help = false;
  let version = false;
  let i = 0;
  const value = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`option ${name} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') break;
    if (arg === '--') {
      i++;
      break;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    switch (name) {
      case '--socket':
      case '-s':
        opts.socket = value(name, inline);
        break;
      case '--domain':
      case '-d':
        opts.domain = value(name, inline);
        break;
      case '--connect':
      case '-c':
        opts.connect = value(name, inline);
        break;
      case '--channel':
        opts.channel = value(name, inline);
        break;
      case '--libvirt':
        opts.libvirt = true;
        break;
      case '--timeout':
      case '-t': {
        const s = Number(value(name, inline));
        if (!Number.isFinite(s) || s <= 0) throw new UsageError('--timeout needs a positive number of seconds');
        opts.timeoutMs = Math.round(s * 1000);
        break;
      }
      case '--json':
        opts.json = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--version':
      case '-V':
        version = true;
        break;
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  return { opts, rest: argv.slice(i), help, version };
}

async function openRoute(opts: GlobalOptions, io: ClientCliIo): Promise<AgentRoute> {
  if (opts.socket !== undefined && opts.domain !== undefined) throw new UsageError('give either --socket or --domain, not both');
  if (opts.socket !== undefined) return new SocketRoute(opts.socket);
  if (opts.domain === undefined) throw new UsageError('say where the agent is: --socket PATH or --domain NAME');
  const libvirt = { uri: opts.connect, run: io.run };
  if (opts.libvirt) return new LibvirtRoute(opts.domain, libvirt);
  const where = await resolveDomain(opts.domain, { ...libvirt, channel: opts.channel });
  return where.kind === 'socket' ? new SocketRoute(where.path) : new LibvirtRoute(opts.domain, libvirt);
}

function table(rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : rightAligned.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .join('\n') + '\n';
}

function isoFromNs(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function need(args: string[], count: number, usage: string): void {
  if (args.length !== count) throw new UsageError(`usage: qga-client ${usage}`);
}

async function filesystemUsage(client: QgaClient, timeoutMs: number): Promise<FilesystemUsage[]> {
  // qemu-ga lists the newest mount first; libvirt reverses it into mount order, and so do we.
  const list: GuestFilesystemInfoReply[] = (await client.guestGetFsinfo({ timeoutMs })).slice().reverse();
  const out: FilesystemUsage[] = [];
  let statvfs = true;
  for (const fs of list) {
    if (statvfs) {
      try {
        out.push(usageFromStatvfs(fs, await client.guestGetStatvfs({ path: fs.mountpoint }, { timeoutMs })));
        continue;
      } catch (e) {
        if (e instanceof QgaRemoteError && e.commandUnavailable) statvfs = false;
        else if (!(e instanceof QgaRemoteError)) throw e;
      }
    }
    out.push(usageFromFsinfo(fs));
  }
  return out;
}

async function runCommandLine(cmd: string, args: string[], client: QgaClient, opts: GlobalOptions, io: ClientCliIo): Promise<number> {
  const t = { timeoutMs: opts.timeoutMs };
  const print = (human: string, json: unknown) => io.stdout(opts.json ? formatJson(json, 2) + '\n' : human);
  switch (cmd) {
    case 'ping': {
      need(args, 0, 'ping');
      await client.guestPing(t);
      print('ok\n', {});
      return 0;
    }
    case 'info': {
      need(args, 0, 'info');
      const info = await client.guestInfo(t);
      const rows = [['COMMAND', 'ENABLED', 'SUCCESS-RESPONSE'], ...info.supported_commands.map((c) => [c.name, c.enabled ? 'yes' : 'no', c['success-response'] ? 'yes' : 'no'])];
      print(`version: ${info.version}\n${table(rows)}`, info);
      return 0;
    }
    case 'osinfo': {
      need(args, 0, 'osinfo');
      const os = await client.guestGetOsinfo(t);
      print(Object.entries(os).map(([k, v]) => `${k}: ${String(v)}\n`).join(''), os);
      return 0;
    }
    case 'time': {
      need(args, 0, 'time');
      const ns = await client.guestGetTime(t);
      const skewMs = Number(ns / 1_000_000n) - io.now();
      print(`${isoFromNs(ns)} (${ns} ns; guest - host ≈ ${skewMs} ms)\n`, { ns, iso: isoFromNs(ns) });
      return 0;
    }
    case 'users': {
      need(args, 0, 'users');
      const users = await client.guestGetUsers(t);
      const rows = [['USER', 'DOMAIN', 'LOGIN'], ...users.map((u) => [u.user, u.domain ?? '', new Date(u['login-time'] * 1000).toISOString()])];
      print(users.length === 0 ? '' : table(rows), users);
      return 0;
    }
    case 'fsinfo': {
      need(args, 0, 'fsinfo');
      const list = await client.guestGetFsinfo(t);
      const rows = [
        ['MOUNTPOINT', 'DEVICE', 'TYPE', 'USED', 'TOTAL', 'DISKS'],
        ...list.slice().reverse().map((f) => [
          f.mountpoint,
          f.name,
          f.type,
          humanBytes(f['used-bytes'] ?? null),
          humanBytes(f['total-bytes'] ?? null),
          f.disk.map((d) => `${d['bus-type']}${d.dev ? `:${d.dev}` : ''}${d.serial ? ` serial=${d.serial}` : ''}`).join(', '),
        ]),
      ];
      print(table(rows, new Set([3, 4])), list);
      return 0;
    }
    case 'df': {
      need(args, 0, 'df');
      const usage = await filesystemUsage(client, opts.timeoutMs);
      const rows = [
        ['Filesystem', 'Type', 'Size', 'Used', 'Avail', 'Use%', 'Mounted on'],
        ...usage.map((u) => {
          const pct = usePercent(u);
          return [u.device, u.fstype, humanBytes(u.sizeBytes), humanBytes(u.usedBytes), humanBytes(u.availBytes), pct === null ? '-' : `${pct}%`, u.mountpoint];
        }),
      ];
      print(table(rows, new Set([2, 3, 4, 5])), usage);
      return 0;
    }
    case 'statvfs': {
      need(args, 1, 'statvfs PATH');
      const st = await client.guestGetStatvfs({ path: args[0]! }, t);
      print(Object.entries(st).map(([k, v]) => `${k}: ${String(v)}\n`).join(''), st);
      return 0;
    }
    case 'memory': {
      need(args, 0, 'memory');
      const m = await client.guestGetMemoryStats(t);
      const rows = [['', 'TOTAL', 'USED', 'FREE', 'AVAILABLE', 'BUFFERS', 'CACHED']];
      const used = m.total - m.free - (m.buffers ?? 0n) - (m.cached ?? 0n);
      rows.push(['Mem:', humanBytes(m.total), humanBytes(used), humanBytes(m.free), humanBytes(m.available ?? null), humanBytes(m.buffers ?? null), humanBytes(m.cached ?? null)]);
      if (m['swap-total'] !== undefined) {
        const sf = m['swap-free'] ?? 0n;
        rows.push(['Swap:', humanBytes(m['swap-total']), humanBytes(m['swap-total'] - sf), humanBytes(sf), '', '', '']);
      }
      print(table(rows, new Set([1, 2, 3, 4, 5, 6])), m);
      return 0;
    }
    case 'ifconfig': {
      need(args, 0, 'ifconfig');
      const ifs = await client.guestNetworkGetInterfaces(t);
      let text = '';
      for (const i of ifs) {
        text += `${i.name}:${i['hardware-address'] ? ` ether ${i['hardware-address']}` : ''}\n`;
        for (const a of i['ip-addresses'] ?? []) text += `    ${a['ip-address-type'] === 'ipv6' ? 'inet6' : 'inet'} ${a['ip-address']}/${a.prefix}\n`;
        const s = i.statistics;
        if (s) {
          text += `    RX ${s['rx-packets']} packets ${s['rx-bytes']} bytes (${humanBytes(s['rx-bytes'])}) errors ${s['rx-errs']} dropped ${s['rx-dropped']}\n`;
          text += `    TX ${s['tx-packets']} packets ${s['tx-bytes']} bytes (${humanBytes(s['tx-bytes'])}) errors ${s['tx-errs']} dropped ${s['tx-dropped']}\n`;
        }
      }
      print(text, ifs);
      return 0;
    }
    case 'exec':
      return execInGuest(args, client, opts, io);
    case 'cat': {
      need(args, 1, 'cat PATH');
      const handle = await client.guestFileOpen({ path: args[0]!, mode: 'r' }, t);
      try {
        for (;;) {
          const r = await client.guestFileRead({ handle, count: 1024 * 1024 }, t);
          if (r.count > 0n) io.stdout(Buffer.from(r['buf-b64'], 'base64'));
          if (r.eof || r.count === 0n) break;
        }
      } finally {
        await client.guestFileClose({ handle }, t);
      }
      return 0;
    }
    case 'put': {
      need(args, 2, 'put LOCAL REMOTE');
      const data = await io.readFile(args[0]!);
      const handle = await client.guestFileOpen({ path: args[1]!, mode: 'w' }, t);
      let written = 0;
      try {
        const chunk = 1024 * 1024;
        for (let off = 0; off < data.length; off += chunk) {
          const piece = data.subarray(off, off + chunk);
          const r = await client.guestFileWrite({ handle, 'buf-b64': piece.toString('base64') }, t);
          written += Number(r.count);
        }
      } finally {
        await client.guestFileClose({ handle }, t);
      }
      print(`${args[0]} -> ${args[1]}: ${written} bytes\n`, { bytes: written });
      return 0;
    }
    case 'fsfreeze': {
      need(args, 1, 'fsfreeze status|freeze|thaw');
      const what = args[0]!;
      if (what === 'status') {
        const s = await client.guestFsfreezeStatus(t);
        print(`${s}\n`, s);
      } else if (what === 'freeze') {
        const n = await client.guestFsfreezeFreeze({ timeoutMs: Math.max(60_000, opts.timeoutMs) });
        print(`frozen ${n} filesystem(s)\n`, n);
      } else if (what === 'thaw') {
        const n = await client.guestFsfreezeThaw({ timeoutMs: Math.max(60_000, opts.timeoutMs) });
        print(`thawed ${n} filesystem(s)\n`, n);
      } else {
        throw new UsageError('usage: qga-client fsfreeze status|freeze|thaw');
      }
      return 0;
    }
    case 'shutdown': {
      if (args.length > 1) throw new UsageError('usage: qga-client shutdown [powerdown|reboot|halt]');
      const mode = args[0];
      if (mode !== undefined && !['powerdown', 'reboot', 'halt'].includes(mode)) throw new UsageError('shutdown mode must be powerdown, reboot or halt');
      await client.guestShutdown(mode === undefined ? {} : { mode }, t);
      print(`${mode ?? 'powerdown'} requested\n`, {});
      return 0;
    }
    case 'raw': {
      need(args, 1, 'raw JSON|-');
      const text = args[0] === '-' ? await io.readStdin() : args[0]!;
      const reply = await client.raw(text, t);
      if (reply === null) {
        print('(no reply)\n', null);
        return 0;
      }
      io.stdout(formatJson(reply, opts.json ? 2 : 0) + '\n');
      return 'error' in reply ? 1 : 0;
    }
    default:
      throw new UsageError(`unknown command '${cmd}' (see qga-client --help)`);
  }
}

async function execInGuest(args: string[], client: QgaClient, opts: GlobalOptions, io: ClientCliIo): Promise<number> {
  if (args.length < 1) throw new UsageError('usage: qga-client exec CMD [ARGS...]');
  const t = { timeoutMs: opts.timeoutMs };
  const { pid } = await client.guestExec({ path: args[0]!, arg: args.slice(1), 'capture-output': true }, t);
  let delay = 10;
  for (;;) {
    const st = await client.guestExecStatus({ pid }, t);
    if (st.exited) {
      if (opts.json) {
        io.stdout(formatJson(st, 2) + '\n');
      } else {
        if (st['out-data']) io.stdout(Buffer.from(st['out-data'], 'base64'));
        if (st['err-data']) io.stderr(Buffer.from(st['err-data'], 'base64').toString('utf8'));
        if (st['out-truncated'] || st['err-truncated']) io.stderr('qga-client: the guest truncated the output\n');
      }
      if (st.exitcode !== undefined) return Number(st.exitcode);
      if (st.signal !== undefined) return 128 + Number(st.signal);
      return 0;
    }
    await io.sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
}

/** Runs the CLI; resolves with the exit status. */
export async function clientMain(argv: string[], io: ClientCliIo = defaultClientCliIo()): Promise<number> {
  let client: QgaClient | null = null;
  try {
    const { opts, rest, help, version } = parseGlobal(argv);
    if (help) {
      io.stdout(CLIENT_USAGE);
      return 0;
    }
    if (version) {
      io.stdout(`qga-client (qga-ts) ${QGA_TS_VERSION}\n`);
      return 0;
    }
    const [cmd, ...args] = rest;
    if (cmd === undefined) throw new UsageError('no command given (see qga-client --help)');
    client = new QgaClient(await openRoute(opts, io), { callTimeoutMs: opts.timeoutMs });
    return await runCommandLine(cmd, args, client, opts, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`qga-client: ${e.message}\n`);
      return 2;
    }
    if (e instanceof QgaRemoteError) {
      io.stderr(`qga-client: ${e.command} failed: ${e.desc} (${e.errorClass})\n`);
      return 1;
    }
    if (e instanceof QgaClientError) {
      io.stderr(`qga-client: ${e.message}\n`);
      return 1;
    }
    io.stderr(`qga-client: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  } finally {
    await client?.close().catch(() => undefined);
  }
}
