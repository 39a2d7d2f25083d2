import type { NotificationListener } from '../db/notification-listener.js';

/** The channel the database's triggers (migration 20260108) announce connection and integration changes on. */
export const CONNECTION_CHANGES_CHANNEL = 'custody_connection_changes';
/** The payload that means "anything may have changed" (a truncate, an integration edit). */
const EVERYTHING = '*';

/** An entry older than this is read again even if no change was announced: a bound on any missed notification. */
const ENTRY_LIFETIME_MS = 60_000;

/** Where the cache key of a connection comes from; the same pair the triggers announce. */
export function connectionCacheKey(providerConfigKey: string, connectionId: string): string {
  return JSON.stringify([providerConfigKey, connectionId]);
}

/**
 * Connection rows as the database holds them (credentials still sealed; the store opens a kept row once, beside
 * it: src/store/opened-connections.ts), kept in process so a credential read or a proxy call needs no round trip
 * to find its connection.
 *
 * It is only trusted while this process hears every change: the tables' triggers NOTIFY each written
 * connection (and `*` for integration edits and truncates), and this process's own writes evict their rows at
 * once, so a process reads its own writes. Another process's change is seen once its notification arrives
 * (milliseconds). While the listener is down the cache is emptied and bypassed.
 *
 * Kept rows are shared by every read that finds them: the store builds a new record from one on every read, and
 * nothing changes the nested objects (metadata, connection config) it hands out.
 *
 * A read that started before a change and ends after its notification must not put the old row back: every
 * eviction advances an epoch, and a row is kept only if no eviction happened while it was being read.
 */
export class ConnectionCache<Row> {
  private readonly entries = new Map<string, { row: Row; storedAt: number }>();
  private epoch = 0;
  private trusted = false;

  constructor(
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Follows the change notifications; without them (no listener, or capacity 0) nothing is ever kept. */
  follow(notifications: Pick<NotificationListener, 'on' | 'onListening'>): void {
    if (this.capacity === 0) return;
    notifications.on(CONNECTION_CHANGES_CHANNEL, (payload) => this.changed(payload));
    notifications.onListening((listening) => {
      this.clear();
      this.trusted = listening;
    });
  }

  /** The cached row, if one is kept and trusted; never loads. */
  peek(key: string): Row | undefined {
    if (!this.trusted) return undefined;
    const entry = this.entries.get(key);
    return entry && this.now() - entry.storedAt < ENTRY_LIFETIME_MS ? entry.row : undefined;
  }

  /** The cached row, or the loaded one (kept for the next read when nothing changed meanwhile). */
  async read(key: string, load: () => Promise<Row | undefined>, keep: (row: Row) => boolean): Promise<Row | undefined> {
    if (this.trusted) {
      const entry = this.entries.get(key);
      if (entry && this.now() - entry.storedAt < ENTRY_LIFETIME_MS) return entry.row;
      if (entry) this.entries.delete(key);
    }
    const epoch = this.epoch;
    const row = await load();
    if (row !== undefined && this.trusted && epoch === this.epoch && keep(row)) this.store(key, row);
    return row;
  }

  evict(providerConfigKey: string, connectionId: string): void {
    this.epoch++;
    this.entries.delete(connectionCacheKey(providerConfigKey, connectionId));
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** A notification: `*`, or the JSON array [provider_config_key, connection_id] of one changed row. */
  private changed(payload: string): void {
    if (payload === EVERYTHING) return this.clear();
    try {
      const [providerConfigKey, connectionId] = JSON.parse(payload) as [unknown, unknown];
      if (typeof providerConfigKey === 'string' && typeof connectionId === 'string') return this.evict(providerConfigKey, connectionId);
    } catch {
      // Not ours to understand: forget everything rather than keep a row that may have changed.
    }
    this.clear();
  }

  private store(key: string, row: Row): void {
    this.entries.delete(key);
    // Oldest first out: a Map iterates in insertion order.
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { row, storedAt: this.now() });
  }
}
