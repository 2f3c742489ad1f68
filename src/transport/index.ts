/** Picks the transport for `-m METHOD`. */
import type { AgentLogger } from '../logging/agent-logger';
import type { Channel } from './channel';
import { UnixListenChannel } from './unix-listen';

export type ChannelMethod = 'virtio-serial' | 'isa-serial' | 'unix-listen' | 'vsock-listen';

export function createChannel(method: ChannelMethod, path: string, logger: AgentLogger): Channel {
  switch (method) {
    case 'unix-listen':
      return new UnixListenChannel({ path, logger });
    case 'virtio-serial':
    case 'isa-serial':
    case 'vsock-listen':
      // Guest channels arrive with issue #3; until then say so plainly at start-up.
      throw new Error(`channel method '${method}' is not supported by this build yet (use -m unix-listen)`);
  }
}
