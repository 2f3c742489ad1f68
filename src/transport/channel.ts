/**
 * The small interface every transport implements (virtio-serial, isa-serial, unix-listen,
 * vsock-listen). A channel delivers the bytes of its current host connection and writes replies
 * to it; it says when a new host connection starts so the session can drop stale state.
 */
export interface ChannelEvents {
  /**
   * A new host connection begins and the session starts clean (unix/vsock: a client was
   * accepted; isa-serial: once, at open). virtio-serial never calls it: see virtio-serial.ts.
   */
  onConnect(): void;
  /**
   * Bytes from the host. The chunk is valid only during the call (virtio-serial hands out a view
   * of its read buffer, saving a copy per request): copy it to keep it.
   */
  onData(chunk: Buffer): void;
  /**
   * The host will send nothing more but may still read (a half-closed socket): call `done` once
   * everything received has been answered, so no reply is lost.
   */
  onInputEnd(done: () => void): void;
  /** the host connection ended; the channel keeps serving (waits for the next one) */
  onDisconnect(reason: string): void;
  /**
   * The channel itself broke (a read or write error on the device, a serial port that went
   * away) and serves nothing more until it is closed and opened again: the agent stops, or with
   * -r re-opens it after 5 s. Never called for a host that merely left.
   */
  onFailure?(error: Error): void;
}

export interface Channel {
  /** for logs: method and path */
  readonly description: string;
  /** Open the channel; rejects with a clear message when it cannot be opened. */
  open(events: ChannelEvents): Promise<void>;
  /**
   * Write to the current host connection; dropped when there is none. `reply` holds bytes as a
   * latin1 string, one char per byte (replies are ASCII plus the 0xFF delimiter): a small reply
   * goes to write(2) without a Buffer ever being made for it.
   */
  write(reply: string): void;
  pauseInput(): void;
  resumeInput(): void;
  close(): Promise<void>;
}
