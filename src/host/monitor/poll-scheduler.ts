/**
 * The poll cycle: find the VMs, poll each one that is due (at most `concurrency` at a time, each
 * within its own time budget), remember what came back, and work out rates against the previous
 * sample. A VM whose poll fails is retried after 1, 2, 4, ... cycles (capped by maxBackoffSeconds),
 * so a hung, frozen or absent guest costs one slot for one budget now and then, and never delays
 * the others.
 *
 * All state lives in the PollScheduler instance (no module state); metrics and push read it.
 */
import { QgaClient } from '../agent-client';
import type { AgentRoute } from '../agent-route';
import { QgaClientError } from '../client-errors';
import { LibvirtRoute, type RunCommand } from '../libvirt-route';
import { SocketRoute } from '../socket-route';
import { pollGuest, ratesBetween, type GuestSample, type Rates } from './guest-sample';
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
  private readonly stopController = new AbortController();

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  private route(target: Target): AgentRoute {
    if (this.opts.makeRoute) return this.opts.makeRoute(target);
    if (target.route === 'libvirt') return new LibvirtRoute(target.domain, { uri: this.opts.libvirtUri, virsh: this.opts.virsh, run: this.opts.run });
    const budget = this.opts.vmTimeoutSeconds * 1000;
    return new SocketRoute(target.path, {
      connectTimeoutMs: Math.min(3000, budget),
      syncTimeoutMs: Math.min(5000, budget),
      closeGraceMs: 300,
    });
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
    const { targets, problems } = await discoverTargets({
      socketGlobs: this.opts.socketGlobs,
      libvirtDomains: this.opts.libvirtDomains,
      libvirtUri: this.opts.libvirtUri,
      virsh: this.opts.virsh,
      run: this.opts.run,
      fs: this.opts.fs,
    });
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
      while (next < due.length && !this.stopController.signal.aborted) {
        const s = due[next++]!;
        if (!(await this.pollOne(s))) failed.push(s.target.vm);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, due.length) }, worker));
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

  private async pollOne(s: VmState): Promise<boolean> {
    const client = new QgaClient(this.route(s.target), { callTimeoutMs: this.opts.vmTimeoutSeconds * 1000 });
    const budget = AbortSignal.timeout(this.opts.vmTimeoutSeconds * 1000);
    const signal = AbortSignal.any([budget, this.stopController.signal]);
    const t0 = this.now();
    s.polls++;
    const includeOs = s.sample?.os == null || s.polls % this.opts.osInfoEvery === 1 || this.opts.osInfoEvery === 1;
    try {
      const sample = await pollGuest(client, {
        signal,
        callTimeoutMs: this.opts.vmTimeoutSeconds * 1000,
        includeOs,
        excludeInterface: this.opts.excludeInterface,
        excludeDisk: this.opts.excludeDisk,
        now: this.now,
      });
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
      const reason = budget.aborted ? 'timeout' : failureReason(e);
      const message = budget.aborted ? `no complete poll within ${this.opts.vmTimeoutSeconds} s (${(e as Error).message})` : (e as Error).message;
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
      s.lastPollSeconds = (this.now() - t0) / 1000;
      // Closing politely may wait for the agent; it need not hold the slot.
      const closing = client.close().catch(() => undefined);
      this.closing.add(closing);
      void closing.then(() => this.closing.delete(closing));
    }
  }

  /** Stop polling and wait for connections being closed. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await Promise.all([...this.closing]);
  }
}
