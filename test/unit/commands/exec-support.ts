/**
 * Helpers for the guest-exec tests: an injector wired to real exec handlers, requests that wait
 * for asynchronous handlers, and status polling.
 */
import { createExecHandlers, defaultExecDeps, type ExecDeps } from '../../../src/commands/exec';
import { ProcessTable, type ProcessTableOptions } from '../../../src/state/process-table';
import { createInjector, type Injector } from '../../support/inject';

export interface ExecHarness {
  inj: Injector;
  table: ProcessTable;
  /** send one request line and wait for its reply line */
  request(line: string, timeoutMs?: number): Promise<string>;
  /** guest-exec, returning the pid (throws with the reply if it is not a pid) */
  exec(args: object): Promise<number>;
  /** poll guest-exec-status until it reports exited:true (or an error); returns that reply */
  waitExited(pid: number, timeoutMs?: number): Promise<string>;
}

export function execHarness(opts: { table?: ProcessTableOptions; deps?: Partial<ExecDeps> } = {}): ExecHarness {
  const table = new ProcessTable(opts.table);
  const inj = createInjector({ handlers: createExecHandlers({ ...defaultExecDeps(table), ...opts.deps }) });
  const request = async (line: string, timeoutMs = 10_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let reply = await inj.text(line);
    while (!reply.endsWith('\n')) {
      if (Date.now() > deadline) throw new Error(`no reply to ${line}`);
      await new Promise((r) => setTimeout(r, 2));
      reply += await inj.text('');
    }
    return reply;
  };
  const exec = async (args: object): Promise<number> => {
    const reply = await request(JSON.stringify({ execute: 'guest-exec', arguments: args }));
    const m = /^\{"return": \{"pid": (\d+)\}\}\n$/.exec(reply);
    if (!m) throw new Error(`guest-exec failed: ${reply}`);
    return Number(m[1]);
  };
  const waitExited = async (pid: number, timeoutMs = 20_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = await request(`{"execute":"guest-exec-status","arguments":{"pid":${pid}}}`);
      if (reply !== '{"return": {"exited": false}}\n') return reply;
      if (Date.now() > deadline) throw new Error(`pid ${pid} did not exit`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { inj, table, request, exec, waitExited };
}

export function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}
