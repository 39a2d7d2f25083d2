import type { Knex } from 'knex';
import type { Cipher } from '../crypto/aes-gcm.js';
import { openCredentials, sealCredentials } from './sealing.js';

/** A row of `_nango_connections` with its credentials decrypted; the wire shape of the seed API. */
export interface ConnectionRecord {
  id: number;
  created_at: Date;
  updated_at: Date;
  provider_config_key: string;
  connection_id: string;
  credentials: Record<string, unknown>;
  connection_config: Record<string, unknown>;
  account_id: number;
  metadata: Record<string, unknown>;
  credentials_iv: string | null;
  credentials_tag: string | null;
  last_refresh_success: Date | null;
  last_refresh_failure: Date | null;
  last_refresh_error: string | null;
  refresh_attempts: number;
}

export interface ConnectionSummary {
  id: number;
  connection_id: string;
  provider_config_key: string;
  created_at: Date;
}

export interface ConnectionWrite {
  provider_config_key: string;
  connection_id: string;
  /** Any credentials shape (OAuth2, OAuth1, …); stored as one JSON document, sealed when a key is set. */
  credentials: object;
  connection_config: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

interface ConnectionRow extends Omit<ConnectionRecord, 'credentials' | 'connection_config' | 'metadata'> {
  credentials: unknown;
  credentials_expires_at: Date | null;
  connection_config: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
}

const TABLE = '_nango_connections';
const ACCOUNT_ID = 0;

export class ConnectionsStore {
  constructor(
    private readonly knex: Knex,
    private readonly cipher: Cipher | undefined,
  ) {}

  async find(providerConfigKey: string, connectionId: string): Promise<ConnectionRecord | undefined> {
    const row = await this.knex<ConnectionRow>(TABLE)
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .first();
    return row ? this.open(row) : undefined;
  }

  /** Reads the row inside a transaction and locks it until the transaction ends (token refresh). */
  async findForUpdate(trx: Knex.Transaction, providerConfigKey: string, connectionId: string): Promise<ConnectionRecord | undefined> {
    const row = await trx<ConnectionRow>(TABLE)
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .forUpdate()
      .first();
    return row ? this.open(row) : undefined;
  }

  /** Stores refreshed credentials and clears the refresh failure record. */
  async saveRefreshedCredentials(trx: Knex.Transaction, id: number, credentials: object, now: Date): Promise<ConnectionRecord> {
    const sealed = sealCredentials(this.cipher, credentials);
    const [row] = await trx<ConnectionRow>(TABLE)
      .where({ id })
      .update({
        credentials: JSON.stringify(sealed.credentials),
        credentials_iv: sealed.iv,
        credentials_tag: sealed.tag,
        credentials_expires_at: expiresAtOf(credentials),
        last_refresh_success: now,
        last_refresh_error: null,
        refresh_attempts: 0,
        updated_at: now,
      })
      .returning('*');
    if (!row) throw new Error('The refreshed connection disappeared.');
    return this.open(row);
  }

  /** Records a failed refresh; the stored credentials stay as they were. */
  async recordRefreshFailure(trx: Knex.Transaction, id: number, message: string, now: Date): Promise<void> {
    await trx(TABLE)
      .where({ id })
      .update({ last_refresh_failure: now, last_refresh_error: message.slice(0, 2000), refresh_attempts: trx.raw('refresh_attempts + 1') });
  }

  async list(filter: { connectionId?: string }): Promise<ConnectionSummary[]> {
    const query = this.knex<ConnectionRow>(TABLE)
      .select('id', 'connection_id', 'provider_config_key', 'created_at')
      .where({ account_id: ACCOUNT_ID })
      .orderBy('id', 'asc');
    if (filter.connectionId !== undefined) query.andWhere({ connection_id: filter.connectionId });
    return query;
  }

  /** Insert or replace the connection for (key, connection id); one statement, so it is never half-written. */
  async upsert(write: ConnectionWrite): Promise<ConnectionRecord> {
    const sealed = sealCredentials(this.cipher, write.credentials);
    const [row] = await this.knex<ConnectionRow>(TABLE)
      .insert({
        provider_config_key: write.provider_config_key,
        connection_id: write.connection_id,
        account_id: ACCOUNT_ID,
        credentials: JSON.stringify(sealed.credentials),
        credentials_iv: sealed.iv,
        credentials_tag: sealed.tag,
        credentials_expires_at: expiresAtOf(write.credentials),
        connection_config: write.connection_config,
        metadata: write.metadata,
        last_refresh_failure: null,
        last_refresh_error: null,
        refresh_attempts: 0,
      })
      .onConflict(['provider_config_key', 'connection_id', 'account_id'])
      .merge([
        'credentials', 'credentials_iv', 'credentials_tag', 'credentials_expires_at', 'connection_config', 'metadata', 'updated_at',
        'last_refresh_failure', 'last_refresh_error', 'refresh_attempts',
      ])
      .returning('*');
    if (!row) throw new Error('The connection upsert returned no row.');
    return this.open(row);
  }

  async delete(providerConfigKey: string, connectionId: string): Promise<boolean> {
    const count = await this.knex(TABLE)
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .delete();
    return count > 0;
  }

  private open(row: ConnectionRow): ConnectionRecord {
    const { credentials_expires_at: _expiresAt, ...rest } = row;
    return {
      ...rest,
      credentials: openCredentials(this.cipher, row.credentials, row.credentials_iv, row.credentials_tag),
      connection_config: row.connection_config ?? {},
      metadata: row.metadata ?? {},
    };
  }
}

/** The expiry as a column too, so queries (dashboard status, scheduled refresh) need not decrypt. */
function expiresAtOf(credentials: object): Date | null {
  const value = (credentials as { expires_at?: unknown }).expires_at;
  if (typeof value !== 'string') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
