/** Guest clock commands. */
import type { QgaCommandHandlers } from '../generated/qga-commands';

export const timeHandlers = {
  // qemu-ga: g_get_real_time() (µs) × 1000.
  'guest-get-time': (_args, ctx) => ctx.agent.clock.nowNs(),
} satisfies Pick<QgaCommandHandlers, 'guest-get-time'>;
