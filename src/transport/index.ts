/** Picks the transport for `-m METHOD`, and for a socket that systemd passed in. */
import type { ChannelMethod } from '../config/agent-config';
import type { AgentLogger } from '../logging/agent-logger';
import type { NativeHelper, NativeUnavailable } from '../native/native-helper';
import type { Channel } from './channel';

// Each transport's module is required only when that method is chosen: a guest on virtio-serial
// never loads node:net (and net.Server.listen's cluster module), which is a large part of
// start-up, and only isa-serial needs serialport.
/* eslint-disable @typescript-eslint/no-require-imports */
const transports = {
  unixListen: (): typeof import('./unix-listen') => require('./unix-listen'),
  virtioSerial: (): typeof import('./virtio-serial') => require('./virtio-serial'),
  isaSerial: (): typeof import('./isa-serial') => require('./isa-serial'),
  vsockListen: (): typeof import('./vsock-listen') => require('./vsock-listen'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

export type { ChannelMethod } from '../config/agent-config';

export interface ChannelDeps {
  logger: AgentLogger;
  native: NativeHelper | NativeUnavailable;
}

/** Throws a clear message when the method cannot work in this build or on this machine. */
export function createChannel(method: ChannelMethod, path: string, deps: ChannelDeps): Channel {
  switch (method) {
    case 'unix-listen':
      return new (transports.unixListen().UnixListenChannel)({ path, logger: deps.logger });
    case 'virtio-serial':
      if (!deps.native.available) {
        // Node has no way to wait on a virtio-serial port without spinning or parking a thread.
        throw new Error(`virtio-serial needs the native helper (build/Release/qga_native.node), which is unavailable: ${deps.native.reason}`);
      }
      return new (transports.virtioSerial().VirtioSerialChannel)({ path, logger: deps.logger, native: deps.native, edgeWake: true });
    case 'isa-serial':
      return new (transports.isaSerial().IsaSerialChannel)({ path, logger: deps.logger });
    case 'vsock-listen':
      return new (transports.vsockListen().VsockListenChannel)({ path, logger: deps.logger, native: deps.native });
  }
}

/** systemd socket activation: the method follows the socket's family (unix or vsock). */
export function createActivatedChannel(method: 'unix-listen' | 'vsock-listen', fd: number, deps: ChannelDeps): Channel {
  return method === 'unix-listen'
    ? new (transports.unixListen().UnixListenChannel)({ path: `fd ${fd}`, listenFd: fd, logger: deps.logger })
    : new (transports.vsockListen().VsockListenChannel)({ path: `fd ${fd}`, listenFd: fd, logger: deps.logger, native: deps.native });
}
