/**
 * `-d`: Node cannot fork, so the agent re-executes itself detached (setsid) with stdio on
 * /dev/null and a pipe on fd 3. The child opens its channels, writes the pidfile, changes to /
 * and reports "ready" on the pipe; only then does the parent exit 0, so a start-up error still
 * reaches whoever started the agent (qemu-ga ≥ 10.0 also daemonizes after opening the channel).
 */
import * as fs from 'node:fs';

const ENV_FLAG = 'QGA_TS_DAEMON_CHILD';
const READY_FD = 3;

export function isDaemonChild(env: NodeJS.ProcessEnv): boolean {
  return env[ENV_FLAG] === '1';
}

export function runDaemonParent(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  // Only the -d parent spawns; the agent itself never loads child_process at start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(process.execPath, [...process.execArgv, ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...env, [ENV_FLAG]: '1' },
  });
  return new Promise<number>((resolve) => {
    let ready = false;
    const pipe = child.stdio[READY_FD] as NodeJS.ReadableStream | null;
    pipe?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) ready = true;
    });
    pipe?.on('close', () => {
      if (ready) {
        child.unref();
        resolve(0);
      } else {
        process.stderr.write('qga-ts: the daemon failed to start (run without -d to see why)\n');
        resolve(1);
      }
    });
    child.on('error', (e) => {
      process.stderr.write(`qga-ts: cannot start the daemon: ${e.message}\n`);
      resolve(1);
    });
  });
}

/** Called by the daemon child once its channels are open and the pidfile is written. */
export function daemonChildReady(): void {
  process.umask(0o077);
  process.chdir('/');
  try {
    fs.writeSync(READY_FD, 'ready\n');
    fs.closeSync(READY_FD);
  } catch {
    // the parent is gone; nothing to tell
  }
}
