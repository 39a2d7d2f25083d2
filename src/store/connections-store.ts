import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import type { Cipher } from '../crypto/aes-gcm.js';
import { modeOf, type StoredCredentials } from '../credentials/registry.js';
import { runPrepared } from '../db/prepared-statement.js';
import { openConfig, type ConfigRecord } from './configs-store.js';
import { connectionCacheKey, type ConnectionCache } from './connection-cache.js';
import {
  ACCOUNT_ID, AFTER_POSITION, LIST_COLUMNS, LIST_NEWEST, TABLE,
  type ConnectionListFilter, type ConnectionListPage, type ConnectionRecord, type ConnectionRow, type ConnectionSummary, type ConnectionWrite,
  type ConnectionListItem, type EndUser, type ListRow, type RefreshPlanner, type SealedConnection,
} from './connection-rows.js';
import { ConnectionLookups } from './connection-lookups.js';
import { openConnectionRow, OpenedConnections } from './opened-connections.js';
import { sealCredentials } from './sealing.js';

export type { ConnectionListFilter, ConnectionListItem, ConnectionListPage, ListPosition, ConnectionRecord, ConnectionSummary, ConnectionWrite, EndUser, RefreshPlanner, SealedConnection } from './connection-rows.js';

/** An upserted connection, and whether the row is new (false: an existing connection was re-authorised). */
export interface UpsertedConnection {
  connection: ConnectionRecord;
  created: boolean;
}

export class ConnectionsStore {
  /** Cached rows, each decrypted and parsed once (src/store/opened-connections.ts). */
  private readonly opened = new OpenedConnections();
  private readonly lookups: ConnectionLookups;

  constructor(
    private readonly knex: Knex,
    private readonly cipher: Cipher | undefined,
    /** Rows read by findWithIntegration, kept between requests; this store evicts what it writes. */
    private readonly cache?: ConnectionCache<SealedConnection>,
    /** Schedules written connections for the token keeper; without one (read-only uses), written rows are left off the schedule. */
    private readonly planner?: RefreshPlanner,
  ) {
    this.lookups = new ConnectionLookups(knex);
  }

  async count(): Promise<number> {
    const [row] = await this.knex(TABLE).where({ account_id: ACCOUNT_ID }).count<{ n: string }[]>({ n: '*' });
    return Number(row?.n ?? 0);
  }

  async find(providerConfigKey: string, connectionId: string, trx?: Knex.Transaction): Promise<ConnectionRecord | undefined> {
    const row = await (trx ?? this.knex)<ConnectionRow>(TABLE)
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .first();
    return row ? openConnectionRow(this.cipher, row) : undefined;
  }

  /** The connection and its integration: one prepared statement, shared by the reads of the moment (src/store/connection-lookups.ts). */
  async findWithIntegration(providerConfigKey: string, connectionId: string): Promise<{ connection: ConnectionRecord; config: ConfigRecord | undefined } | undefined> {
    const load = (): Promise<SealedConnection | undefined> => this.lookups.find(providerConfigKey, connectionId);
    const found = this.cache
      ? // A connection whose integration is missing is not kept: creating the integration announces nothing.
        await this.cache.read(connectionCacheKey(providerConfigKey, connectionId), load, (sealed) => sealed.config !== undefined)
      : await load();
    return found && this.openedOf(found);
  }

  /** The same, only if the connection cache keeps it: no promise, no turn of the event loop (the busy path). */
  findCachedWithIntegration(providerConfigKey: string, connectionId: string): { connection: ConnectionRecord; config: ConfigRecord | undefined } | undefined {
    const found = this.cache?.peek(connectionCacheKey(providerConfigKey, connectionId));
    return found && this.openedOf(found);
  }

  private openedOf(found: SealedConnection): { connection: ConnectionRecord; config: ConfigRecord | undefined } {
    return {
      connection: this.opened.of(found, (row) => openConnectionRow(this.cipher, row)),
      config: found.config && this.opened.configOf(found.config, (row) => openConfig(this.cipher, row)),
    };
  }

  /** Reads the row inside a transaction and locks it until the transaction ends (token refresh). */
  async findForUpdate(trx: Knex.Transaction, providerConfigKey: string, connectionId: string): Promise<ConnectionRecord | undefined> {
    const row = await trx<ConnectionRow>(TABLE)
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .forUpdate()
      .first();
    return row ? openConnectionRow(this.cipher, row) : undefined;
  }

  /** Stores refreshed credentials and clears the refresh failure record. */
  async saveRefreshedCredentials(trx: Knex.Transaction, id: number, credentials: StoredCredentials, now: Date): Promise<ConnectionRecord> {
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
        refresh_due_at: this.dueAfterRenewal(credentials, now),
        refresh_failing_since: null,
        refresh_given_up_at: null,
        updated_at: now,
      })
      .returning('*');
    if (!row) throw new Error('The refreshed connection disappeared.');
    this.forgetWhenCommitted(trx, row.provider_config_key, row.connection_id);
    return openConnectionRow(this.cipher, row);
  }

  /**
   * Records a failed refresh and when to retry it (or that the keeper gives up); the stored credentials stay as
   * they were. `restart`: a refresh asked for by hand starts the retry schedule over.
   */
  async recordRefreshFailure(trx: Knex.Transaction, current: ConnectionRecord, message: string, now: Date, restart: boolean): Promise<ConnectionRecord> {
    const plan = this.planner?.afterFailure(current, now, restart) ?? {
      refresh_due_at: null,
      refresh_failing_since: current.refresh_failing_since ?? now,
      refresh_given_up_at: null,
      refresh_attempts: current.refresh_attempts + 1,
    };
    await trx(TABLE)
      .where({ id: current.id })
      .update({ last_refresh_failure: now, last_refresh_error: message.slice(0, 2000), ...plan });
    this.forgetWhenCommitted(trx, current.provider_config_key, current.connection_id);
    return { ...current, last_refresh_failure: now, last_refresh_error: message.slice(0, 2000), ...plan };
  }

  /** Takes a connection off the keeper's schedule: its credentials cannot be renewed (or its integration is gone). */
  async unschedule(trx: Knex.Transaction, current: ConnectionRecord): Promise<void> {
    await trx(TABLE).where({ id: current.id }).update({ refresh_due_at: null });
    this.forgetWhenCommitted(trx, current.provider_config_key, current.connection_id);
  }

  async list(filter: { connectionId?: string }): Promise<ConnectionSummary[]> {
    const query = this.knex<ConnectionRow>(TABLE).select(...SUMMARY_COLUMNS).where({ account_id: ACCOUNT_ID }).orderBy('id', 'asc');
    if (filter.connectionId !== undefined) query.andWhere({ connection_id: filter.connectionId });
    return (await query).map(asSummary);
  }

  /**
   * Every connection, oldest id first, `batchSize` rows per statement (keyset on id): a list of any length without
   * one statement or one array holding it all. Each batch is read when the previous one has been consumed.
   */
  async *listInBatches(batchSize: number): AsyncGenerator<ConnectionSummary[]> {
    let afterId = 0;
    for (;;) {
      const batch = (
        await this.knex<ConnectionRow>(TABLE).select(...SUMMARY_COLUMNS).where({ account_id: ACCOUNT_ID }).andWhere('id', '>', afterId).orderBy('id', 'asc').limit(batchSize)
      ).map(asSummary);
      if (batch.length > 0) yield batch;
      const last = batch.at(-1);
      if (batch.length < batchSize || !last) return;
      afterId = Number(last.id);
    }
  }

  /**
   * Insert or replace the connection for (key, connection id); one statement, so it is never half-written. Inside
   * the caller's transaction when given one (the connection, its audit entry and its signal go together).
   */
  async upsert(write: ConnectionWrite, trx?: Knex.Transaction): Promise<UpsertedConnection> {
    const db = trx ?? this.knex;
    const sealed = sealCredentials(this.cipher, write.credentials);
    const [row] = (await db<ConnectionRow>(TABLE)
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
        refresh_due_at: this.dueAfterRenewal(write.credentials),
        refresh_failing_since: null,
        refresh_given_up_at: null,
        ...(write.end_user !== undefined ? { end_user: write.end_user === null ? null : (JSON.stringify(write.end_user) as unknown as EndUser) } : {}),
        ...(write.tags !== undefined ? { tags: JSON.stringify(write.tags) as unknown as Record<string, string> } : {}),
        ...(write.webhook_url_override !== undefined ? { webhook_url_override: write.webhook_url_override } : {}),
      })
      .onConflict(['provider_config_key', 'connection_id', 'account_id'])
      .merge([
        'credentials', 'credentials_iv', 'credentials_tag', 'credentials_expires_at', 'connection_config', 'metadata', 'updated_at',
        'last_refresh_failure', 'last_refresh_error', 'refresh_attempts', 'refresh_due_at', 'refresh_failing_since', 'refresh_given_up_at',
        ...(write.end_user !== undefined ? ['end_user' as const] : []),
        ...(write.tags !== undefined ? ['tags' as const] : []),
        ...(write.webhook_url_override !== undefined ? ['webhook_url_override' as const] : []),
      ])
      // xmax is 0 on a row this statement inserted, and set on one it updated.
      .returning(['*', db.raw('(xmax = 0) AS custody_inserted')])) as (ConnectionRow & { custody_inserted: boolean })[];
    if (!row) throw new Error('The connection upsert returned no row.');
    this.forget(write.provider_config_key, write.connection_id, trx);
    const { custody_inserted: created, ...stored } = row;
    return { connection: openConnectionRow(this.cipher, stored), created };
  }

  /**
   * The modern list: filters, search, one page, newest first, with the integration's provider. A page is found by
   * offset or, after a position (keyset), by an index seek that costs the same on any page; one row more than the
   * page is read to know whether another follows.
   */
  async listDetailed(filter: ConnectionListFilter): Promise<ConnectionListPage> {
    const unfiltered = filter.connectionId === undefined && !filter.integrationIds?.length && filter.endUserId === undefined &&
      filter.endUserOrganizationId === undefined && Object.keys(filter.tags ?? {}).length === 0 && !filter.search && filter.after === undefined;
    const pageAndOne = { ...filter, limit: filter.limit + 1 };
    const rows = unfiltered ? await runPrepared<ListRow>(this.knex, LIST_NEWEST, [ACCOUNT_ID, pageAndOne.limit, filter.offset]) : await this.listFiltered(pageAndOne);
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      items: page.map(listItemOf),
      next: rows.length > filter.limit && last ? { createdMicros: last.custody_created_micros, id: Number(last.id) } : null,
    };
  }

  private async listFiltered(filter: ConnectionListFilter): Promise<ListRow[]> {
    const query = this.knex(`${TABLE} as c`)
      .leftJoin(`${SCHEMA}._nango_configs as k`, function joinConfig() {
        this.on('k.unique_key', '=', 'c.provider_config_key').andOn('k.account_id', '=', 'c.account_id');
      })
      .select(...LIST_COLUMNS.map((column) => (column.includes('(') ? this.knex.raw(column) : column)))
      .where('c.account_id', ACCOUNT_ID)
      .orderBy('c.created_at', 'desc')
      .orderBy('c.id', 'desc')
      .limit(filter.limit)
      .offset(filter.offset);
    if (filter.after) query.andWhereRaw(AFTER_POSITION, [filter.after.createdMicros, filter.after.id]);
    if (filter.connectionId !== undefined) query.andWhere('c.connection_id', filter.connectionId);
    if (filter.integrationIds?.length) query.whereIn('c.provider_config_key', filter.integrationIds);
    if (filter.endUserId !== undefined) query.andWhereRaw(`c.end_user->>'id' = ?`, [filter.endUserId]);
    if (filter.endUserOrganizationId !== undefined) query.andWhereRaw(`c.end_user->'organization'->>'id' = ?`, [filter.endUserOrganizationId]);
    for (const [key, value] of Object.entries(filter.tags ?? {})) query.andWhereRaw(`c.tags->>? = ?`, [key, value]);
    if (filter.search) {
      const pattern = `%${filter.search.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
      query.andWhere((inner) =>
        inner
          .whereILike('c.connection_id', pattern)
          .orWhereRaw(`c.end_user->>'display_name' ILIKE ?`, [pattern])
          .orWhereRaw(`c.end_user->>'email' ILIKE ?`, [pattern])
          .orWhereRaw(`c.end_user->>'id' ILIKE ?`, [pattern]),
      );
    }
    return (await query) as ListRow[];
  }

  /** Replaces or shallow-merges the metadata of several connections at once; returns the ids that were not found. */
  async writeMetadata(providerConfigKey: string, connectionIds: string[], metadata: Record<string, unknown>, mode: 'replace' | 'merge', outer?: Knex.Transaction): Promise<string[]> {
    return (outer ?? this.knex).transaction(async (trx) => {
      const found = (await trx(TABLE)
        .select('connection_id')
        .where({ provider_config_key: providerConfigKey, account_id: ACCOUNT_ID })
        .whereIn('connection_id', connectionIds)
        .forUpdate()) as { connection_id: string }[];
      const missing = connectionIds.filter((id) => !found.some((row) => row.connection_id === id));
      if (missing.length > 0) return missing;
      const value = JSON.stringify(metadata);
      await trx(TABLE)
        .where({ provider_config_key: providerConfigKey, account_id: ACCOUNT_ID })
        .whereIn('connection_id', connectionIds)
        .update({
          metadata: mode === 'replace' ? trx.raw('?::jsonb', [value]) : trx.raw(`coalesce(metadata, '{}'::jsonb) || ?::jsonb`, [value]),
          updated_at: trx.fn.now(),
        });
      for (const connectionId of connectionIds) this.forgetWhenCommitted(trx, providerConfigKey, connectionId);
      return [];
    });
  }

  /** Changes the end user, tags or webhook override of one connection; false when it does not exist. */
  async patch(
    providerConfigKey: string, connectionId: string, changes: { end_user?: EndUser | null; tags?: Record<string, string>; webhook_url_override?: string | null }, trx?: Knex.Transaction,
  ): Promise<boolean> {
    const update: Record<string, unknown> = { updated_at: this.knex.fn.now() };
    if (changes.end_user !== undefined) update['end_user'] = changes.end_user === null ? null : JSON.stringify(changes.end_user);
    if (changes.tags !== undefined) update['tags'] = JSON.stringify(changes.tags);
    if (changes.webhook_url_override !== undefined) update['webhook_url_override'] = changes.webhook_url_override;
    const count = await (trx ?? this.knex)(TABLE).where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID }).update(update);
    this.forget(providerConfigKey, connectionId, trx);
    return count > 0;
  }

  /** The connection's own webhook URL, null when it has none (or no longer exists); no credentials are read. */
  async webhookUrlOverride(providerConfigKey: string, connectionId: string): Promise<string | null> {
    const row = (await this.knex(TABLE)
      .select('webhook_url_override')
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .first()) as { webhook_url_override: string | null } | undefined;
    return row?.webhook_url_override ?? null;
  }

  async delete(providerConfigKey: string, connectionId: string, trx?: Knex.Transaction): Promise<boolean> {
    const count = await (trx ?? this.knex)(TABLE)
      .where({ provider_config_key: providerConfigKey, connection_id: connectionId, account_id: ACCOUNT_ID })
      .delete();
    this.forget(providerConfigKey, connectionId, trx);
    return count > 0;
  }

  /** Forgets a written row at once, and again when the caller's transaction (if any) ends. */
  private forget(providerConfigKey: string, connectionId: string, trx: Knex.Transaction | undefined): void {
    if (trx) this.forgetWhenCommitted(trx, providerConfigKey, connectionId);
    else this.cache?.evict(providerConfigKey, connectionId);
  }

  /**
   * This process reads its own writes at once, without waiting for the change's notification: the row is
   * forgotten now (so a read under way does not keep the old one) and again once the transaction has ended
   * (so a read between now and the commit, which still saw the old row, does not leave it behind).
   */
  private forgetWhenCommitted(trx: Knex.Transaction, providerConfigKey: string, connectionId: string): void {
    if (!this.cache) return;
    const cache = this.cache;
    cache.evict(providerConfigKey, connectionId);
    const forget = (): void => cache.evict(providerConfigKey, connectionId);
    // Promise.resolve: a transaction knex did not start itself may lack the promise; forgetting early is then all there is.
    void Promise.resolve(trx.executionPromise).then(forget, forget);
  }

  private dueAfterRenewal(credentials: StoredCredentials, now?: Date): Date | null {
    return this.planner?.dueAfterRenewal(credentials, now) ?? null;
  }
}

/** The expiry as a column too, so queries (dashboard status, scheduled refresh) need not decrypt. */
function expiresAtOf(credentials: StoredCredentials): Date | null {
  return modeOf(credentials).expiresAt(credentials);
}

/** A row of the modern list as an item, field by field: a rest-and-spread copy of every row showed in the list's profile. */
function listItemOf(row: ListRow): ConnectionListItem {
  return {
    id: row.id,
    connection_id: row.connection_id,
    provider_config_key: row.provider_config_key,
    provider: row.provider,
    end_user: row.end_user,
    tags: row.tags ?? {},
    metadata: row.metadata ?? {},
    created_at: row.created_at,
    last_refresh_failure: row.last_refresh_failure,
    refresh_attempts: row.refresh_attempts,
    credentials_expires_at: row.credentials_expires_at,
    refresh_due_at: row.refresh_due_at,
    refresh_failing_since: row.refresh_failing_since,
    refresh_given_up_at: row.refresh_given_up_at,
  };
}

/** What a list row carries: enough for both generations' list shapes, never the credentials. */
const SUMMARY_COLUMNS = ['id', 'connection_id', 'provider_config_key', 'created_at', 'end_user', 'tags', 'metadata', 'last_refresh_failure', 'refresh_attempts'] as const;

function asSummary(row: Pick<ConnectionRow, (typeof SUMMARY_COLUMNS)[number]>): ConnectionSummary {
  return { ...row, tags: row.tags ?? {}, metadata: row.metadata ?? {} } as ConnectionSummary;
}
