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

export type AuditAction =
  | 'credentials.read'
  | 'credentials.use'
  | 'integration.credentials_read'
  | 'connection.create'
  | 'connection.reauthorize'
  | 'connection.update'
  | 'connection.refresh'
  | 'connection.refresh_failed'
  | 'connection.delete'
  | 'integration.create'
  | 'integration.update'
  | 'integration.delete';

export interface AuditRecord extends AuditEntry {
  id: string;
  at: Date;
}

export interface AuditFilter {
  providerConfigKey?: string;
  connectionId?: string;
  action?: string;
  principal?: string;
  since?: Date;
  until?: Date;
  /** Entries with an id below this one (the next page). */
  before?: string;
  limit: number;
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
    const query = this.knex(TABLE).select('*').orderBy('id', 'desc').limit(filter.limit);
    if (filter.providerConfigKey) query.where('provider_config_key', filter.providerConfigKey);
    if (filter.connectionId) query.where('connection_id', filter.connectionId);
    if (filter.action) query.where('action', filter.action);
    if (filter.principal) query.where('principal', filter.principal);
    if (filter.since) query.where('at', '>=', filter.since);
    if (filter.until) query.where('at', '<', filter.until);
    if (filter.before) query.where('id', '<', filter.before);
    const rows = (await query) as { id: string; at: Date; action: AuditAction; route: string; principal: string; provider_config_key: string | null; connection_id: string | null; details: Record<string, unknown> | null }[];
    return rows.map((row) => ({
      id: String(row.id),
      at: row.at,
      action: row.action,
      route: row.route,
      principal: row.principal,
      providerConfigKey: row.provider_config_key,
      connectionId: row.connection_id,
      details: row.details,
    }));
  }

  async deleteOlderThan(cutoff: Date): Promise<number> {
    return this.knex(TABLE).where('at', '<', cutoff).delete();
  }
}
