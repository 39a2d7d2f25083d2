/** Why the proxy aborted an upstream exchange. */
export class UpstreamAbort extends Error {
  override name = 'UpstreamAbort';
  constructor(readonly reason: 'deadline' | 'idle' | 'client_gone') {
    super(`upstream exchange aborted: ${reason}`);
  }
}

/**
 * The abort of one proxied exchange: the deadline, an idle upstream body or the client going away ends it, and
 * whatever is under way at that moment (a request being sent, a retry's wait) is torn down. An AbortController
 * would do, but it is an EventTarget with a signal of its own; every proxied call made one, and it was a visible
 * share of the proxy's work per request.
 */
export class ExchangeAbort {
  private abortReason: UpstreamAbort | undefined;
  private listeners: ((reason: UpstreamAbort) => void)[] = [];

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  get reason(): UpstreamAbort | undefined {
    return this.abortReason;
  }

  /** The first reason wins; later ones change nothing. */
  abort(reason: UpstreamAbort): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener(reason);
  }

  /** Calls `listener` on abort (at once if already aborted); returns how to stop listening. */
  onAbort(listener: (reason: UpstreamAbort) => void): () => void {
    if (this.abortReason) {
      listener(this.abortReason);
      return () => undefined;
    }
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index !== -1) this.listeners.splice(index, 1);
    };
  }
}
