import type { Cipher } from '../crypto/aes-gcm.js';
import { parseStoredCredentials } from '../credentials/registry.js';
import type { ConfigRecord } from './configs-store.js';
import type { ConnectionRecord, ConnectionRow, SealedConnection } from './connection-rows.js';
import { openCredentials } from './sealing.js';

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

/**
 * A stored connection row with its credentials opened and checked against their mode's schema. Built field by
 * field: a rest-and-spread copy of the row was a visible share of a read that looks its connection up.
 */
export function openConnectionRow(cipher: Cipher | undefined, row: ConnectionRow): ConnectionRecord {
  const opened = openCredentials(cipher, row.credentials, row.credentials_iv, row.credentials_tag);
  return {
    id: row.id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    provider_config_key: row.provider_config_key,
    connection_id: row.connection_id,
    credentials: parseStoredCredentials(opened, { providerConfigKey: row.provider_config_key, connectionId: row.connection_id }),
    connection_config: row.connection_config ?? {},
    account_id: row.account_id,
    metadata: row.metadata ?? {},
    credentials_iv: row.credentials_iv,
    credentials_tag: row.credentials_tag,
    last_refresh_success: row.last_refresh_success,
    last_refresh_failure: row.last_refresh_failure,
    last_refresh_error: row.last_refresh_error,
    refresh_attempts: row.refresh_attempts,
    refresh_due_at: row.refresh_due_at,
    refresh_failing_since: row.refresh_failing_since,
    refresh_given_up_at: row.refresh_given_up_at,
    end_user: row.end_user,
    tags: row.tags ?? {},
    webhook_url_override: row.webhook_url_override,
  };
}
