/**
 * The same bytes sent to Debian's qemu-ga (7.2) and to qga-ts, both on unix-listen with their own
 * temp state dir and QGA_CONF; the replies must be identical, byte for byte, except for the
 * differences listed in EXPECTED_DIFFERENCES (each one commented).
 *
 * After every case both agents get 0xFF + guest-sync-delimited, and we read up to its reply, so
 * a case that leaves the parser mid-message cannot leak into the next one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QEMU_GA_BIN, RawClient, qemuGaAvailable, startAgent, type RunningAgent } from '../support/agent-process';

const skip = qemuGaAvailable() ? false : `Debian's qemu-ga is not installed (${QEMU_GA_BIN}; apt-get install qemu-guest-agent)`;

interface Case {
  name: string;
  send: (string | Buffer)[];
}

const FF = Buffer.from([0xff]);
const FE = Buffer.from([0xfe]);
const nested = (n: number) => '['.repeat(n);

const CASES: Case[] = [
  { name: 'ping', send: ['{"execute":"guest-ping"}\n'] },
  { name: 'ping without newline', send: ['{"execute":"guest-ping"}'] },
  { name: 'sync', send: ['{"execute":"guest-sync","arguments":{"id":123456789}}'] },
  { name: '0xFF + sync-delimited in one write', send: [Buffer.concat([FF, Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":987654321}}')])] },
  { name: 'sync-delimited without 0xFF', send: ['{"execute":"guest-sync-delimited","arguments":{"id":42}}'] },
  { name: 'sync-delimited with a request id', send: ['{"execute":"guest-sync-delimited","arguments":{"id":1},"id":"req-1"}'] },
  { name: 'sync-delimited missing id: no 0xFF', send: ['{"execute":"guest-sync-delimited"}'] },
  { name: 'lone 0xFF', send: [FF] },
  { name: 'lone 0xFE', send: [FE] },
  { name: 'id integer', send: ['{"execute":"guest-ping","id":1}'] },
  { name: 'id string', send: ['{"execute":"guest-ping","id":"abc"}'] },
  { name: 'id object', send: ['{"execute":"guest-ping","id":{"x":[1,2]}}'] },
  { name: 'id true / null / array', send: ['{"execute":"guest-ping","id":true}{"execute":"guest-ping","id":null}{"execute":"guest-ping","id":[]}'] },
  { name: 'id float 1.5e3', send: ['{"execute":"guest-ping","id":1.5e3}'] },
  { name: 'id 0.1', send: ['{"execute":"guest-ping","id":0.1}'] },
  { name: 'id uint64 max', send: ['{"execute":"guest-ping","id":18446744073709551615}'] },
  { name: 'id beyond uint64', send: ['{"execute":"guest-ping","id":18446744073709551616}'] },
  { name: 'id -0', send: ['{"execute":"guest-ping","id":-0}'] },
  { name: 'id non-ASCII', send: ['{"execute":"guest-ping","id":"\\u00e9 \u00e9 \ud83d\ude00 \\n\\t"}'] },
  { name: 'id control escapes', send: ['{"execute":"guest-ping","id":"\\u0001\\u001f\\u007f\\b\\f\\r\\/"}'] },
  { name: 'sync int64 min', send: ['{"execute":"guest-sync","arguments":{"id":-9223372036854775808}}'] },
  { name: 'sync int64 max', send: ['{"execute":"guest-sync","arguments":{"id":9223372036854775807}}'] },
  { name: 'sync 2^63', send: ['{"execute":"guest-sync","arguments":{"id":9223372036854775808}}'] },
  { name: 'unknown command with id', send: ['{"execute":"guest-nope","id":7}'] },
  { name: 'missing argument', send: ['{"execute":"guest-sync"}'] },
  { name: 'extra argument', send: ['{"execute":"guest-sync","arguments":{"id":1,"extra":2}}'] },
  { name: 'argument to no-arg command', send: ['{"execute":"guest-ping","arguments":{"foo":42}}'] },
  { name: 'string for int', send: ['{"execute":"guest-sync","arguments":{"id":"abc"}}'] },
  { name: 'float for int', send: ['{"execute":"guest-sync","arguments":{"id":1.5}}'] },
  { name: 'arguments not an object', send: ['{"execute":"guest-sync","arguments":[1]}'] },
  { name: 'execute not a string', send: ['{"execute":1}'] },
  { name: 'missing execute', send: ['{"arguments":{}}'] },
  { name: 'unexpected member', send: ['{"execute":"guest-ping","foo":1}'] },
  { name: 'exec-oob', send: ['{"exec-oob":"guest-ping"}'] },
  { name: 'several envelope problems at once', send: ['{"foo":1,"execute":2,"arguments":3}'] },
  { name: 'top-level array', send: ['[1,2,3]'] },
  { name: 'top-level string', send: ['"hello"'] },
  { name: 'top-level number', send: ['42 '] },
  { name: 'trailing comma', send: ['{"execute":"guest-ping",}'] },
  { name: 'missing colon', send: ['{"execute" "guest-ping"}'] },
  { name: 'bare word', send: ['{"execute":guest-ping}'] },
  { name: 'stray close brace', send: ['}'] },
  { name: 'invalid character', send: ['@'] },
  { name: 'single quotes', send: ["{'execute':'guest-ping'}"] },
  { name: 'duplicate key', send: ['{"execute":"guest-ping","execute":"guest-info"}'] },
  { name: 'two requests in one write', send: ['{"execute":"guest-ping"}{"execute":"guest-sync","arguments":{"id":5}}'] },
  { name: 'one byte at a time', send: [...'{"execute":"guest-sync","arguments":{"id":777}}'] },
  { name: 'split inside string and number', send: ['{"execute":"guest-sy', 'nc","arguments":{"id":12', '34}}'] },
  { name: '1025 nested [', send: [nested(1025)] },
  { name: 'id nested 1023 deep', send: [`{"execute":"guest-ping","id":${nested(1023)}${']'.repeat(1023)}}`] },
  { name: 'raw newline in string', send: ['{"execute":"guest-ping","id":"a\nb"}'] },
  { name: 'invalid UTF-8 in string', send: [Buffer.from('{"execute":"guest-ping","id":"\xc3("}', 'latin1')] },
  { name: 'overlong UTF-8', send: [Buffer.from('{"execute":"guest-ping","id":"\xc0\xaf"}', 'latin1')] },
  { name: 'invalid keyword', send: ['{"execute":"guest-ping","id":nul}'] },
  { name: 'leading zero', send: ['{"execute":"guest-ping","id":01}'] },
  { name: 'bad escape', send: ['{"execute":"guest-ping","id":"\\x"}'] },
  { name: 'lone surrogate escape', send: ['{"execute":"guest-ping","id":"\\ud800"}'] },
  { name: '\\u0000 in a string', send: ['{"execute":"guest-ping","id":"a\\u0000b"}'] },
  { name: 'ESC and NUL bytes', send: [Buffer.from([0x1b, 0x00])] },
  { name: 'number edge: 1. and -', send: ['{"execute":"guest-ping","id":1.}', '[-]'] },
  { name: 'whitespace between requests', send: [' \t\r\n{"execute":"guest-ping"} \n {"execute":"guest-ping"}\n\n'] },
  { name: 'partial request then 0xFF', send: ['{"execute":"guest-ping"', FF, '{"execute":"guest-ping"}'] },
];

/**
 * Where Debian's 7.2 and our 10.2 target differ, by design. The normaliser maps qemu-ga's reply
 * onto what qga-ts must send.
 */
const EXPECTED_DIFFERENCES: { why: string; apply: (qemu: string) => string }[] = [
  {
    // 7.2 says "has been disabled"; upstream ≥ 9.1 (our target) adds ": the command is not allowed".
    why: 'disabled-command text changed in 9.1',
    apply: (s) => s.replace(/has been disabled"/g, 'has been disabled: the command is not allowed"'),
  },
];

async function exchange(agent: RunningAgent, c: Case, seq: number): Promise<string> {
  const client = await RawClient.connect(agent.socket);
  try {
    for (const chunk of c.send) {
      client.send(chunk);
      if (c.send.length > 1) await new Promise((r) => setTimeout(r, 5));
    }
    // Resynchronise, and read up to our marker reply.
    client.send(FF);
    client.send(`{"execute":"guest-sync-delimited","arguments":{"id":${seq}}}`);
    const marker = `\xff{"return": ${seq}}\n`;
    let out = '';
    const deadline = Date.now() + 5000;
    while (!out.endsWith(marker) && Date.now() < deadline) out += (await client.readFor(10)).toString('latin1');
    assert.ok(out.endsWith(marker), `${c.name}: no marker reply (got ${JSON.stringify(out.slice(-300))})`);
    return out.slice(0, -marker.length);
  } finally {
    client.close();
  }
}

describe('differential: qga-ts against Debian qemu-ga on the same bytes', { skip }, () => {
  let qemu: RunningAgent;
  let ours: RunningAgent;
  before(async () => {
    qemu = await startAgent({ binary: QEMU_GA_BIN });
    ours = await startAgent();
  });
  after(async () => {
    await qemu?.stop('SIGKILL');
    await ours?.stop('SIGKILL');
  });

  CASES.forEach((c, i) => {
    test(c.name, async () => {
      const seq = 1000 + i;
      let expected = await exchange(qemu, c, seq);
      for (const d of EXPECTED_DIFFERENCES) expected = d.apply(expected);
      const actual = await exchange(ours, c, seq);
      assert.equal(JSON.stringify(actual), JSON.stringify(expected));
    });
  });

  test('guest-get-time: both answer an integer of nanoseconds near now', async () => {
    for (const a of [qemu, ours]) {
      const c = await RawClient.connect(a.socket);
      const r = await c.request('{"execute":"guest-get-time"}');
      c.close();
      const ns = BigInt(/^\{"return": (\d+)\}\n$/.exec(r)![1]!);
      const now = BigInt(Date.now()) * 1_000_000n;
      assert.ok(ns > now - 5_000_000_000n && ns < now + 5_000_000_000n, r);
    }
  });

  test('guest-info: same reply shape; differences are the listed version and command-set ones', async () => {
    const info = async (a: RunningAgent) => {
      const c = await RawClient.connect(a.socket);
      const r = await c.request('{"execute":"guest-info"}');
      c.close();
      return r;
    };
    const q = await info(qemu);
    const o = await info(ours);
    assert.match(q, /^\{"return": \{"version": "7\.2\.\d+", "supported_commands": \[/);
    assert.match(o, /^\{"return": \{"version": "10\.2\.0", "supported_commands": \[/);
    const names = (s: string) => [...s.matchAll(/"name": "([^"]+)"/g)].map((m) => m[1]!);
    // 7.2 registers guest-get-devices (disabled on Linux) and lacks guest-get-load and
    // guest-network-get-route (added in 10.0 / 9.1); guest-get-statvfs and guest-get-memory-stats
    // are our extensions.
    const expected = names(q).filter((n) => n !== 'guest-get-devices');
    const ours72 = ['guest-get-load', 'guest-network-get-route', 'guest-get-statvfs', 'guest-get-memory-stats'];
    const ourNames = names(o).filter((n) => !ours72.includes(n));
    assert.deepEqual(ourNames, expected);
    const entry = /\{"enabled": (true|false), "name": "guest-shutdown", "success-response": false\}/;
    assert.match(q, entry);
    assert.match(o, entry);
  });
});
