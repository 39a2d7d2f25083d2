import type { ConfigRecord } from './configs-store.js';
import type { ConnectionRecord, ConnectionRow, SealedConnection } from './connection-rows.js';

/**
 * The opened record of each sealed row the connection cache hands out, so a cached row is decrypted and parsed
 * once, not on every read. Keyed by the sealed row itself: an opened record lives exactly as long as its sealed
 * row, in the cache while the cache keeps that row (NANGO_CONNECTION_CACHE_SIZE bounds both), and only until the
 * request is done otherwise. A change evicts the row, and its plaintext with it (docs/security.md, "Decrypted
 * credentials in memory"): this holds no credential the cache does not already hold sealed.
 */
export class OpenedConnections {
  private readonly records = new WeakMap<SealedConnection, ConnectionRecord>();
  private readonly configs = new WeakMap<ConfigRecord, ConfigRecord>();

  /**
   * A record of its own for each read; its credentials (frozen, so no reader can change what the next one is
   * given) and nested objects are shared with the other reads of the same row.
   */
  of(sealed: SealedConnection, open: (row: ConnectionRow) => ConnectionRecord): ConnectionRecord {
    let record = this.records.get(sealed);
    if (!record) {
      record = open(sealed.connection);
      deepFreeze(record.credentials);
      this.records.set(sealed, record);
    }
    return { ...record };
  }

  /**
   * The opened integration of a sealed config row: made once per row, frozen, and shared by every read of it. Its
   * client secret is still decrypted only when first read (openConfig in src/store/configs-store.ts).
   */
  configOf(sealed: ConfigRecord, open: (row: ConfigRecord) => ConfigRecord): ConfigRecord {
    let config = this.configs.get(sealed);
    if (!config) {
      config = Object.freeze(open(sealed));
      this.configs.set(sealed, config);
    }
    return config;
  }
}

/** Freezes an object and every object within it. */
function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
}
