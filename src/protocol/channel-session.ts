/**
 * One channel's conversation: bytes in → stream lexer → dispatcher, strictly one request at a
 * time → replies out, in request order, through the channel's single writer. Each channel has
 * its own parser and sync state; all share the dispatcher and the agent state.
 *
 * Order by construction: the queue is drained by a single pump; a request whose handler is
 * asynchronous blocks the pump until its reply is queued for writing. Replies produced in one
 * synchronous run are written with one write call.
 */
import type { SessionControl } from '../dispatch/command-context';
import type { Dispatcher, Reply } from '../dispatch/dispatcher';
import type { AgentLogger } from '../logging/agent-logger';
import type { QgaError } from './errors';
import { encodeError } from './response-encoder';
import { StreamLexer, type StreamItem } from './stream-lexer';

export interface ReplySink {
  /** reply bytes as a latin1 string (Channel.write) */
  write(data: string): void;
  /** stop delivering input (too many requests queued) / deliver again */
  pauseInput(): void;
  resumeInput(): void;
}

const DELIMITER = '\xff';
/** Requests parsed but not yet answered before we stop reading the channel. */
const MAX_QUEUED = 256;
const KEEP_QUEUE_SLOTS = 1024;

export class ChannelSession implements SessionControl {
  private readonly lexer: StreamLexer;
  /**
   * Parsed requests waiting: queue[head, tail). The array is kept and refilled from index 0
   * once drained, so the usual one request per chunk allocates no array.
   */
  private readonly queue: (StreamItem | undefined)[] = [];
  private head = 0;
  private tail = 0;
  private busy = false;
  private delimitNext = false;
  private inputPaused = false;
  /** replies not yet written, latin1 */
  private pending = '';
  private idleWaiters: (() => void)[] = [];
  /** bumped on reset so a reply of an old connection is never written to a new one */
  private generation = 0;
  /** the last lexer error encoded, and its reply (see encodeLexError) */
  private lastLexError: QgaError | null = null;
  private lastLexReply = '';

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly sink: ReplySink,
    private readonly logger: AgentLogger,
  ) {
    this.lexer = new StreamLexer((item) => void (this.queue[this.tail++] = item), undefined, dispatcher.knownStrings);
  }

  /** SessionControl: guest-sync-delimited asks for a 0xFF before its own reply. */
  delimitNextResponse(): void {
    this.delimitNext = true;
  }

  /** Bytes from the host, in any chunking. */
  receive(chunk: Uint8Array): void {
    this.lexer.feed(chunk);
    this.pump();
  }

  /** Run `cb` once every request received so far has been answered (now, if already idle). */
  whenIdle(cb: () => void): void {
    if (!this.busy && this.head >= this.tail) cb();
    else this.idleWaiters.push(cb);
  }

  /** A new host connection: forget the previous one's partial request and queued work. */
  reset(): void {
    this.lexer.reset();
    this.queue.length = 0;
    this.head = 0;
    this.tail = 0;
    this.delimitNext = false;
    this.pending = '';
    this.generation++;
    this.busy = false;
    this.idleWaiters = [];
    if (this.inputPaused) {
      this.inputPaused = false;
      this.sink.resumeInput();
    }
  }

  private pump(): void {
    if (this.busy) {
      this.applyBackpressure();
      return;
    }
    while (this.head < this.tail) {
      const item = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      let reply: Reply | Promise<Reply>;
      try {
        reply = item.kind === 'error' ? this.encodeLexError(item.error) : this.dispatcher.dispatch(item.value, this);
      } catch (e) {
        // The dispatcher turns handler failures into replies; reaching here is a bug. Keep serving.
        this.logger.error({ err: e }, 'request could not be dispatched');
        continue;
      }
      if (reply instanceof Promise) {
        this.busy = true;
        this.flush();
        this.applyBackpressure();
        const gen = this.generation;
        reply
          .catch((e: unknown) => {
            this.logger.error({ err: e }, 'request could not be dispatched');
            return null;
          })
          .then((r) => {
            if (gen !== this.generation) return;
            this.busy = false;
            this.enqueueReply(r);
            this.pump();
          });
        return;
      }
      this.enqueueReply(reply);
    }
    this.head = 0;
    this.tail = 0;
    // a burst of thousands of tiny requests in one chunk should not pin its slots for ever
    if (this.queue.length > KEEP_QUEUE_SLOTS) this.queue.length = 0;
    this.flush();
    if (this.inputPaused) {
      this.inputPaused = false;
      this.sink.resumeInput();
    }
    if (this.idleWaiters.length > 0) for (const cb of this.idleWaiters.splice(0)) cb();
  }

  /**
   * The lexer answers the 0xFF every host sends to resynchronise with one and the same error
   * object (stream-lexer.ts), and QgaErrors are immutable: its reply is encoded once.
   */
  private encodeLexError(error: QgaError): string {
    if (error !== this.lastLexError) {
      this.lastLexReply = encodeError(error, undefined);
      this.lastLexError = error;
    }
    return this.lastLexReply;
  }

  private applyBackpressure(): void {
    if (!this.inputPaused && this.tail - this.head > MAX_QUEUED) {
      this.inputPaused = true;
      this.sink.pauseInput();
    }
  }

  private enqueueReply(reply: Reply): void {
    if (reply === null) return;
    if (this.delimitNext) {
      this.delimitNext = false;
      this.pending += DELIMITER;
    }
    // The encoder's output is ASCII, so as latin1 it already is the bytes to write.
    this.pending += reply;
  }

  private flush(): void {
    if (this.pending === '') return;
    const data = this.pending;
    this.pending = '';
    this.sink.write(data);
  }
}
