import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import { describeStoredCredentials } from '../credentials/registry.js';
import type { Cipher } from '../crypto/aes-gcm.js';
import { ConnectionsStore, type ConnectionRecord, type EndUser } from './connections-store.js';
import { openCredentials } from './sealing.js';

/**
 * Read-only queries of the operator dashboard: counts, the account row, and a connection list with what
 * the list shows about each token (expiry, refresh state) and a total for paging. Writes go through the
 * other stores (via the services), so nothing here changes a row.
 */
export type ConnectionStatus = 'healthy' | 'expiring' | 'refresh_failed';

export interface DashboardConnectionFilter {
  search?: string;
  integration?: string;
  /** A status, or every connection whose health is not `healthy` (src/keeper/connection-health.ts). */
  status?: ConnectionStatus | 'needs_attention';
  limit: number;
  offset: number;
  /** A token expiring before this instant is `expiring`. */
  expiringBefore: Date;
  /** A token that cannot be renewed and expired before this instant needs attention. */
  now: Date;
}

export interface DashboardConnectionRow {
  id: number;
  connection_id: string;
  provider_config_key: string;
  provider: string | null;
  end_user: EndUser | null;
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  credentials_type: string | null;
  has_refresh_token: boolean;
  /** Its mode can renew it without the end user (src/credentials/). */
  renewable: boolean;
  last_refresh_success: Date | null;
  last_refresh_failure: Date | null;
  last_refresh_error: string | null;
  refresh_attempts: number;
  refresh_failing_since: Date | null;
  refresh_given_up_at: Date | null;
}

export interface AccountRow {
  id: number;
  created_at: Date;
  updated_at: Date;
  public_key: string;
  callback_url: string | null;
  owner_id: number | null;
  name: string | null;
}

const CONNECTIONS = `${SCHEMA}._nango_connections`;
const ACCOUNT_ID = 0;

export class DashboardStore {
  private readonly connections: ConnectionsStore;

  constructor(
    private readonly knex: Knex,
    private readonly cipher: Cipher | undefined,
  ) {
    this.connections = new ConnectionsStore(knex, cipher);
  }

  /** The stored row as it is: no refresh (the page must open even when the provider refuses to refresh). */
  findConnection(providerConfigKey: string, connectionId: string): Promise<ConnectionRecord | undefined> {
    return this.connections.find(providerConfigKey, connectionId);
  }

  async account(): Promise<AccountRow | undefined> {
    return this.knex<AccountRow>(`${SCHEMA}._nango_accounts`).select('id', 'created_at', 'updated_at', 'public_key', 'callback_url', 'owner_id', 'name').where({ id: ACCOUNT_ID }).first();
  }

  async user(): Promise<{ id: number; account_id: number; email: string | null; name: string | null } | undefined> {
    return this.knex(`${SCHEMA}._nango_users`).select('id', 'account_id', 'email', 'name').where({ id: 0 }).first();
  }

  /** Connections per integration key. */
  async connectionCounts(): Promise<Map<string, number>> {
    const rows = (await this.knex(CONNECTIONS).select('provider_config_key').count({ n: '*' }).where({ account_id: ACCOUNT_ID }).groupBy('provider_config_key')) as {
      provider_config_key: string;
      n: string | number;
    }[];
    return new Map(rows.map((row) => [row.provider_config_key, Number(row.n)]));
  }

  /** One page of connections, newest first, and how many match in all. */
  async listConnections(filter: DashboardConnectionFilter): Promise<{ rows: DashboardConnectionRow[]; total: number }> {
    const base = this.knex(`${CONNECTIONS} as c`)
      .leftJoin(`${SCHEMA}._nango_configs as k`, function joinConfig() {
        this.on('k.unique_key', '=', 'c.provider_config_key').andOn('k.account_id', '=', 'c.account_id');
      })
      .where('c.account_id', ACCOUNT_ID);
    if (filter.integration) base.andWhere('c.provider_config_key', filter.integration);
    if (filter.search) {
      const pattern = `%${filter.search.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
      base.andWhere((inner) =>
        inner
          .whereILike('c.connection_id', pattern)
          .orWhereILike('c.provider_config_key', pattern)
          .orWhereRaw(`c.end_user->>'id' ILIKE ?`, [pattern])
          .orWhereRaw(`c.end_user->>'email' ILIKE ?`, [pattern])
          .orWhereRaw(`c.end_user->>'display_name' ILIKE ?`, [pattern]),
      );
    }
    const failed = 'c.refresh_attempts > 0 AND c.last_refresh_failure IS NOT NULL';
    if (filter.status === 'refresh_failed') base.andWhereRaw(failed);
    if (filter.status === 'expiring') base.andWhereRaw(`NOT (${failed}) AND c.credentials_expires_at IS NOT NULL AND c.credentials_expires_at < ?`, [filter.expiringBefore]);
    // Off the keeper's schedule and not given up: its credentials cannot be renewed.
    if (filter.status === 'needs_attention') base.andWhereRaw('(c.refresh_failing_since IS NOT NULL OR c.refresh_given_up_at IS NOT NULL OR (c.refresh_due_at IS NULL AND c.credentials_expires_at <= ?))', [filter.now]);
    if (filter.status === 'healthy') base.andWhereRaw(`NOT (${failed}) AND (c.credentials_expires_at IS NULL OR c.credentials_expires_at >= ?)`, [filter.expiringBefore]);

    const [count] = (await base.clone().count({ n: '*' })) as { n: string | number }[];
    const rows = (await base
      .clone()
      .select(
        'c.id', 'c.connection_id', 'c.provider_config_key', 'k.provider', 'c.end_user', 'c.created_at', 'c.updated_at',
        'c.credentials', 'c.credentials_iv', 'c.credentials_tag', 'c.credentials_expires_at',
        'c.last_refresh_success', 'c.last_refresh_failure', 'c.last_refresh_error', 'c.refresh_attempts',
        'c.refresh_failing_since', 'c.refresh_given_up_at',
      )
      .orderBy('c.created_at', 'desc')
      .orderBy('c.id', 'desc')
      .limit(filter.limit)
      .offset(filter.offset)) as (Omit<DashboardConnectionRow, 'expires_at' | 'credentials_type' | 'has_refresh_token' | 'renewable'> & {
      credentials: unknown;
      credentials_iv: string | null;
      credentials_tag: string | null;
      credentials_expires_at: Date | null;
    })[];
    return {
      total: Number(count?.n ?? 0),
      rows: rows.map(({ credentials, credentials_iv, credentials_tag, credentials_expires_at, ...row }) => {
        const described = describeStoredCredentials(this.openQuietly(credentials, credentials_iv, credentials_tag));
        return { ...row, expires_at: credentials_expires_at, credentials_type: described.type, has_refresh_token: described.hasRefreshToken, renewable: described.renewable };
      }),
    };
  }

  /** A row the key cannot open (it should not happen: the start-up check refuses such a database) is listed without its token facts. */
  private openQuietly(credentials: unknown, iv: string | null, tag: string | null): Record<string, unknown> | undefined {
    try {
      return openCredentials(this.cipher, credentials, iv, tag);
    } catch {
      return undefined;
    }
  }
}
