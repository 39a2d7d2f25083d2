import type { Knex } from 'knex';
import type { StoredCredentials } from '../credentials/registry.js';
import { ApiError } from '../errors.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { ConfigRecord, ConfigsStore } from '../store/configs-store.js';
import type { ConnectionListFilter, ConnectionListPage, ConnectionRecord, ConnectionsStore, ConnectionSummary, EndUser } from '../store/connections-store.js';
import { unknownIntegration } from './integration-service.js';
import type { ServerSignals } from './server-signals.js';
import type { TokenRefresher } from './token-refresher.js';

/** A connection whose credentials were just obtained (a flow, a connect route) or imported. */
export interface AuthorisedConnection {
  providerConfigKey: string;
  connectionId: string;
  credentials: StoredCredentials;
  connectionConfig: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** Modern fields; absent keeps those of an existing connection. */
  endUser?: EndUser | null;
  tags?: Record<string, string>;
  webhookUrlOverride?: string | null;
}

/**
 * Who authorised it, as the audit trail names it. An end user connecting (popup, connect routes) re-authorises
 * a connection that exists and is announced (webhooks, metrics); an operator's import is recorded as a
 * creation and announces nothing, as before.
 */
export type AuthorisationSource =
  | { kind: 'connect'; route: string; principal: string; provider: string; authMode: string }
  | { kind: 'import'; route: string; principal: string };

export interface ConnectionServiceDeps {
  knex: Knex;
  connections: ConnectionsStore;
  configs: ConfigsStore;
  audit: AuditLogStore;
  signals: ServerSignals;
  refresher: TokenRefresher;
}

/** Connections: an end user's credentials for one integration. */
export class ConnectionService {
  constructor(private readonly deps: ConnectionServiceDeps) {}

  /**
   * Stores a connection's new credentials, with its audit entry, in one transaction; the signal (webhook,
   * metrics) goes out once that has committed, never for a write that rolled back. Every path that authorises
   * a connection comes here: the OAuth callback, the connect routes, the imports, a reconnect.
   */
  async authorise(input: AuthorisedConnection, source: AuthorisationSource): Promise<{ connection: ConnectionRecord; operation: 'creation' | 'override' }> {
    const { connection, created } = await this.deps.knex.transaction(async (trx) => {
      const upserted = await this.deps.connections.upsert(
        {
          provider_config_key: input.providerConfigKey,
          connection_id: input.connectionId,
          credentials: input.credentials,
          connection_config: input.connectionConfig,
          metadata: input.metadata,
          ...(input.endUser !== undefined ? { end_user: input.endUser } : {}),
          ...(input.tags !== undefined ? { tags: input.tags } : {}),
          ...(input.webhookUrlOverride !== undefined ? { webhook_url_override: input.webhookUrlOverride } : {}),
        },
        trx,
      );
      const target = { route: source.route, principal: source.principal, providerConfigKey: input.providerConfigKey, connectionId: input.connectionId };
      await this.deps.audit.record(
        [
          source.kind === 'import'
            ? { ...target, action: 'connection.create', details: { imported: true } }
            : { ...target, action: upserted.created ? 'connection.create' : 'connection.reauthorize', details: { auth_mode: source.authMode } },
        ],
        trx,
      );
      return upserted;
    });
    const operation = created ? 'creation' : 'override';
    if (source.kind === 'connect') {
      this.deps.signals.authSucceeded({
        operation,
        connectionId: input.connectionId,
        providerConfigKey: input.providerConfigKey,
        provider: source.provider,
        authMode: source.authMode,
        endUser: input.endUser ?? null,
        tags: input.tags ?? null,
      });
    }
    return { connection, operation };
  }

  /** Stores credentials obtained elsewhere (for example, migrated from another system). */
  async import(input: AuthorisedConnection, source: { route: string; principal: string }): Promise<ConnectionRecord> {
    if (!(await this.deps.configs.find(input.providerConfigKey))) throw unknownIntegration(input.providerConfigKey);
    return (await this.authorise(input, { kind: 'import', ...source })).connection;
  }

  /** The connection with credentials that are good for at least the refresh margin (refreshed first if needed). */
  async get(providerConfigKey: string, connectionId: string, options: { forceRefresh?: boolean } = {}): Promise<ConnectionRecord> {
    return (await this.getWithIntegration(providerConfigKey, connectionId, options)).connection;
  }

  /** The fresh connection and the integration it belongs to (the modern shape names the provider). */
  getWithIntegration(providerConfigKey: string, connectionId: string, options: { forceRefresh?: boolean } = {}): Promise<{ connection: ConnectionRecord; config: ConfigRecord }> {
    // A kept row whose token needs no refresh, the common case of a busy proxy or reader: answered as it is, without
    // a promise and a turn of the event loop for each step of the lookup below.
    try {
      const force = options.forceRefresh ?? false;
      const kept = force ? undefined : this.deps.connections.findCachedWithIntegration(providerConfigKey, connectionId);
      if (kept?.config && !this.deps.refresher.needsRefresh(kept.connection, false)) return Promise.resolve({ connection: kept.connection, config: kept.config });
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.lookUpWithIntegration(providerConfigKey, connectionId, options);
  }

  private async lookUpWithIntegration(providerConfigKey: string, connectionId: string, options: { forceRefresh?: boolean }): Promise<{ connection: ConnectionRecord; config: ConfigRecord }> {
    const found = await this.deps.connections.findWithIntegration(providerConfigKey, connectionId);
    if (!found) throw unknownConnection(providerConfigKey, connectionId);
    const { connection, config } = found;
    if (!config) throw unknownIntegration(providerConfigKey);
    return { connection: await this.deps.refresher.fresh(connection, config, options.forceRefresh ?? false), config };
  }

  listDetailed(filter: ConnectionListFilter): Promise<ConnectionListPage> {
    return this.deps.connections.listDetailed(filter);
  }

  /** Replaces (`replace`) or shallow-merges (`merge`) metadata of one or several connections, all or nothing. */
  async writeMetadata(providerConfigKey: string, connectionIds: string[], metadata: Record<string, unknown>, mode: 'replace' | 'merge'): Promise<void> {
    const missing = await this.deps.connections.writeMetadata(providerConfigKey, connectionIds, metadata, mode);
    if (missing.length > 0) throw unknownConnection(providerConfigKey, missing.join('", "'));
  }

  async patch(providerConfigKey: string, connectionId: string, changes: Parameters<ConnectionsStore['patch']>[2]): Promise<void> {
    if (!(await this.deps.connections.patch(providerConfigKey, connectionId, changes))) throw unknownConnection(providerConfigKey, connectionId);
  }

  list(filter: { connectionId?: string }): Promise<ConnectionSummary[]> {
    return this.deps.connections.list(filter);
  }

  /** Every connection, a batch at a time (the seed list, streamed). */
  listInBatches(batchSize: number): AsyncGenerator<ConnectionSummary[]> {
    return this.deps.connections.listInBatches(batchSize);
  }

  async delete(providerConfigKey: string, connectionId: string): Promise<void> {
    if (!(await this.deps.connections.delete(providerConfigKey, connectionId))) throw unknownConnection(providerConfigKey, connectionId);
  }
}

export function unknownConnection(providerConfigKey: string, connectionId: string): ApiError {
  return new ApiError('unkown_connection', `No connection "${connectionId}" exists for the integration "${providerConfigKey}".`);
}
