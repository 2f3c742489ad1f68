/** Commands about the agent itself: sync, sync-delimited, ping, info. */
import type { QgaCommandHandlers } from '../generated/qga-commands';

export const agentHandlers = {
  'guest-sync-delimited': (args, ctx) => {
    ctx.session.delimitNextResponse();
    return args.id;
  },
  'guest-sync': (args) => args.id,
  'guest-ping': () => undefined,
  'guest-info': (_args, ctx) => ({
    version: ctx.agent.compatVersion,
    // qemu-ga walks its registry from the most recently registered command.
    supported_commands: ctx.agent
      .commandInfo()
      .reverse()
      .map((c) => ({ name: c.name, enabled: c.enabled, 'success-response': c.successResponse })),
  }),
} satisfies Pick<QgaCommandHandlers, 'guest-sync-delimited' | 'guest-sync' | 'guest-ping' | 'guest-info'>;
