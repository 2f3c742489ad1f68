/**
 * The read-only system commands of this agent next to Debian's qemu-ga 7.2 on the same machine:
 * the replies must match byte for byte where the values are stable, and in structure where they
 * move (CPU time, traffic counters). qemu-ga 7.2 has no guest-network-get-route, so the routes are
 * compared with `ip route` instead.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createCpuMemoryHandlers, defaultCpuMemoryDeps } from '../../../src/commands/cpu-memory';
import { createNetworkHandlers, defaultNetworkDeps } from '../../../src/commands/network';
import { createSystemInfoHandlers, defaultSystemInfoDeps } from '../../../src/commands/system-info';
import { defaultNativeCandidates, loadNativeHelper } from '../../../src/native/native-helper';
import { netmaskPrefix } from '../../../src/platform/linux/network-interfaces';
import { createInjector } from '../../support/inject';
import { QEMU_GA_BIN, RawClient, qemuGaAvailable, startAgent, type RunningAgent } from '../../support/agent-process';
import { fixturePath } from '../platform/linux/fixture';

const skip = qemuGaAvailable() ? false : `Debian's qemu-ga is not installed (${QEMU_GA_BIN}; apt-get install qemu-guest-agent)`;

/** The environment startAgent gives qemu-ga (PATH and QGA_CONF only), as our deps see it. */
function oursWithEnv(env: Record<string, string>) {
  const native = loadNativeHelper({ candidates: defaultNativeCandidates() });
  const system = defaultSystemInfoDeps();
  return createInjector({
    handlers: {
      ...createSystemInfoHandlers({ ...system, env: (name) => env[name] }),
      ...createCpuMemoryHandlers(defaultCpuMemoryDeps(native)),
      ...createNetworkHandlers(defaultNetworkDeps()),
    },
  });
}

/** The injector waits a few ticks; real file system reads take longer, so wait for the whole line. */
async function askOurs(env: Record<string, string>, request: string): Promise<string> {
  const inj = oursWithEnv(env);
  let text = await inj.text(request);
  for (let i = 0; i < 500 && !text.endsWith('\n'); i++) {
    await new Promise((r) => setTimeout(r, 10));
    text += await inj.text('');
  }
  return text;
}

async function both(agent: RunningAgent, request: string, env: Record<string, string> = {}): Promise<[string, string]> {
  const client = await RawClient.connect(agent.socket);
  try {
    const theirs = await client.request(`${request}\n`);
    const ours = await askOurs(env, request);
    return [theirs, ours];
  } finally {
    client.close();
  }
}

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('read-only system commands next to qemu-ga 7.2', { skip }, () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent({ binary: QEMU_GA_BIN });
  });
  after(async () => {
    await agent?.stop();
  });

  for (const command of [
    'guest-get-host-name',
    'guest-get-osinfo',
    'guest-get-timezone',
    'guest-get-users',
    'guest-get-vcpus',
    'guest-get-memory-block-info',
    'guest-get-memory-blocks',
  ]) {
    it(`${command}: the same bytes`, async () => {
      const [theirs, ours] = await both(agent, `{"execute":"${command}"}`);
      assert.equal(ours, theirs);
    });
  }

  it('guest-get-cpustats: the same CPUs and members', async () => {
    const [theirs, ours] = (await both(agent, '{"execute":"guest-get-cpustats"}')).map((t) => JSON.parse(t).return as Json[]);
    const shape = (list: Json[]) => list.map((e) => `${e.cpu}:${Object.keys(e).join(',')}`);
    assert.deepEqual(shape(ours!), shape(theirs!));
  });

  it('guest-network-get-interfaces: the same interfaces, MACs, addresses and prefixes', async () => {
    const [theirs, ours] = (await both(agent, '{"execute":"guest-network-get-interfaces"}')).map((t) => JSON.parse(t).return as Json[]);
    const running = new Set(Object.keys(os.networkInterfaces()));
    assert.deepEqual(ours!.map((i) => i.name), theirs!.map((i) => i.name));
    for (const [n, t] of theirs!.entries()) {
      const o = ours![n];
      assert.equal(o['hardware-address'], t['hardware-address'], t.name);
      const text = (i: Json, family: string) =>
        (i['ip-addresses'] ?? []).filter((a: Json) => a['ip-address-type'] === family).map((a: Json) => `${a['ip-address']}/${a.prefix}`);
      if (running.has(t.name)) {
        assert.deepEqual(o['ip-addresses'], t['ip-addresses'], t.name);
        assert.equal(o.statistics === undefined, t.statistics === undefined, t.name);
      } else {
        // Not up and running: IPv6 from /proc/net/if_inet6 is complete; IPv4 may lack addresses
        // nothing in /proc names (documented in network-interfaces.ts).
        assert.deepEqual([...text(o, 'ipv6')].sort(), [...text(t, 'ipv6')].sort(), t.name);
        for (const a of text(o, 'ipv4')) assert.ok(text(t, 'ipv4').includes(a), `${t.name} ${a}`);
      }
    }
  });

  it('guest-get-osinfo with QGA_OS_RELEASE: the same bytes', async () => {
    const env = { QGA_OS_RELEASE: fixturePath('os-release-qga-test.txt') };
    const other = await startAgent({ binary: QEMU_GA_BIN, env });
    try {
      const [theirs, ours] = await both(other, '{"execute":"guest-get-osinfo"}', env);
      assert.equal(ours, theirs);
      assert.ok(theirs.includes('"id": "qemu-ga-test"'));
    } finally {
      await other.stop();
    }
  });

  it('guest-get-timezone with TZ set: the same bytes', async () => {
    for (const tz of ['Europe/Berlin', 'Asia/Kolkata', 'America/St_Johns', '<+0330>-3:30', 'EST5EDT,M3.2.0,M11.1.0', 'Foo/Bar']) {
      const env = { TZ: tz };
      const other = await startAgent({ binary: QEMU_GA_BIN, env });
      try {
        const [theirs, ours] = await both(other, '{"execute":"guest-get-timezone"}', env);
        assert.equal(ours, theirs, tz);
      } finally {
        await other.stop();
      }
    }
  });
});

/** `ip route` lines → "destination/prefix dev" keys. */
function ipRouteKeys(args: string[], host: number): string[] | null {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const types = new Set(['local', 'multicast', 'unicast', 'broadcast', 'anycast', 'unreachable', 'blackhole', 'prohibit', 'throw', 'nat']);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const words = line.trim().split(/\s+/);
      if (types.has(words[0]!)) words.shift();
      let destination = words[0]!;
      if (destination === 'default') destination = host === 32 ? '0.0.0.0/0' : '::/0';
      else if (!destination.includes('/')) destination += `/${host}`;
      const dev = words[words.indexOf('dev') + 1];
      return `${destination} ${dev}`;
    });
}

const ipAvailable = spawnSync('ip', ['-V']).status === 0;

describe('guest-network-get-route next to `ip route`', { skip: ipAvailable ? false : 'iproute2 is not installed' }, () => {
  it('lists the main IPv4 table and every IPv6 table', async () => {
    const routes = JSON.parse(await askOurs({}, '{"execute":"guest-network-get-route"}')).return as Json[];
    const v4 = routes.filter((r) => r.version === 4).map((r) => `${r.destination}/${netmaskPrefix(r.mask)} ${r.iface}`);
    assert.deepEqual([...v4].sort(), [...ipRouteKeys(['-4', 'route', 'show', 'table', 'main'], 32)!].sort());
    // `ip` does not print the kernel's permanent reject route for ::/0 on lo (metric -1).
    const v6 = routes
      .filter((r) => r.version === 6 && !(r.iface === 'lo' && r.destination === '::' && r.metric === -1))
      .map((r) => `${r.destination}/${r.desprefixlen} ${r.iface}`);
    assert.deepEqual([...v6].sort(), [...ipRouteKeys(['-6', 'route', 'show', 'table', 'all'], 128)!].sort());
  });
});
