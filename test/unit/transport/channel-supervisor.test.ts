import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import type { Channel, ChannelEvents } from '../../../src/transport/channel';
import { ChannelSupervisor, RETRY_INTERVAL_MS } from '../../../src/transport/channel-supervisor';
import { FakeClock } from './fake-port';

class FakeChannel implements Channel {
  readonly description = 'fake:port';
  opens = 0;
  closes = 0;
  failOpens = 0;
  events: ChannelEvents | null = null;
  async open(events: ChannelEvents): Promise<void> {
    this.opens++;
    if (this.failOpens > 0) {
      this.failOpens--;
      throw new Error("error opening channel 'port': No such file or directory");
    }
    this.events = events;
  }
  write(): void {}
  pauseInput(): void {}
  resumeInput(): void {}
  async close(): Promise<void> {
    this.closes++;
  }
}

function setup(retry: boolean) {
  const channel = new FakeChannel();
  const clock = new FakeClock();
  const session = { resets: 0, received: [] as string[], reset() { this.resets++; }, receive(c: Uint8Array) { this.received.push(Buffer.from(c).toString()); }, whenIdle(cb: () => void) { cb(); } };
  const fatal: Error[] = [];
  const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
  const supervisor = new ChannelSupervisor({ channel, session, retry, logger, onFatal: (e) => fatal.push(e), schedule: clock.schedule });
  return { channel, clock, session, fatal, supervisor };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('channel supervisor (-r/--retry-path)', () => {
  test('without -r a failed open is final', async () => {
    const { channel, clock, supervisor } = setup(false);
    channel.failOpens = 1;
    assert.equal(await supervisor.start(), 'failed');
    assert.match(supervisor.lastError!.message, /No such file/);
    assert.equal(clock.pending, 0);
  });

  test('with -r a missing channel is retried every 5 s in the background until it opens', async () => {
    const { channel, clock, supervisor } = setup(true);
    channel.failOpens = 3;
    assert.equal(await supervisor.start(), 'retrying');
    assert.equal(supervisor.open, false);
    for (let i = 0; i < 3; i++) {
      clock.advance(RETRY_INTERVAL_MS - 1);
      await settle();
      assert.equal(channel.opens, 1 + i);
      clock.advance(1);
      await settle();
    }
    assert.equal(channel.opens, 4);
    assert.equal(supervisor.open, true);
    assert.equal(clock.pending, 0);
  });

  test('events reach the session; a connect resets it', async () => {
    const { channel, session, supervisor } = setup(false);
    await supervisor.start();
    channel.events!.onConnect();
    channel.events!.onData(Buffer.from('{}'));
    assert.equal(session.resets, 1);
    assert.deepEqual(session.received, ['{}']);
  });

  test('a channel failure without -r stops the agent', async () => {
    const { channel, fatal, supervisor } = setup(false);
    await supervisor.start();
    channel.events!.onFailure!(new Error('error reading channel'));
    await settle();
    assert.equal(channel.closes, 1);
    assert.equal(fatal.length, 1);
  });

  test('a channel failure with -r closes it and re-opens after 5 s; stale events are ignored', async () => {
    const { channel, clock, session, fatal, supervisor } = setup(true);
    await supervisor.start();
    const old = channel.events!;
    old.onFailure!(new Error('error reading channel'));
    await settle();
    assert.equal(channel.closes, 1);
    assert.equal(fatal.length, 0);
    assert.equal(session.resets, 1, 'the half-parsed input of the broken channel is dropped');
    old.onData(Buffer.from('stale'));
    assert.deepEqual(session.received, []);
    clock.advance(RETRY_INTERVAL_MS);
    await settle();
    assert.equal(channel.opens, 2);
    assert.equal(supervisor.open, true);
    channel.events!.onData(Buffer.from('fresh'));
    assert.deepEqual(session.received, ['fresh']);
  });

  test('close() stops retrying', async () => {
    const { channel, clock, supervisor } = setup(true);
    channel.failOpens = 10;
    await supervisor.start();
    await supervisor.close();
    clock.advance(10 * RETRY_INTERVAL_MS);
    await settle();
    assert.equal(channel.opens, 1);
  });
});
