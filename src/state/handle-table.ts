/**
 * The agent's open guest-file handles (reference §4.1). One table per agent process, made by the
 * composition root and shared by every channel: a handle opened through one port can be read
 * through another, and handles outlive host connections, as in qemu-ga.
 *
 * Numbers come from the persistent counter, so they are never reused. The table only maps numbers
 * to open resources; what a resource does (the stdio emulation of commands/stdio-file.ts) is not
 * its business.
 */
import { Errors } from '../protocol/errors';

export interface HandleResource {
  /** Flush what is buffered and release the descriptor; rejects with the reply error. */
  close(): Promise<void>;
}

/** Where handle numbers come from: PersistentState in the agent, a plain counter in tests. */
export interface HandleNumberSource {
  /** Rejects when the number could not be committed; it must then not be used. */
  allocateFileHandle(): Promise<bigint>;
}

export interface CloseFailure {
  handle: bigint;
  error: unknown;
}

export class HandleTable<T extends HandleResource> {
  private readonly open = new Map<bigint, T>();

  constructor(private readonly numbers: HandleNumberSource) {}

  /**
   * Registers an open resource under a fresh number. When no number can be committed this rejects
   * and the resource stays the caller's to close.
   */
  async add(resource: T): Promise<bigint> {
    const handle = await this.numbers.allocateFileHandle();
    this.open.set(handle, resource);
    return handle;
  }

  /** The resource behind a handle, or qemu-ga's "has not been found" error. */
  get(handle: bigint): T {
    const resource = this.open.get(handle);
    if (resource === undefined) throw Errors.fileHandleNotFound(handle);
    return resource;
  }

  /** Like get, but the handle is gone from the table afterwards; the caller closes the resource. */
  take(handle: bigint): T {
    const resource = this.get(handle);
    this.open.delete(handle);
    return resource;
  }

  get size(): number {
    return this.open.size;
  }

  handles(): bigint[] {
    return [...this.open.keys()];
  }

  /**
   * Closes every handle (agent shutdown: buffered data is written, as exit() flushes every stdio
   * stream in qemu-ga). Never rejects; the failures are returned for the log. Must not run while
   * filesystems are frozen: a flush would block.
   */
  async closeAll(): Promise<CloseFailure[]> {
    const entries = [...this.open.entries()];
    this.open.clear();
    const failures: CloseFailure[] = [];
    await Promise.all(
      entries.map(async ([handle, resource]) => {
        try {
          await resource.close();
        } catch (error) {
          failures.push({ handle, error });
        }
      }),
    );
    return failures;
  }
}
