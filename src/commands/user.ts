/**
 * guest-set-user-password (reference §2.3; upstream qga/commands-posix.c, 9.1+): decode the
 * password, refuse a newline in it and a newline or ":" in the user name, then feed
 * `user:password\n` to `chpasswd` (`chpasswd -e` for a crypted password) through ga_run_command.
 *
 * As upstream, the checks are exactly these two (an empty user name reaches chpasswd, which
 * rejects it), and the decoded password counts only up to its first NUL byte, since qemu-ga
 * handles it as a C string.
 */
import type { QgaCommandHandlers } from '../generated/qga-commands';
import { Errors } from '../protocol/errors';
import { decodeQemuBase64 } from '../protocol/qemu-base64';
import { createCommandRunner, type CommandRunner } from './run-command';

export interface UserDeps {
  runCommand: CommandRunner;
}

export function defaultUserDeps(runCommand: CommandRunner = createCommandRunner()): UserDeps {
  return { runCommand };
}

export function createUserHandlers(deps: UserDeps) {
  return {
    'guest-set-user-password': async (args) => {
      const decoded = decodeQemuBase64(args.password);
      const nul = decoded.indexOf(0);
      const password = nul >= 0 ? decoded.subarray(0, nul) : decoded;
      if (password.includes(0x0a)) throw Errors.passwordForbiddenCharacters();
      if (args.username.includes('\n') || args.username.includes(':')) throw Errors.usernameForbiddenCharacters();
      const input = Buffer.concat([Buffer.from(`${args.username}:`, 'utf8'), password, Buffer.from('\n')]);
      await deps.runCommand(args.crypted ? ['chpasswd', '-e'] : ['chpasswd'], input, 'set user password');
    },
  } satisfies Pick<QgaCommandHandlers, 'guest-set-user-password'>;
}
