/**
 * The one mutable state of an agent process, made in main.ts and passed down. Every channel
 * shares it, so a freeze through one port is known to every other.
 */
export type FrozenListener = (frozen: boolean) => void;

export class AgentState {
  private frozenFlag: boolean;
  private readonly frozenListeners = new Set<FrozenListener>();

  constructor(opts: { frozen: boolean }) {
    this.frozenFlag = opts.frozen;
  }

  get frozen(): boolean {
    return this.frozenFlag;
  }

  setFrozen(frozen: boolean): void {
    if (frozen === this.frozenFlag) return;
    this.frozenFlag = frozen;
    for (const l of this.frozenListeners) l(frozen);
  }

  onFrozenChange(listener: FrozenListener): () => void {
    this.frozenListeners.add(listener);
    return () => this.frozenListeners.delete(listener);
  }
}
