/**
 * Lightweight protocol-speaking agents on unix sockets, for the host-side tests and the monitor
 * benchmark: the real stream lexer reads requests, replies are written as qemu-ga writes them
 * (compact JSON line, 0xFF before a guest-sync-delimited reply, a stray-byte error for the
 * client's 0xFF), and the figures are plausible and grow with time. Behaviours model the guests
 * a monitor meets: healthy, hung (reads, never answers), frozen (only the freeze allow-list
 * works), disconnecting (hangs up in the middle of a poll), garbage-writing, an old qemu-ga
 * without the extensions, and one whose stream holds an earlier client's leftovers.
 *
 * A library only: importing it starts nothing (the test runner loads every file under test/).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { encodeJson } from '../../../src/protocol/json-writer';
import { isJsonObject, type JsonObject } from '../../../src/protocol/json-value';
import { StreamLexer } from '../../../src/protocol/stream-lexer';

export type FakeBehaviour = 'normal' | 'hung' | 'frozen' | 'disconnecting' | 'garbage' | 'old' | 'stale';

export interface FakeAgentOptions {
  behaviour?: FakeBehaviour;
  /** varies the figures between fakes */
  index?: number;
  now?: () => number;
}

const FREEZE_ALLOWED = new Set(['guest-ping', 'guest-info', 'guest-sync', 'guest-sync-delimited', 'guest-fsfreeze-status', 'guest-fsfreeze-thaw']);

const ALL_COMMANDS = [
  'guest-sync-delimited', 'guest-sync', 'guest-ping', 'guest-get-time', 'guest-info', 'guest-shutdown',
  'guest-fsfreeze-status', 'guest-fsfreeze-thaw', 'guest-network-get-interfaces', 'guest-get-fsinfo',
  'guest-get-host-name', 'guest-get-osinfo', 'guest-get-diskstats', 'guest-get-cpustats', 'guest-get-load',
  'guest-get-statvfs', 'guest-get-memory-stats',
];
/** What qemu-ga 7.2 lacks of the above. */
const NOT_IN_OLD = new Set(['guest-get-load', 'guest-get-statvfs', 'guest-get-memory-stats']);

const GiB = 1024n ** 3n;

export class FakeAgent {
  readonly requests: string[] = [];
  connections = 0;
  private readonly behaviour: FakeBehaviour;
  private readonly index: number;
  private readonly now: () => number;
  private readonly started: number;
  private readonly sockets = new Set<net.Socket>();

  private constructor(readonly path: string, private readonly server: net.Server, opts: FakeAgentOptions) {
    this.behaviour = opts.behaviour ?? 'normal';
    this.index = opts.index ?? 0;
    this.now = opts.now ?? Date.now;
    this.started = this.now() - 3_600_000;
    server.on('connection', (s) => this.serve(s));
  }

  static listen(path: string, opts: FakeAgentOptions = {}): Promise<FakeAgent> {
    try {
      fs.unlinkSync(path);
    } catch {
      // not there
    }
    const server = net.createServer();
    const agent = new FakeAgent(path, server, opts);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve(agent));
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private serve(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.behaviour === 'hung') {
      socket.resume();
      return;
    }
    if (this.behaviour === 'stale' || this.behaviour === 'garbage') {
      // An earlier client's leftovers: an unread reply, a sync of its own, half a line of noise.
      socket.write(Buffer.concat([Buffer.from('{"return": {}, "id": "earlier"}\n\xff{"return": 7}\n{"retu', 'latin1')]));
    }
    let synced = false;
    const lexer = new StreamLexer((item) => {
      if (item.kind === 'error') {
        // qemu-ga answers the client's 0xFF (and any stray byte) with a parse error line.
        this.write(socket, { error: { class: 'GenericError', desc: item.error.desc } });
        return;
      }
      const req = item.value;
      if (!isJsonObject(req) || typeof req['execute'] !== 'string') return;
      const name = req['execute'];
      this.requests.push(name);
      if (this.behaviour === 'disconnecting' && synced && name !== 'guest-info') {
        socket.destroy();
        return;
      }
      if (this.behaviour === 'garbage' && synced && name === 'guest-get-fsinfo') {
        socket.write(Buffer.from('\x1b[31mkernel: oops\x00 not json at all\n', 'latin1'));
        return;
      }
      const args = isJsonObject(req['arguments']) ? req['arguments'] : {};
      const reply = this.answer(name, args as JsonObject);
      if (reply === null) return;
      if ('id' in req) reply['id'] = req['id']!;
      if (name === 'guest-sync-delimited' && 'return' in reply) {
        synced = true;
        socket.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(encodeJson(reply) + '\n', 'latin1')]));
        return;
      }
      this.write(socket, reply);
    });
    socket.on('data', (d: Buffer) => lexer.feed(d));
  }

  private write(socket: net.Socket, reply: object): void {
    if (!socket.destroyed) socket.write(encodeJson(reply) + '\n', 'latin1');
  }

  private offers(name: string): boolean {
    if (!ALL_COMMANDS.includes(name)) return false;
    return !(this.behaviour === 'old' && NOT_IN_OLD.has(name));
  }

  private enabled(name: string): boolean {
    return this.offers(name) && (this.behaviour !== 'frozen' || FREEZE_ALLOWED.has(name));
  }

  /** Counters grow with time since the fake started, at a rate that depends on the index. */
  private grown(base: bigint, perSecond: number): bigint {
    return base + BigInt(Math.floor(((this.now() - this.started) / 1000) * perSecond * (1 + (this.index % 7))));
  }

  private answer(name: string, args: JsonObject): Record<string, unknown> | null {
    if (!this.offers(name)) return { error: { class: 'CommandNotFound', desc: `The command ${name} has not been found` } };
    if (!this.enabled(name)) return { error: { class: 'CommandNotFound', desc: `Command ${name} has been disabled: the agent is in frozen state` } };
    const i = BigInt(this.index);
    switch (name) {
      case 'guest-sync':
      case 'guest-sync-delimited':
        return { return: args['id'] ?? 0n };
      case 'guest-ping':
        return { return: {} };
      case 'guest-shutdown':
        return null;
      case 'guest-get-time':
        return { return: BigInt(this.now()) * 1_000_000n };
      case 'guest-info':
        return {
          return: {
            version: this.behaviour === 'old' ? '7.2.22' : 'fake-1.0',
            supported_commands: ALL_COMMANDS.filter((c) => this.offers(c)).map((c) => ({ name: c, enabled: this.enabled(c), 'success-response': c !== 'guest-shutdown' })),
          },
        };
      case 'guest-fsfreeze-status':
        return { return: this.behaviour === 'frozen' ? 'frozen' : 'thawed' };
      case 'guest-fsfreeze-thaw':
        return { return: 0n };
      case 'guest-get-host-name':
        return { return: { 'host-name': `guest-${this.index}` } };
      case 'guest-get-osinfo':
        return { return: { 'kernel-release': '6.1.0-18-amd64', 'kernel-version': '#1 SMP', machine: 'x86_64', id: 'debian', name: 'Debian GNU/Linux', 'pretty-name': 'Debian GNU/Linux 12 (bookworm)', version: '12 (bookworm)', 'version-id': '12' } };
      case 'guest-get-fsinfo': {
        const used = this.grown(2n * GiB + i * 1_000_000n, 4096);
        const disk = (dev: string, unit: number) => [{ 'pci-controller': { domain: 0n, bus: 0n, slot: 5n + BigInt(unit), function: 0n }, 'bus-type': 'virtio', bus: 0n, target: 0n, unit: 0n, dev }];
        return {
          return: [
            { name: 'vdb', mountpoint: '/data', type: 'xfs', 'used-bytes': 100n * GiB, 'total-bytes': 400n * GiB, disk: disk('/dev/vdb', 1) },
            { name: 'vda1', mountpoint: '/', type: 'ext4', 'used-bytes': used, 'total-bytes': 18n * GiB, disk: disk('/dev/vda1', 0) },
          ],
        };
      }
      case 'guest-get-statvfs': {
        const root = args['path'] === '/';
        const frsize = 4096n;
        const blocks = root ? (20n * GiB) / frsize : (400n * GiB) / frsize;
        const used = root ? this.grown(2n * GiB + i * 1_000_000n, 4096) / frsize : (100n * GiB) / frsize;
        const bfree = blocks - used;
        return {
          return: {
            f_bsize: 4096n, f_frsize: frsize, f_blocks: blocks, f_bfree: bfree, f_bavail: root ? bfree - (GiB * 1n) / frsize : bfree,
            f_files: 1310720n, f_ffree: 1200000n - i, f_favail: 1200000n - i, f_fsid: 0xc1776aeb1071fa97n, f_flag: 4096n, f_namemax: 255n,
          },
        };
      }
      case 'guest-get-memory-stats':
        return { return: { total: 4n * GiB, free: 1n * GiB + i * 4096n, available: 3n * GiB, buffers: 100_000_000n, cached: 1n * GiB, 'swap-total': 0n, 'swap-free': 0n } };
      case 'guest-get-cpustats':
        return {
          return: [0n, 1n].map((cpu) => ({
            type: 'linux', cpu,
            user: this.grown(100_000n, 150), nice: 0n, system: this.grown(50_000n, 50), idle: this.grown(1_000_000n, 800),
            iowait: this.grown(1_000n, 5), irq: 0n, softirq: 10n, steal: 0n, guest: 0n, guestnice: 0n,
          })),
        };
      case 'guest-get-diskstats': {
        const stats = () => ({
          'read-sectors': this.grown(1_000_000n, 200), 'read-ios': this.grown(20_000n, 4), 'read-merges': 10n,
          'write-sectors': this.grown(2_000_000n, 800), 'write-ios': this.grown(40_000n, 10), 'write-merges': 20n,
          'read-ticks': this.grown(5_000n, 1), 'write-ticks': this.grown(9_000n, 2), 'ios-pgr': 0n, 'total-ticks': this.grown(12_000n, 2), 'weight-ticks': 20_000n,
        });
        return { return: [{ name: 'vda', major: 254n, minor: 0n, stats: stats() }, { name: 'vda1', major: 254n, minor: 1n, stats: stats() }] };
      }
      case 'guest-network-get-interfaces': {
        const st = (k: number) => ({
          'rx-bytes': this.grown(10_000_000n, 5000 * k), 'rx-packets': this.grown(10_000n, 10 * k), 'rx-errs': 0n, 'rx-dropped': 1n,
          'tx-bytes': this.grown(5_000_000n, 2500 * k), 'tx-packets': this.grown(8_000n, 8 * k), 'tx-errs': 0n, 'tx-dropped': 0n,
        });
        return {
          return: [
            { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8n }], statistics: st(1) },
            { name: 'eth0', 'hardware-address': `52:54:00:00:00:${(this.index % 256).toString(16).padStart(2, '0')}`, 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': `10.0.0.${(this.index % 250) + 2}`, prefix: 24n }], statistics: st(3) },
          ],
        };
      }
      case 'guest-get-load':
        return { return: { load1m: 0.25 + this.index / 100, load5m: 0.5, load15m: 1 } };
      default:
        return { error: { class: 'CommandNotFound', desc: `The command ${name} has not been found` } };
    }
  }
}
