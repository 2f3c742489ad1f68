/**
 * The monitor's last line of defence against an await that never ends. The scheduler, the push
 * and the shutdown wait on work done by routes, fetch and the file system; each of those has its
 * own timeout, but a route that ignores its abort signal, a fetch that never settles, or a stuck
 * directory read would otherwise stall the slot, the cycle and every cycle after it for good.
 *
 * The timer is an ordinary (ref'd) one on purpose: AbortSignal.timeout's timer does not keep the
 * process alive, so an await guarded only by it can end with the process quietly exiting
 * mid-cycle instead of with a timeout.
 */

/**
 * `work`'s outcome if it settles within `ms`; otherwise a rejection with `late()`'s error (which
 * may also cancel the work). Whatever `work` does afterwards is ignored.
 */
export function settleWithin<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), Math.max(0, ms));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
