import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import type { ChannelEvents } from '../../../src/transport/channel';
import { createChannel } from '../../../src/transport';
import { IsaSerialChannel, ISA_SERIAL_SETTINGS, type SerialLine } from '../../../src/transport/isa-serial';
import { UnixListenChannel } from '../../../src/transport/unix-listen';
import { VirtioSerialChannel } from '../../../src/transport/virtio-serial';
import { VsockListenChannel } from '../../../src/transport/vsock-listen';

class FakeLine extends EventEmitter implements SerialLine {
  isOpen = false;
  openError: Error | null = null;
  written: string[] = [];
  accept = true;
  paused = false;
  open(cb: (e: Error | null) => void): void {
    this.isOpen = this.openError === null;
    cb(this.openError);
  }
  close(cb?: (e: Error | null) => void): void {
    this.isOpen = false;
    cb?.(null);
  }
  write(data: Buffer): boolean {
    this.written.push(data.toString());
    return this.accept;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });

function events(log: string[]): ChannelEvents {
  return {
    onConnect: () => log.push('connect'),
    onData: (c) => log.push(`data:${c.toString()}`),
    onInputEnd: (done) => done(),
    onDisconnect: (r) => log.push(`disconnect:${r}`),
    onFailure: (e) => log.push(`failure:${e.message}`),
  };
}

describe('isa-serial channel', () => {
  test("qemu-ga's line settings: 38400 baud, 8N1", () => {
    assert.deepEqual(ISA_SERIAL_SETTINGS, { baudRate: 38400, dataBits: 8, stopBits: 1, parity: 'none' });
  });

  test('data in, replies out; a line that does not drain stops input until it does', async () => {
    const line = new FakeLine();
    const log: string[] = [];
    const channel = new IsaSerialChannel({ path: '/dev/ttyS0', logger, factory: () => line });
    await channel.open(events(log));
    line.emit('data', Buffer.from('{"execute":"guest-ping"}'));
    assert.deepEqual(log, ['connect', 'data:{"execute":"guest-ping"}']);
    line.accept = false;
    channel.write('{"return": {}}\n');
    assert.equal(line.paused, true);
    channel.resumeInput();
    assert.equal(line.paused, true, 'still blocked on the write');
    line.emit('drain');
    assert.equal(line.paused, false);
  });

  test('the line closing under us is a channel failure', async () => {
    const line = new FakeLine();
    const log: string[] = [];
    const channel = new IsaSerialChannel({ path: '/dev/pts/9', logger, factory: () => line });
    await channel.open(events(log));
    line.isOpen = false;
    line.emit('close', new Error('Input/output error'));
    assert.deepEqual(log.slice(1), ['disconnect:serial line closed: Input/output error', "failure:error reading channel '/dev/pts/9': Input/output error"]);
    channel.write('x');
    assert.deepEqual(line.written, []);
  });

  test('open errors: the lock held by another agent is named', async () => {
    const line = new FakeLine();
    line.openError = new Error('Error Resource temporarily unavailable Cannot lock port');
    const channel = new IsaSerialChannel({ path: '/dev/ttyS0', logger, factory: () => line });
    await assert.rejects(channel.open(events([])), {
      message: "error opening channel '/dev/ttyS0': Error Resource temporarily unavailable Cannot lock port (another agent has the port open)",
    });
    const missing = new FakeLine();
    missing.openError = new Error('Error: No such file or directory, cannot open /dev/ttyS9');
    await assert.rejects(new IsaSerialChannel({ path: '/dev/ttyS9', logger, factory: () => missing }).open(events([])), {
      message: "error opening channel '/dev/ttyS9': No such file or directory, cannot open /dev/ttyS9",
    });
  });
});

describe('createChannel', () => {
  const native = { available: false, reason: 'qga_native.node not found' } as const;
  test('one class per method', () => {
    assert.ok(createChannel('unix-listen', '/tmp/x.sock', { logger, native }) instanceof UnixListenChannel);
    assert.ok(createChannel('isa-serial', '/dev/ttyS0', { logger, native }) instanceof IsaSerialChannel);
    assert.ok(createChannel('vsock-listen', '3:4', { logger, native }) instanceof VsockListenChannel);
  });

  test('virtio-serial without the native helper: a clear start-up error', () => {
    assert.throws(() => createChannel('virtio-serial', '/dev/virtio-ports/org.qemu.guest_agent.0', { logger, native }), {
      message: 'virtio-serial needs the native helper (build/Release/qga_native.node), which is unavailable: qga_native.node not found',
    });
    const fake = { available: true, watchFd: () => ({}) } as never;
    assert.ok(createChannel('virtio-serial', '/dev/virtio-ports/x', { logger, native: fake }) instanceof VirtioSerialChannel);
  });
});
