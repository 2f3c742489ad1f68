/** Timers as the transports use them, injected so tests drive time themselves. */

/** Runs `fn` once after `ms`; returns a function that cancels it. */
export type Schedule = (ms: number, fn: () => void) => () => void;

export const realSchedule: Schedule = (ms, fn) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};
