/**
 * Drive the whole pipeline in-process, without a socket (fastify's `inject`): bytes → lexer →
 * dispatcher → handlers → encoder, with an in-memory reply sink.
 */
import { createHandlers, type HandlerDeps } from '../../src/commands';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createFileHandleTable, type FileHandleTable } from '../../src/commands/file';
import { createFsfreezeGroup, defaultFsfreezeDeps } from '../../src/commands/fsfreeze';
import type { AgentServices } from '../../src/dispatch/command-context';
import { Dispatcher } from '../../src/dispatch/dispatcher';
import type { HandlerTable } from '../../src/dispatch/handler-table';
import { createAgentLogger, type AgentLogger } from '../../src/logging/agent-logger';
import { ChannelSession } from '../../src/protocol/channel-session';
import { AgentState } from '../../src/state/agent-state';
import { ProcessTable } from '../../src/state/process-table';

export interface Injector {
  /** send bytes (string as UTF-8) and return everything the agent wrote once it is idle */
  send(data: string | Uint8Array): Promise<Buffer>;
  /** send and return the reply as text (latin1: the agent's output is ASCII plus 0xFF) */
  text(data: string | Uint8Array): Promise<string>;
  reset(): void;
  state: AgentState;
  dispatcher: Dispatcher;
  logLines: string[];
}

/**
 * Handler dependencies for in-process tests: no native addon (commands needing it are disabled
 * unless injected), no programs run, file handles numbered from 1000 in memory.
 */
export function testHandlerDeps(logger: AgentLogger, fileHandles?: FileHandleTable): HandlerDeps {
  const statedir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-inject-'));
  const noNative = () => Promise.reject(Object.assign(new Error('no native helper in in-process tests'), { code: 'ENOSYS' }));
  const fsfreeze = createFsfreezeGroup(
    defaultFsfreezeDeps({
      native: { fsfreeze: noNative, fsthaw: noNative },
      statedir,
      runCommand: () => Promise.reject(new Error('no hook in in-process tests')),
      freezeTimeoutSeconds: 0,
      logger,
    }),
  );
  return {
    native: { available: false, reason: 'not loaded in in-process tests' },
    fileHandles: fileHandles ?? createFileHandleTable({ allocateFileHandle: (() => { let next = 1000n; return async () => next++; })() }),
    fsfreeze,
    processTable: new ProcessTable({ logger }),
    runCommand: () => Promise.reject(new Error('no programs run in in-process tests')),
  };
}

export function createInjector(opts: {
  handlers?: Partial<HandlerTable>;
  blockRpcs?: string[];
  allowRpcs?: string[];
  frozen?: boolean;
  nowNs?: () => bigint;
} = {}): Injector {
  const logLines: string[] = [];
  const { logger } = createAgentLogger({ verbose: true, sink: { write: (l) => void logLines.push(l) } });
  const state = new AgentState({ frozen: opts.frozen ?? false });
  const dispatcher = new Dispatcher({
    handlers: {
      ...createHandlers(testHandlerDeps(logger)),
      ...opts.handlers,
    } as HandlerTable,
    blockRpcs: opts.blockRpcs ?? [],
    allowRpcs: opts.allowRpcs ?? [],
    logger,
  });
  const services: AgentServices = {
    state,
    compatVersion: '10.2.0',
    clock: { nowNs: opts.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n) },
    commandInfo: () => dispatcher.commandInfo(),
  };
  dispatcher.attach(services);
  const written: string[] = [];
  const session = new ChannelSession(dispatcher, { write: (b) => void written.push(b), pauseInput() {}, resumeInput() {} }, logger);
  const send = async (data: string | Uint8Array) => {
    session.receive(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    // let asynchronous handlers finish
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // replies are latin1 strings (one char per byte)
    return Buffer.from(written.splice(0).join(''), 'latin1');
  };
  return {
    send,
    text: async (d) => (await send(d)).toString('latin1'),
    reset: () => session.reset(),
    state,
    dispatcher,
    logLines,
  };
}
