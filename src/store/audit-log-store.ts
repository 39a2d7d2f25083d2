import type { Knex } from 'knex';

/** One line of the audit trail: who touched which credentials, when, and through which route. */
export interface AuditEntry {
  action: AuditAction;
  route: string;
  principal: string;
  providerConfigKey?: string | null;
  connectionId?: string | null;
  details?: Record<string, unknown> | null;
}

/** Every action the trail records; the dashboard's action filter accepts exactly these. */
export const AUDIT_ACTIONS = [
  'credentials.read',
  'credentials.use',
  'integration.credentials_read',
  'connection.create',
  'connection.reauthorize',
  'connection.update',
  'connection.refresh',
  'connection.refresh_failed',
  'connection.delete',
  'integration.create',
  'integration.update',
  'integration.delete',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditRecord extends AuditEntry {
  id: string;
  at: Date;
}

export interface AuditFilter {
  providerConfigKey?: string;
  connectionId?: string;
  action?: string;
  principal?: string;
  /** Entries whose principal starts with this text ("dashboard:" finds every dashboard user). */
  principalPrefix?: string;
  since?: Date;
  until?: Date;
  /** Entries with an id below this one (the next page). */
  before?: string;
  limit: number;
}

/** One page of a listing, newest first, with the cursors of the pages either side (null at either end). */
export interface AuditPage {
  entries: AuditRecord[];
  /** Pass as `before` for the next, older page. */
  olderCursor: string | null;
  /** Pass as `after` for the previous, newer page. */
  newerCursor: string | null;
}

const TABLE = '_custody_audit_log';

export class AuditLogStore {
  constructor(private readonly knex: Knex) {}

  /** Inside a transaction when given one, so the trace commits or rolls back with the change it describes. */
  async record(entries: AuditEntry[], trx?: Knex.Transaction): Promise<void> {
    if (entries.length === 0) return;
    await (trx ?? this.knex)(TABLE).insert(
      entries.map((entry) => ({
        action: entry.action,
        route: entry.route.slice(0, 255),
        principal: entry.principal.slice(0, 255),
        provider_config_key: entry.providerConfigKey ?? null,
        connection_id: entry.connectionId ?? null,
        details: entry.details ? JSON.stringify(entry.details) : null,
      })),
    );
  }

  /** Newest first. */
  async list(filter: AuditFilter): Promise<AuditRecord[]> {
    const query = this.filtered(filter).select('*').orderBy('id', 'desc').limit(filter.limit);
    if (filter.before) query.where('id', '<', filter.before);
    return ((await query) as AuditRow[]).map(toRecord);
  }

  /**
   * One page by keyset, newest first: the newest entries, those older than `before`, or those just newer than
   * `after`. Ids only grow, so entries written meanwhile never shift a page.
   */
  async page(filter: Omit<AuditFilter, 'before'>, cursor: { before?: string; after?: string }): Promise<AuditPage> {
    const query = this.filtered(filter).select('*').limit(filter.limit + 1);
    if (cursor.after) query.where('id', '>', cursor.after).orderBy('id', 'asc');
    else query.orderBy('id', 'desc');
    if (cursor.before) query.where('id', '<', cursor.before);
    const rows = (await query) as AuditRow[];
    const hasMore = rows.length > filter.limit;
    const entries = rows.slice(0, filter.limit).map(toRecord);
    if (cursor.after) entries.reverse();
    const newest = entries[0];
    const oldest = entries.at(-1);
    if (!newest || !oldest) return { entries, olderCursor: null, newerCursor: null };
    // The extra row fetched answers for the side being walked towards; the other side is one indexed probe.
    const older = cursor.after ? await this.exists(filter, '<', oldest.id) : hasMore;
    const newer = cursor.after ? hasMore : cursor.before !== undefined && (await this.exists(filter, '>', newest.id));
    return { entries, olderCursor: older ? oldest.id : null, newerCursor: newer ? newest.id : null };
  }

  private async exists(filter: Omit<AuditFilter, 'before' | 'limit'>, direction: '<' | '>', id: string): Promise<boolean> {
    return (await this.filtered(filter).where('id', direction, id).first('id')) !== undefined;
  }

  private filtered(filter: Omit<AuditFilter, 'before' | 'limit'>): Knex.QueryBuilder {
    const query = this.knex(TABLE);
    if (filter.providerConfigKey) query.where('provider_config_key', filter.providerConfigKey);
    if (filter.connectionId) query.where('connection_id', filter.connectionId);
    if (filter.action) query.where('action', filter.action);
    if (filter.principal) query.where('principal', filter.principal);
    if (filter.principalPrefix) query.whereLike('principal', `${filter.principalPrefix.replace(/[\\%_]/g, (char) => `\\${char}`)}%`);
    if (filter.since) query.where('at', '>=', filter.since);
    if (filter.until) query.where('at', '<', filter.until);
    return query;
  }

  async deleteOlderThan(cutoff: Date): Promise<number> {
    return this.knex(TABLE).where('at', '<', cutoff).delete();
  }
}

interface AuditRow {
  id: string;
  at: Date;
  action: AuditAction;
  route: string;
  principal: string;
  provider_config_key: string | null;
  connection_id: string | null;
  details: Record<string, unknown> | null;
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: String(row.id),
    at: row.at,
    action: row.action,
    route: row.route,
    principal: row.principal,
    providerConfigKey: row.provider_config_key,
    connectionId: row.connection_id,
    details: row.details,
  };
}
