import net from 'node:net';

export interface AuthFailureLimit {
  /** Failed authentications a client address may make per window before it is locked out; 0 turns the limit off. */
  failures: number;
  windowSeconds: number;
}

/** Addresses remembered at most: a spray from many addresses cannot grow the table without bound. */
const MAX_TRACKED_CLIENTS = 10_000;
/** Password checks waiting for their turn, over all addresses: a flood from many locked-out addresses cannot hold sockets without bound. */
const MAX_WAITING_CHECKS = 1_000;

interface Window {
  startedAt: number;
  failures: number;
  /** When the next paced check of this locked-out address may run. */
  nextCheckAt: number;
  /** Paced checks of this address now waiting for their turn. */
  waiting: number;
}

/**
 * Failed authentications counted per client address in fixed windows, and the pace at which a locked-out
 * address may have a guessable credential (a dashboard password) checked. Memory only, per process: with
 * several replicas an address gets the allowance on each.
 */
export class AuthFailureCounter {
  private readonly windows = new Map<string, Window>();
  private waitingChecks = 0;
  /** A locked-out address gets one paced check per this many ms: the limit's own average rate. */
  readonly paceMs: number;

  constructor(
    private readonly limit: AuthFailureLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.paceMs = Math.max(1, Math.floor((limit.windowSeconds * 1000) / Math.max(1, limit.failures)));
  }

  /** Seconds until the client's lockout ends, or 0 when it is not locked out. */
  retryAfterSeconds(client: string): number {
    const window = this.current(client);
    if (!window || window.failures < this.limit.failures) return 0;
    return Math.max(1, Math.ceil((window.startedAt + this.limit.windowSeconds * 1000 - this.now()) / 1000));
  }

  recordFailure(client: string): void {
    const window = this.current(client);
    if (window) {
      window.failures += 1;
      // The lockout starts now: the first paced check waits one step, like every later one.
      if (window.failures === this.limit.failures) window.nextCheckAt = this.now() + this.paceMs;
      return;
    }
    if (this.windows.size >= MAX_TRACKED_CLIENTS) this.forgetExpired();
    // Still full of live windows: drop the oldest entry (Map keeps insertion order) rather than grow.
    if (this.windows.size >= MAX_TRACKED_CLIENTS) this.windows.delete(this.windows.keys().next().value as string);
    const now = this.now();
    this.windows.set(client, { startedAt: now, failures: 1, nextCheckAt: now + this.paceMs, waiting: 0 });
  }

  /**
   * Books the next paced check of a locked-out client: the ms to wait before checking, and a release to call
   * once the check has run. Undefined when the client is not locked out (check at once), or `'full'` when
   * this address (or all of them together) already has as many checks waiting as the limit allows.
   */
  bookPacedCheck(client: string): { waitMs: number; release: () => void } | 'full' | undefined {
    if (this.retryAfterSeconds(client) === 0) return undefined;
    const window = this.current(client) as Window;
    if (window.waiting >= this.limit.failures || this.waitingChecks >= MAX_WAITING_CHECKS) return 'full';
    const now = this.now();
    const at = Math.max(now, window.nextCheckAt);
    window.nextCheckAt = at + this.paceMs;
    window.waiting += 1;
    this.waitingChecks += 1;
    let released = false;
    return {
      waitMs: at - now,
      release: () => {
        if (released) return;
        released = true;
        window.waiting -= 1;
        this.waitingChecks -= 1;
      },
    };
  }

  private current(client: string): Window | undefined {
    const window = this.windows.get(client);
    if (window && this.now() - window.startedAt >= this.limit.windowSeconds * 1000) {
      this.windows.delete(client);
      return undefined;
    }
    return window;
  }

  private forgetExpired(): void {
    for (const client of [...this.windows.keys()]) this.current(client);
  }
}

/**
 * The key failures are counted under: the IPv4 address, or the /64 prefix of an IPv6 address. One IPv6
 * subscriber holds a whole /64 (2^64 addresses), so counting single IPv6 addresses would let one attacker
 * start a fresh count with every request.
 */
export function clientKey(address: string): string {
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  if (mapped) return mapped[1] as string;
  if (!net.isIPv6(plain)) return plain;
  const [head = '', tail] = plain.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
