/**
 * Pushing each poll cycle as one JSON document to an HTTP endpoint (the "monitoring platform" of
 * the original design), so that a short outage of the receiver loses nothing:
 *
 * - a document is POSTed with a few retries (exponential back-off) within the cycle;
 * - what still fails goes to an on-disk spool (one file per document, written to a temporary name
 *   and renamed, so a crash never leaves half a document); the spool survives restarts;
 * - every push first delivers the spool, oldest first; while the receiver is down, new documents
 *   go straight to the spool, in order;
 * - the spool is bounded in bytes: when full, the oldest documents are dropped (and counted);
 * - a 4xx answer other than 408/429 means the receiver will never take that document: it is
 *   dropped (counted as rejected) rather than blocking the spool forever;
 * - every try, answer and body included, ends within requestTimeoutMs: a receiver that accepts
 *   the connection and never answers (or never finishes its answer) costs a try, not the monitor.
 *   The request is aborted then, and the try is given up on even if the fetch ignores the abort.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { settleWithin } from './settle-within';

export interface PushStats {
  ok: number;
  failed: number;
  rejected: number;
  dropped: number;
  spoolDocuments: number;
  spoolBytes: number;
}

export interface PushOptions {
  url: string;
  headers?: readonly [string, string][];
  spoolDir: string;
  spoolMaxBytes: number;
  /** tries per document before it is spooled (default 3) */
  attempts?: number;
  /** first pause between tries, doubled each time (default 1000 ms) */
  retryDelayMs?: number;
  /** per request (default 10000 ms) */
  requestTimeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  log?: (level: 'info' | 'warn', message: string) => void;
}

type Outcome = 'ok' | 'failed' | 'rejected';

const SPOOL_SUFFIX = '.json';

export class Pusher {
  readonly stats: PushStats = { ok: 0, failed: 0, rejected: 0, dropped: 0, spoolDocuments: 0, spoolBytes: 0 };
  private busy: Promise<void> | null = null;
  private seq = 0;
  private spoolReady: Promise<void> | null = null;
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: PushOptions) {
    this.fetch = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Hand over one document. Resolves when it is delivered or safely spooled; a push still running
   * (slow receiver, retries) does not make the caller wait: the new document is spooled behind it.
   */
  async submit(document: string): Promise<void> {
    await this.prepareSpool();
    if (this.busy) {
      await this.spool(document);
      return;
    }
    const run = this.deliverAll(document).finally(() => {
      this.busy = null;
    });
    this.busy = run;
    await run;
  }

  /** Wait for a push in progress (at shutdown). */
  async idle(): Promise<void> {
    await this.busy;
  }

  private prepareSpool(): Promise<void> {
    this.spoolReady ??= (async () => {
      await fsp.mkdir(this.opts.spoolDir, { recursive: true, mode: 0o750 });
      // Leftovers of an interrupted write are not documents.
      for (const f of await fsp.readdir(this.opts.spoolDir)) if (f.endsWith('.tmp')) await fsp.rm(path.join(this.opts.spoolDir, f), { force: true });
      await this.refreshSpoolStats();
    })();
    return this.spoolReady;
  }

  private async spoolFiles(): Promise<{ name: string; size: number }[]> {
    const names = (await fsp.readdir(this.opts.spoolDir)).filter((f) => f.endsWith(SPOOL_SUFFIX)).sort();
    const out: { name: string; size: number }[] = [];
    for (const name of names) {
      try {
        out.push({ name, size: (await fsp.stat(path.join(this.opts.spoolDir, name))).size });
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }

  private async refreshSpoolStats(): Promise<void> {
    const files = await this.spoolFiles();
    this.stats.spoolDocuments = files.length;
    this.stats.spoolBytes = files.reduce((n, f) => n + f.size, 0);
  }

  private async deliverAll(current: string): Promise<void> {
    // The spool first, oldest first; stop at the first failure (the receiver is still down).
    for (const f of await this.spoolFiles()) {
      const file = path.join(this.opts.spoolDir, f.name);
      let text: string;
      try {
        text = await fsp.readFile(file, 'utf8');
      } catch {
        continue;
      }
      const outcome = await this.send(text, 1);
      if (outcome === 'failed') {
        await this.spool(current);
        return;
      }
      await fsp.rm(file, { force: true });
      await this.refreshSpoolStats();
    }
    const outcome = await this.send(current, this.opts.attempts ?? 3);
    if (outcome === 'failed') await this.spool(current);
  }

  /** One POST, answer and body included, within requestTimeoutMs; resolves with the HTTP status. */
  private post(document: string): Promise<number> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    const controller = new AbortController();
    const exchange = (async () => {
      const res = await this.fetch(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...Object.fromEntries(this.opts.headers ?? []) },
        body: document,
        signal: controller.signal,
      });
      // Read the body so the connection can be reused; what it says does not matter.
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    })();
    return settleWithin(exchange, timeoutMs, () => {
      const e = new Error(`no complete answer within ${timeoutMs} ms`);
      controller.abort(e);
      return e;
    });
  }

  private async send(document: string, attempts: number): Promise<Outcome> {
    let delay = this.opts.retryDelayMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      try {
        const status = await this.post(document);
        if (status >= 200 && status < 300) {
          this.stats.ok++;
          return 'ok';
        }
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          this.stats.rejected++;
          this.opts.log?.('warn', `push to ${this.opts.url} rejected with HTTP ${status}; document dropped`);
          return 'rejected';
        }
        problem = `HTTP ${status}`;
      } catch (e) {
        problem = (e as Error).message;
      }
      this.stats.failed++;
      if (attempt >= attempts) {
        this.opts.log?.('warn', `push to ${this.opts.url} failed (${problem}); keeping the document in the spool`);
        return 'failed';
      }
      await this.sleep(delay);
      delay *= 2;
    }
  }

  private async spool(document: string): Promise<void> {
    const size = Buffer.byteLength(document);
    if (size > this.opts.spoolMaxBytes) {
      this.stats.dropped++;
      return;
    }
    // Make room: the oldest documents go first.
    const files = await this.spoolFiles();
    let total = files.reduce((n, f) => n + f.size, 0);
    for (const f of files) {
      if (total + size <= this.opts.spoolMaxBytes) break;
      await fsp.rm(path.join(this.opts.spoolDir, f.name), { force: true });
      total -= f.size;
      this.stats.dropped++;
    }
    // Names sort in arrival order: time, then a counter for documents of the same millisecond.
    const name = `${String(Date.now()).padStart(15, '0')}-${String(this.seq++).padStart(6, '0')}`;
    const tmp = path.join(this.opts.spoolDir, `${name}.tmp`);
    await fsp.writeFile(tmp, document, { mode: 0o640 });
    await fsp.rename(tmp, path.join(this.opts.spoolDir, name + SPOOL_SUFFIX));
    await this.refreshSpoolStats();
  }
}
