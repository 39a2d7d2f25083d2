import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import type { Cipher } from '../crypto/aes-gcm.js';
import type { ConnectionCache } from './connection-cache.js';
import { isSealedText, openText, sealText } from './sealing.js';

/** A row of `_nango_configs` with the client secret in clear; the wire shape of the seed API. */
export interface ConfigRecord {
  id: number;
  created_at: Date;
  updated_at: Date;
  unique_key: string;
  provider: string;
  oauth_client_id: string | null;
  oauth_client_secret: string | null;
  oauth_scopes: string | null;
  account_id: number;
  oauth_client_secret_iv: string | null;
  oauth_client_secret_tag: string | null;
  display_name: string | null;
  forward_webhooks: boolean;
  /** The only host (`host` or `host:port`) this integration's connections may use; null: any host the guard allows. */
  pinned_host: string | null;
  /** A GitHub App's public link or slug (Nango's `app_link`): where end users install it. Null for other modes. */
  app_link: string | null;
}

export interface ConfigFields {
  provider: string;
  oauth_client_id: string | null;
  oauth_client_secret: string | null;
  oauth_scopes: string | null;
  /** Modern API fields; left unchanged on update when absent. */
  display_name?: string | null;
  forward_webhooks?: boolean;
  pinned_host?: string | null;
  app_link?: string | null;
}

const TABLE = `${SCHEMA}._nango_configs`;
const CONNECTIONS = `${SCHEMA}._nango_connections`;
const ACCOUNT_ID = 0;

export class ConfigsStore {
  constructor(
    private readonly knex: Knex,
    private readonly cipher: Cipher | undefined,
    /** Cached connection rows carry their integration: any change to one forgets them all (changes are rare). */
    private readonly connectionCache?: Pick<ConnectionCache<unknown>, 'clear'>,
  ) {}

  async list(): Promise<ConfigRecord[]> {
    const rows = await this.knex<ConfigRecord>(TABLE).where({ account_id: ACCOUNT_ID }).orderBy('id', 'asc');
    return rows.map((row) => this.open(row));
  }

  async count(): Promise<number> {
    const [row] = await this.knex(TABLE).where({ account_id: ACCOUNT_ID }).count<{ n: string }[]>({ n: '*' });
    return Number(row?.n ?? 0);
  }

  async find(uniqueKey: string, trx?: Knex.Transaction): Promise<ConfigRecord | undefined> {
    const row = await (trx ?? this.knex)<ConfigRecord>(TABLE).where({ unique_key: uniqueKey, account_id: ACCOUNT_ID }).first();
    return row ? this.open(row) : undefined;
  }

  /** Returns the new id, or undefined when the key is taken (checked by the unique index, so two racing creates cannot both win). */
  async insert(uniqueKey: string, fields: ConfigFields): Promise<number | undefined> {
    const rows = await this.knex(TABLE)
      .insert({ unique_key: uniqueKey, account_id: ACCOUNT_ID, ...this.seal(fields) })
      .onConflict(['unique_key', 'account_id'])
      .ignore()
      .returning<{ id: number }[]>('id');
    return rows[0]?.id;
  }

  /** Returns false when no config has that key. `newUniqueKey` renames it (its connections follow). */
  async update(uniqueKey: string, fields: ConfigFields, newUniqueKey?: string): Promise<boolean> {
    return this.forgettingConnections(async (trx) => {
      const count = await trx(TABLE)
        .where({ unique_key: uniqueKey, account_id: ACCOUNT_ID })
        .update({ ...this.seal(fields), ...(newUniqueKey ? { unique_key: newUniqueKey } : {}), updated_at: trx.fn.now() });
      if (count > 0 && newUniqueKey && newUniqueKey !== uniqueKey) {
        await trx(CONNECTIONS).where({ provider_config_key: uniqueKey, account_id: ACCOUNT_ID }).update({ provider_config_key: newUniqueKey });
      }
      return count > 0;
    });
  }

  /** Deletes the config and every connection made through it, in one transaction. */
  async deleteWithConnections(uniqueKey: string): Promise<boolean> {
    return this.forgettingConnections(async (trx) => {
      await trx(CONNECTIONS).where({ provider_config_key: uniqueKey, account_id: ACCOUNT_ID }).delete();
      return (await trx(TABLE).where({ unique_key: uniqueKey, account_id: ACCOUNT_ID }).delete()) > 0;
    });
  }

  /** A transaction after which (committed or not) this process forgets the connections it keeps. */
  private async forgettingConnections<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    try {
      return await this.knex.transaction(work);
    } finally {
      this.connectionCache?.clear();
    }
  }

  private seal(fields: ConfigFields): Partial<ConfigRecord> {
    const secret = sealText(this.cipher, fields.oauth_client_secret);
    return {
      provider: fields.provider,
      ...(fields.display_name !== undefined ? { display_name: fields.display_name } : {}),
      ...(fields.forward_webhooks !== undefined ? { forward_webhooks: fields.forward_webhooks } : {}),
      ...(fields.pinned_host !== undefined ? { pinned_host: fields.pinned_host } : {}),
      ...(fields.app_link !== undefined ? { app_link: fields.app_link } : {}),
      oauth_client_id: fields.oauth_client_id,
      oauth_scopes: fields.oauth_scopes,
      oauth_client_secret: secret.value,
      oauth_client_secret_iv: secret.iv,
      oauth_client_secret_tag: secret.tag,
    };
  }

  private open(row: ConfigRecord): ConfigRecord {
    return openConfig(this.cipher, row);
  }
}

/** The columns of a config as `ConfigRecord` names them, for a query that reads one beside something else. */
export const CONFIG_COLUMNS = [
  'id', 'created_at', 'updated_at', 'unique_key', 'provider', 'oauth_client_id', 'oauth_client_secret', 'oauth_scopes',
  'account_id', 'oauth_client_secret_iv', 'oauth_client_secret_tag', 'display_name', 'forward_webhooks',
  'pinned_host', 'app_link',
] as const satisfies readonly (keyof ConfigRecord)[];

/** A stored config row with its client secret in clear. */
export function openConfig(cipher: Cipher | undefined, row: ConfigRecord): ConfigRecord {
  const sealed = { value: row.oauth_client_secret, iv: row.oauth_client_secret_iv, tag: row.oauth_client_secret_tag };
  const config = { ...row };
  if (!isSealedText(sealed)) return config;
  // Decrypted when first read: every credential read and proxy call carries its integration, and only a
  // refresh, an OAuth flow or an OAuth 1.0a signature needs the secret.
  let opened: string | null | undefined;
  Object.defineProperty(config, 'oauth_client_secret', {
    enumerable: true,
    configurable: true,
    get: () => (opened ??= openText(cipher, sealed)),
    set: (value: string | null) => (opened = value),
  });
  return config;
}
