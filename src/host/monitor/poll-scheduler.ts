/**
 * The poll cycle: find the VMs, poll each one that is due (at most `concurrency` at a time, each
 * within its own time budget), remember what came back, and work out rates against the previous
 * sample. A VM whose poll fails is retried after 1, 2, 4, ... cycles (capped by maxBackoffSeconds),
 * so a hung, frozen or absent guest costs one slot for one budget now and then, and never delays
 * the others.
 *
 * Nothing here waits without a bound. The budget aborts whatever the route is doing (connect,
 * sync, a call); should a route not give up when told, the slot gives up on it a moment later
 * anyway. Closing is not part of the budget but has its own bound, and so has discovery: a cycle
 * always ends, and the next one always comes.
 *
 * All state lives in the PollScheduler instance (no module state); metrics and push read it.
 */
import { QgaClient } from '../agent-client';
import type { AgentRoute } from '../agent-route';
import { QgaAbortedError, QgaClientError } from '../client-errors';
import { LibvirtRoute, type RunCommand } from '../libvirt-route';
import { SocketRoute } from '../socket-route';
import { pollGuest, ratesBetween, type GuestSample, type Rates } from './guest-sample';
import { settleWithin } from './settle-within';
import { discoverTargets, targetAddress, type DiscoveryFs, type Target } from './targets';

export type PollFailureReason = 'timeout' | 'connection' | 'protocol' | 'remote' | 'reply' | 'aborted' | 'internal';

export interface VmState {
  target: Target;
  /** the last successful sample, and the one before it (for rates) */
  sample: GuestSample | null;
  rates: Rates | null;
  up: boolean;
  consecutiveFailures: number;
  /** the cycle number from which the VM is polled again */
  dueFromCycle: number;
  lastError: { reason: PollFailureReason; message: string; time: number } | null;
  lastPollSeconds: number | null;
  lastSuccessTime: number | null;
  /** lifetime counts, exposed as counters */
  pollErrors: Map<PollFailureReason, number>;
  collectorErrors: Map<string, number>;
  polls: number;
  /** the result of the latest cycle for this VM */
  lastOutcome: 'ok' | 'failed' | 'skipped';
}

export interface CycleReport {
  cycle: number;
  started: number;
  finished: number;
  polled: string[];
  skipped: string[];
  failed: string[];
  discoveryProblems: string[];
}

export interface SchedulerOptions {
  socketGlobs: readonly string[];
  libvirtDomains: 'all' | readonly string[];
  libvirtUri?: string | undefined;
  virsh?: string | undefined;
  intervalSeconds: number;
  concurrency: number;
  vmTimeoutSeconds: number;
  maxBackoffSeconds: number;
  excludeInterface: RegExp;
  excludeDisk: RegExp;
  osInfoEvery: number;
  /** for tests and the libvirt route */
  run?: RunCommand;
  fs?: DiscoveryFs;
  now?: () => number;
  /** builds the route to a target (tests may wrap it) */
  makeRoute?: (target: Target) => AgentRoute;
  onVmChange?: (vm: string, change: { up: boolean; reason?: PollFailureReason; message?: string }) => void;
  /** ms a route gets, once its budget is spent or the scheduler stops, to give up by itself (default 1000) */
  abandonGraceMs?: number;
  /** ms to wait for the agent to close its side after a poll (default 300, at most the budget) */
  closeGraceMs?: number;
  /** ms a discovery may take before the cycle goes on with the VMs it already knows (default 30000) */
  discoveryTimeoutMs?: number;
}

function failureReason(e: unknown): PollFailureReason {
  if (e instanceof QgaClientError) {
    switch (e.kind) {
      case 'timeout':
        return 'timeout';
      case 'connection':
        return 'connection';
      case 'protocol':
        return 'protocol';
      case 'remote':
        return 'remote';
      case 'reply':
        return 'reply';
      case 'aborted':
        return 'timeout';
      default:
        return 'internal';
    }
  }
  return 'internal';
}

export class PollScheduler {
  readonly vms = new Map<string, VmState>();
  cycle = 0;
  lastReport: CycleReport | null = null;
  private readonly now: () => number;
  private readonly closing = new Set<Promise<void>>();
  /** one controller per poll in progress; stop() aborts them all */
  private readonly polling = new Set<AbortController>();
  /** the polls of the cycle in progress, for stop() */
  private workers: Promise<unknown> | null = null;
  private stopped = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  private route(target: Target): AgentRoute {
    if (this.opts.makeRoute) return this.opts.makeRoute(target);
    if (target.route === 'libvirt') return new LibvirtRoute(target.domain, { uri: this.opts.libvirtUri, virsh: this.opts.virsh, run: this.opts.run });
    const budget = this.budgetMs;
    return new SocketRoute(target.path, {
      connectTimeoutMs: Math.min(3000, budget),
      syncTimeoutMs: Math.min(5000, budget),
      closeGraceMs: this.closeGraceMs,
    });
  }

  private get budgetMs(): number {
    return this.opts.vmTimeoutSeconds * 1000;
  }

  private get closeGraceMs(): number {
    return Math.min(this.opts.closeGraceMs ?? 300, this.budgetMs);
  }

  private get abandonGraceMs(): number {
    return this.opts.abandonGraceMs ?? 1000;
  }

  /** The number of cycles to sit out after the n-th failure in a row: 0, 1, 3, 7, ... capped. */
  private backoffCycles(failures: number): number {
    const cap = Math.max(1, Math.floor(this.opts.maxBackoffSeconds / this.opts.intervalSeconds));
    return Math.min(2 ** Math.min(failures - 1, 20), cap);
  }

  /** Seconds until the VM is polled again (0 when it is polled every cycle). */
  backoffSeconds(vm: VmState): number {
    return Math.max(0, vm.dueFromCycle - this.cycle - 1) * this.opts.intervalSeconds;
  }

  async runCycle(): Promise<CycleReport> {
    this.cycle++;
    const started = this.now();
    const { targets, problems } = await this.discover();
    const present = new Set(targets.map((t) => t.vm));
    for (const vm of [...this.vms.keys()]) if (!present.has(vm)) this.vms.delete(vm);
    const due: VmState[] = [];
    const skipped: string[] = [];
    for (const t of targets) {
      let s = this.vms.get(t.vm);
      if (!s || targetAddress(s.target) !== targetAddress(t)) {
        s = {
          target: t, sample: null, rates: null, up: false, consecutiveFailures: 0, dueFromCycle: 0, lastError: null,
          lastPollSeconds: null, lastSuccessTime: null, pollErrors: new Map(), collectorErrors: new Map(), polls: 0, lastOutcome: 'skipped',
        };
        this.vms.set(t.vm, s);
      }
      if (s.dueFromCycle <= this.cycle) due.push(s);
      else {
        s.lastOutcome = 'skipped';
        skipped.push(t.vm);
      }
    }
    const failed: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < due.length && !this.stopped) {
        const s = due[next++]!;
        if (!(await this.pollOne(s))) failed.push(s.target.vm);
      }
    };
    const workers = Promise.all(Array.from({ length: Math.min(this.opts.concurrency, due.length) }, worker));
    this.workers = workers;
    try {
      await workers;
    } finally {
      if (this.workers === workers) this.workers = null;
    }
    const report: CycleReport = {
      cycle: this.cycle,
      started,
      finished: this.now(),
      polled: due.map((s) => s.target.vm),
      skipped,
      failed: failed.sort(),
      discoveryProblems: problems,
    };
    this.lastReport = report;
    return report;
  }

  /**
   * The targets of this cycle. Discovery reads directories and may run virsh; if that does not
   * come back in time, the cycle goes on with the VMs it already knows rather than wait.
   */
  private async discover(): Promise<{ targets: Target[]; problems: string[] }> {
    const timeoutMs = this.opts.discoveryTimeoutMs ?? 30_000;
    try {
      return await settleWithin(
        discoverTargets({
          socketGlobs: this.opts.socketGlobs,
          libvirtDomains: this.opts.libvirtDomains,
          libvirtUri: this.opts.libvirtUri,
          virsh: this.opts.virsh,
          run: this.opts.run,
          fs: this.opts.fs,
        }),
        timeoutMs,
        () => new Error(`discovery did not finish within ${timeoutMs} ms; polling the VMs found before`),
      );
    } catch (e) {
      return { targets: [...this.vms.values()].map((s) => s.target), problems: [(e as Error).message] };
    }
  }

  private async pollOne(s: VmState): Promise<boolean> {
    const budgetMs = this.budgetMs;
    const client = new QgaClient(this.route(s.target), { callTimeoutMs: budgetMs });
    // Our own controller and a ref'd timer rather than AbortSignal.timeout/any: the budget must
    // fire even when nothing else keeps the process alive, and stop() must reach every poll.
    const controller = new AbortController();
    let budgetSpent = false;
    const budgetTimer = setTimeout(() => {
      budgetSpent = true;
      controller.abort();
    }, budgetMs);
    let graceTimer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => {
        const grace = this.abandonGraceMs;
        graceTimer = setTimeout(() => reject(new QgaAbortedError(`poll of ${s.target.vm}, whose route did not give up within ${grace} ms of being told to`)), grace);
      }, { once: true });
    });
    abandoned.catch(() => undefined);
    this.polling.add(controller);
    if (this.stopped) controller.abort();
    const t0 = this.now();
    s.polls++;
    const includeOs = s.sample?.os == null || s.polls % this.opts.osInfoEvery === 1 || this.opts.osInfoEvery === 1;
    try {
      const poll = pollGuest(client, {
        signal: controller.signal,
        callTimeoutMs: budgetMs,
        includeOs,
        excludeInterface: this.opts.excludeInterface,
        excludeDisk: this.opts.excludeDisk,
        now: this.now,
      });
      // The route is told to stop when the budget is spent (or the scheduler stops); one that
      // does not within abandonGraceMs is left behind.
      const sample = await Promise.race([poll, abandoned]);
      if (!includeOs && s.sample?.os) sample.os = s.sample.os;
      s.rates = s.sample ? ratesBetween(s.sample, sample) : null;
      s.sample = sample;
      for (const c of sample.collectorErrors) s.collectorErrors.set(c.command, (s.collectorErrors.get(c.command) ?? 0) + 1);
      if (!s.up) this.opts.onVmChange?.(s.target.vm, { up: true });
      s.up = true;
      s.consecutiveFailures = 0;
      s.dueFromCycle = this.cycle + 1;
      s.lastSuccessTime = sample.time;
      s.lastOutcome = 'ok';
      return true;
    } catch (e) {
      const reason = budgetSpent ? 'timeout' : failureReason(e);
      const message = budgetSpent ? `no complete poll within ${this.opts.vmTimeoutSeconds} s (${(e as Error).message})` : (e as Error).message;
      s.pollErrors.set(reason, (s.pollErrors.get(reason) ?? 0) + 1);
      if (s.up || s.lastError === null) this.opts.onVmChange?.(s.target.vm, { up: false, reason, message });
      s.up = false;
      s.sample = null;
      s.rates = null;
      s.lastError = { reason, message, time: this.now() };
      s.consecutiveFailures++;
      s.dueFromCycle = this.cycle + this.backoffCycles(s.consecutiveFailures);
      s.lastOutcome = 'failed';
      return false;
    } finally {
      clearTimeout(budgetTimer);
      clearTimeout(graceTimer);
      this.polling.delete(controller);
      s.lastPollSeconds = (this.now() - t0) / 1000;
      // Closing politely may wait for the agent; it need not hold the slot. The route bounds it
      // by closeGraceMs; a route that does not is not waited for beyond a grace of our own.
      const bound = this.closeGraceMs + this.abandonGraceMs;
      const closing = settleWithin(client.close(), bound, () => new Error(`closing ${s.target.vm} took longer than ${bound} ms`)).catch(() => undefined);
      this.closing.add(closing);
      void closing.then(() => this.closing.delete(closing));
    }
  }

  /**
   * Stop polling: polls in progress are aborted (and left behind after abandonGraceMs if their
   * route does not give up); then wait, boundedly as well, for the connections being closed.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.polling) c.abort();
    await this.workers?.catch(() => undefined);
    await Promise.all([...this.closing]);
  }
}
