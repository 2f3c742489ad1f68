/**
 * The socket route and the client over it, against scripted agents on real unix sockets: what
 * the sync must throw away, how a reply is matched, what ends a call.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { QgaClient } from '../../../src/host/agent-client';
import { QgaArgumentError, QgaConnectionError, QgaProtocolError, QgaRemoteError, QgaTimeoutError, ReplyValidationError } from '../../../src/host/client-errors';
import type { SocketRouteEvent } from '../../../src/host/socket-route';
import { isJsonObject, type JsonValue } from '../../../src/protocol/json-value';
import { encodeJson } from '../../../src/protocol/json-writer';
import { StreamLexer } from '../../../src/protocol/stream-lexer';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-host-route-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

interface Script {
  /** bytes written as soon as a client connects */
  onConnect?: Buffer | string;
  /** reply to one request: bytes to write, or null for silence */
  reply(req: { execute: string; args: Record<string, JsonValue>; id: JsonValue | undefined; raw: JsonValue }, socket: net.Socket): Buffer | string | null;
  /** write each reply one byte at a time */
  trickle?: boolean;
}

/** A scripted agent that syncs like qemu-ga (0xFF → stray error line; sync-delimited → 0xFF + reply). */
async function scripted(script: Script): Promise<{ path: string; requests: string[]; close(): Promise<void>; connections(): number }> {
  const p = path.join(dir, `a${n++}.sock`);
  const requests: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const send = (b: Buffer | string) => {
      const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
      if (!script.trickle) return void s.write(buf);
      for (const byte of buf) s.write(Buffer.from([byte]));
    };
    if (script.onConnect) send(script.onConnect);
    const lexer = new StreamLexer((item) => {
      if (item.kind === 'error') return send(`{"error": {"class": "GenericError", "desc": "${item.error.desc.replace(/\\/g, '\\\\')}"}}\n`);
      const v = item.value;
      if (!isJsonObject(v) || typeof v['execute'] !== 'string') return;
      requests.push(v['execute']);
      if (v['execute'] === 'guest-sync-delimited') {
        const args = v['arguments'] as Record<string, JsonValue>;
        return send(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${String(args['id'])}}\n`)]));
      }
      const out = script.reply({ execute: v['execute'], args: (isJsonObject(v['arguments']) ? v['arguments'] : {}) as Record<string, JsonValue>, id: v['id'], raw: v }, s);
      if (out !== null) send(out);
    });
    s.on('data', (d: Buffer) => lexer.feed(d));
  });
  await new Promise<void>((r) => server.listen(p, r));
  return {
    path: p,
    requests,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const ok = (value: unknown, id: JsonValue | undefined) => encodeJson(id === undefined ? { return: value } : { return: value, id }) + '\n';

describe('sync', () => {
  test('stale replies, an earlier client\'s sync and noise before ours are thrown away, even byte by byte', async () => {
    const agent = await scripted({
      onConnect: Buffer.concat([
        Buffer.from('{"return": {}, "id": "someone"}\n{"return": 4'),
        Buffer.from([0xff]),
        Buffer.from('{"return": 12345}\n\x1bgarbage'),
      ]),
      trickle: true,
      reply: (r) => ok({ 'host-name': 'vm1' }, r.id),
    });
    const events: SocketRouteEvent[] = [];
    const client = QgaClient.overSocket(agent.path, { onEvent: (e) => events.push(e), syncId: () => 777n });
    assert.deepEqual(await client.guestGetHostName(), { 'host-name': 'vm1' });
    const synced = events.find((e) => e.type === 'synced');
    assert.ok(synced && synced.type === 'synced' && synced.syncId === 777n && synced.discardedBytes > 40);
    assert.deepEqual(agent.requests, ['guest-sync-delimited', 'guest-get-host-name']);
    await client.close();
    await agent.close();
  });

  test('the request goes out tagged with an id, and a reply carrying another id is dropped', async () => {
    const agent = await scripted({
      reply: (r) => ok({}, 'not-ours') + ok({ 'host-name': 'x' }, r.id),
    });
    const events: SocketRouteEvent[] = [];
    const client = QgaClient.overSocket(agent.path, { onEvent: (e) => events.push(e) });
    assert.deepEqual(await client.guestGetHostName(), { 'host-name': 'x' });
    assert.equal(events.filter((e) => e.type === 'stale-reply').length, 1);
    await client.close();
    await agent.close();
  });

  test('an agent that does not echo ids is still understood', async () => {
    const agent = await scripted({ reply: () => '{"return": {}}\n' });
    const client = QgaClient.overSocket(agent.path);
    assert.equal(await client.guestPing(), undefined);
    await client.close();
    await agent.close();
  });

  test('no sync reply: a timeout that says so', async () => {
    const p = path.join(dir, `silent${n++}.sock`);
    const server = net.createServer((s) => s.resume());
    await new Promise<void>((r) => server.listen(p, r));
    const client = QgaClient.overSocket(p, { syncTimeoutMs: 150 });
    await assert.rejects(client.guestPing(), (e: unknown) => e instanceof QgaTimeoutError && e.phase === 'sync' && /150 ms/.test(e.message));
    await client.close();
    server.close();
  });
});

describe('calls', () => {
  test('an agent that syncs, then neither answers nor closes (not even after our half-close): the call and close() end on time', async () => {
    const p = path.join(dir, `mute${n++}.sock`);
    const held: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      held.push(s);
      s.on('error', () => undefined);
      const lexer = new StreamLexer((item) => {
        if (item.kind !== 'value' || !isJsonObject(item.value) || item.value['execute'] !== 'guest-sync-delimited') return;
        s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${String((item.value['arguments'] as Record<string, JsonValue>)['id'])}}\n`)]));
        s.pause(); // from here on: no reading, no answer, no close
      });
      s.on('data', (d: Buffer) => lexer.feed(d));
    });
    await new Promise<void>((r) => server.listen(p, r));
    const client = QgaClient.overSocket(p, { closeGraceMs: 100 });
    const t0 = Date.now();
    await assert.rejects(client.guestPing({ timeoutMs: 150 }), (e: unknown) => e instanceof QgaTimeoutError && e.phase === 'reply');
    const t1 = Date.now();
    await client.close();
    const t2 = Date.now();
    assert.ok(t1 - t0 < 1000, `the call took ${t1 - t0} ms`);
    assert.ok(t2 - t1 < 1000, `close() took ${t2 - t1} ms`);
    held.forEach((s) => s.destroy());
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('an error reply is a QgaRemoteError with class and desc', async () => {
    const agent = await scripted({ reply: (r) => encodeJson({ id: r.id!, error: { class: 'CommandNotFound', desc: `The command ${r.execute} has not been found` } }) + '\n' });
    const client = QgaClient.overSocket(agent.path);
    await assert.rejects(client.guestGetMemoryStats(), (e: unknown) => {
      assert.ok(e instanceof QgaRemoteError);
      assert.equal(e.errorClass, 'CommandNotFound');
      assert.equal(e.desc, 'The command guest-get-memory-stats has not been found');
      assert.equal(e.commandUnavailable, true);
      return true;
    });
    await client.close();
    await agent.close();
  });

  test('bad arguments never leave the host: qemu-ga\'s own text', async () => {
    const agent = await scripted({ reply: (r) => ok({}, r.id) });
    const client = QgaClient.overSocket(agent.path);
    await assert.rejects(client.guestGetStatvfs({} as never), (e: unknown) => e instanceof QgaArgumentError && e.desc === "Parameter 'path' is missing");
    await assert.rejects(client.guestFileRead({ handle: 1.5 } as never), { desc: "Invalid parameter type for 'handle', expected: integer" });
    await assert.rejects(client.guestFileSeek({ handle: 1, offset: 0, whence: 'middle' } as never), { desc: "Parameter 'whence' does not accept value 'middle'" });
    assert.deepEqual(agent.requests, []);
    await client.close();
    await agent.close();
  });

  test('integers go out exact, numbers or bigints alike', async () => {
    let seen: JsonValue | undefined;
    const agent = await scripted({ reply: (r) => { seen = r.args['handle']; return ok({ position: 5n, eof: false }, r.id); } });
    const client = QgaClient.overSocket(agent.path);
    assert.deepEqual(await client.guestFileSeek({ handle: 9007199254740993n, offset: 5, whence: 'set' }), { position: 5n, eof: false });
    assert.equal(seen, 9007199254740993n);
    await client.close();
    await agent.close();
  });

  test('a reply that does not match the schema is refused; unknown members are kept', async () => {
    let body: unknown = { 'host-name': 7 };
    const agent = await scripted({ reply: (r) => ok(body, r.id) });
    const client = QgaClient.overSocket(agent.path);
    await assert.rejects(client.guestGetHostName(), (e: unknown) => e instanceof ReplyValidationError && /return.host-name: expected string, got integer 7/.test(e.message));
    body = { 'host-name': 'h', 'added-later': true };
    assert.deepEqual(await client.guestGetHostName(), { 'host-name': 'h', 'added-later': true });
    await client.close();
    await agent.close();
  });

  test('a timeout, then the late reply is thrown away by the resync', async () => {
    let calls = 0;
    const agent = await scripted({
      reply: (r, s) => {
        calls++;
        if (calls === 1) {
          setTimeout(() => s.write(ok({ 'host-name': 'late' }, r.id)), 150);
          return null;
        }
        return ok({ 'host-name': 'fresh' }, r.id);
      },
    });
    const client = QgaClient.overSocket(agent.path);
    await assert.rejects(client.guestGetHostName({ timeoutMs: 50 }), (e: unknown) => e instanceof QgaTimeoutError && e.phase === 'reply');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await client.guestGetHostName(), { 'host-name': 'fresh' });
    assert.deepEqual(agent.requests, ['guest-sync-delimited', 'guest-get-host-name', 'guest-sync-delimited', 'guest-get-host-name']);
    assert.equal(agent.connections(), 1, 'resynced on the same connection');
    await client.close();
    await agent.close();
  });

  test('garbage after the sync ends the call and the connection; the next call reconnects', async () => {
    let garbage = true;
    const agent = await scripted({ reply: (r) => (garbage ? ((garbage = false), '\x00\x1bgarbage\n') : ok({}, r.id)) });
    const client = QgaClient.overSocket(agent.path);
    await assert.rejects(client.guestPing(), QgaProtocolError);
    assert.equal(await client.guestPing(), undefined);
    assert.equal(agent.connections(), 2);
    await client.close();
    await agent.close();
  });

  test('an agent that hangs up before replying: a connection error, then reconnection', async () => {
    let hangUp = true;
    const agent = await scripted({ reply: (r, s) => (hangUp ? ((hangUp = false), s.destroy(), null) : ok({}, r.id)) });
    const client = QgaClient.overSocket(agent.path);
    await assert.rejects(client.guestPing(), (e: unknown) => e instanceof QgaConnectionError && /closed the connection before replying/.test(e.message));
    assert.equal(await client.guestPing(), undefined);
    await client.close();
    await agent.close();
  });

  test('shutdown: silence, or the connection closing, is success; an error reply is an error', async () => {
    let mode = 'silent';
    const agent = await scripted({
      reply: (r, s) => {
        if (mode === 'silent') return null;
        if (mode === 'close') return (s.destroy(), null);
        return encodeJson({ id: r.id!, error: { class: 'GenericError', desc: 'mode is invalid (valid values are: halt|powerdown|reboot' } }) + '\n';
      },
    });
    const client = QgaClient.overSocket(agent.path, { noReplyWindowMs: 100 });
    const t0 = Date.now();
    assert.equal(await client.guestShutdown(), undefined);
    assert.ok(Date.now() - t0 >= 90);
    mode = 'close';
    assert.equal(await client.guestShutdown({ mode: 'reboot' }), undefined);
    mode = 'error';
    await assert.rejects(client.guestShutdown({ mode: 'halt' }), { errorClass: 'GenericError' });
    await client.close();
    await agent.close();
  });

  test('no socket, nothing listening: connection errors with the errno', async () => {
    const client = QgaClient.overSocket(path.join(dir, 'missing.sock'));
    await assert.rejects(client.guestPing(), (e: unknown) => e instanceof QgaConnectionError && e.code === 'ENOENT');
    const p = path.join(dir, `stale${n++}.sock`);
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(p, r));
    await new Promise<void>((r) => server.close(() => r()));
    fs.writeFileSync(p, '');
    await assert.rejects(QgaClient.overSocket(p).guestPing(), (e: unknown) => e instanceof QgaConnectionError && e.code === 'ECONNREFUSED');
  });

  test('an agent that restarts between calls: the client reconnects and resyncs by itself', async () => {
    const first = await scripted({ reply: (r) => ok({ 'host-name': 'a' }, r.id) });
    const client = QgaClient.overSocket(first.path, { connectAttempts: 5, reconnectDelayMs: 20 });
    assert.deepEqual(await client.guestGetHostName(), { 'host-name': 'a' });
    await first.close();
    fs.rmSync(first.path, { force: true });
    // Let the client notice that the old connection is gone (an agent restarting mid-call is a failed call).
    await new Promise((r) => setTimeout(r, 20));
    const restart = (async () => {
      await new Promise((r) => setTimeout(r, 60));
      const server = net.createServer((s) => {
        const lexer = new StreamLexer((item) => {
          if (item.kind !== 'value' || !isJsonObject(item.value)) return;
          const v = item.value;
          if (v['execute'] === 'guest-sync-delimited') s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${String((v['arguments'] as Record<string, JsonValue>)['id'])}}\n`)]));
          else s.write(ok({ 'host-name': 'b' }, v['id']));
        });
        s.on('data', (d: Buffer) => lexer.feed(d));
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => server.listen(first.path, r));
      return server;
    })();
    assert.deepEqual(await client.guestGetHostName(), { 'host-name': 'b' });
    await client.close();
    (await restart).close();
  });

  test('raw mode sends the request as it is and returns the whole reply', async () => {
    const agent = await scripted({ reply: (r) => encodeJson({ return: { echo: r.raw }, id: r.id! }) + '\n' });
    const client = QgaClient.overSocket(agent.path);
    const reply = await client.raw(`{'execute': 'guest-whatever', 'arguments': {'big': 18446744073709551615}, 'id': 'mine'}`);
    assert.ok(reply && isJsonObject(reply['return']));
    const echo = (reply['return'] as Record<string, JsonValue>)['echo'] as Record<string, JsonValue>;
    assert.equal((echo['arguments'] as Record<string, JsonValue>)['big'], 18446744073709551615n);
    assert.equal(reply['id'], 'mine');
    await client.close();
    await agent.close();
  });
});
