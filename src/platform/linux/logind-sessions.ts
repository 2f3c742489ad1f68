import type { GuestUser } from './utmp';

/**
 * systemd-logind session state files (/run/systemd/sessions/<id>) → GuestUser, the fallback for
 * guest-get-users on systems that no longer write utmp (systemd ≥ 255 distributions often ship
 * without it). qemu-ga itself only reads utmpx, so the rule here is ours, chosen to give the
 * answer utmp would have given:
 *
 * - A session counts when its CLASS is `user` or a `user-…` variant (`user-early`,
 *   `user-light`, `user-incomplete`, …): these are the tty, ssh and graphical logins that write a
 *   USER_PROCESS record. `greeter`, `lock-screen`, `background` (cron, …) and `manager` (the
 *   per-user systemd) do not log anyone in, and a session without CLASS is not trusted.
 * - A session in STATE `closing` has logged out (its leftover processes linger), as a
 *   DEAD_PROCESS record would say, so it does not count.
 * - USER names the user; REALTIME (µs since the epoch) is the login time, converted like
 *   qemu-ga's tv_sec + tv_usec / 1e6. A session lacking either is skipped.
 * - Each user appears once with its earliest login time. Users are ordered by that time, which
 *   is the order of first appearance in an append-only utmp file (ties keep input order).
 */
export interface LogindSession {
  user?: string;
  /** REALTIME, microseconds since the epoch. */
  realtimeUsec?: bigint;
  state?: string;
  class?: string;
  type?: string;
  remote?: boolean;
  remoteHost?: string;
  tty?: string;
  service?: string;
}

/**
 * One state file. The format is a plain `KEY=value` list written by logind (lines starting with
 * `#` are comments); values are taken verbatim, since USER, REALTIME, STATE, CLASS and TYPE are
 * never escaped by logind.
 */
export function parseLogindSession(text: string): LogindSession {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const equals = line.indexOf('=');
    if (equals <= 0) continue;
    fields.set(line.slice(0, equals), line.slice(equals + 1));
  }
  const session: LogindSession = {};
  const user = fields.get('USER');
  if (user !== undefined && user !== '') session.user = user;
  const realtime = fields.get('REALTIME');
  if (realtime !== undefined && /^[0-9]+$/.test(realtime)) session.realtimeUsec = BigInt(realtime);
  const simple: Array<[keyof LogindSession, string]> = [
    ['state', 'STATE'],
    ['class', 'CLASS'],
    ['type', 'TYPE'],
    ['remoteHost', 'REMOTE_HOST'],
    ['tty', 'TTY'],
    ['service', 'SERVICE'],
  ];
  for (const [field, key] of simple) {
    const value = fields.get(key);
    if (value !== undefined) (session as Record<string, unknown>)[field] = value;
  }
  const remote = fields.get('REMOTE');
  if (remote !== undefined) session.remote = remote === '1';
  return session;
}

/** Is this session a login that utmp would have recorded as a USER_PROCESS? */
export function isUserLoginSession(session: LogindSession): boolean {
  const sessionClass = session.class;
  if (sessionClass === undefined) return false;
  if (sessionClass !== 'user' && !sessionClass.startsWith('user-')) return false;
  return session.state !== 'closing';
}

/** The guest-get-users answer from parsed session files (see the module comment for the rule). */
export function guestUsersFromLogindSessions(sessions: readonly LogindSession[]): GuestUser[] {
  const users = new Map<string, GuestUser>();
  for (const session of sessions) {
    if (!isUserLoginSession(session)) continue;
    if (session.user === undefined || session.realtimeUsec === undefined) continue;
    const seconds = session.realtimeUsec / 1_000_000n;
    const micros = session.realtimeUsec % 1_000_000n;
    const loginTime = Number(seconds) + Number(micros) / 1e6;
    const known = users.get(session.user);
    if (known === undefined) users.set(session.user, { user: session.user, 'login-time': loginTime });
    else if (loginTime < known['login-time']) known['login-time'] = loginTime;
  }
  return [...users.values()].sort((a, b) => a['login-time'] - b['login-time']);
}
