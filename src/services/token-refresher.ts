import type { Knex } from 'knex';
import type { QueryTimeouts } from '../config.js';
import { isRenewable, modeOf, type StoredCredentials } from '../credentials/registry.js';
import { runWaitingStatement } from '../db/query-timeouts.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { ProviderError } from '../oauth/token-endpoint.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { ConfigRecord } from '../store/configs-store.js';
import type { ConnectionRecord, ConnectionsStore } from '../store/connections-store.js';
import { logProviderFailure } from './provider-error-advice.js';
import type { AuthOutcome, ServerSignals } from './server-signals.js';

/** A token that expires within this margin is refreshed before it is handed out (Nango's margin). */
export const REFRESH_MARGIN_MS = 15 * 60 * 1000;

export interface TokenRefresherDeps {
  knex: Knex;
  connections: ConnectionsStore;
  providers: ProviderCatalog;
  log: Logger;
  audit: AuditLogStore;
  signals: ServerSignals;
  /** Where a connection may send the integration's secrets (pinned host, outbound host guard). */
  hosts: ConnectionHosts;
  callbackUrl: string;
  providerTimeoutMs: number;
  /** The pool's statement limits: waiting for another process's refresh may take up to its provider's timeout. */
  databaseTimeouts: QueryTimeouts;
  now?: () => Date;
}

/**
 * Keeps renewable credentials fresh (each mode says whether and how it renews: src/credentials/). One refresh per connection at a time across every process: callers in one
 * process share a promise, and processes take a PostgreSQL advisory lock, then re-read the row, so a provider
 * that rotates refresh tokens never receives one that another process has already spent.
 */
export class TokenRefresher {
  private readonly inFlight = new Map<string, Promise<ConnectionRecord>>();
  private readonly now: () => Date;

  constructor(private readonly deps: TokenRefresherDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async fresh(connection: ConnectionRecord, config: ConfigRecord, force: boolean): Promise<ConnectionRecord> {
    if (!this.needsRefresh(connection, force)) return connection;
    const key = `${connection.provider_config_key}\u0000${connection.connection_id}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const requestedAt = this.now();
    const refresh = this.refreshUnderLock(connection, config, force, requestedAt).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, refresh);
    return refresh;
  }

  private needsRefresh(connection: ConnectionRecord, force: boolean): boolean {
    return renewalDue(connection.credentials, this.now(), force);
  }

  private async refreshUnderLock(connection: ConnectionRecord, config: ConfigRecord, force: boolean, requestedAt: Date): Promise<ConnectionRecord> {
    const outcome = await this.deps.knex.transaction(async (trx): Promise<RefreshOutcome> => {
      // Another process may hold this lock across its provider's answer (up to providerTimeoutMs): not a fault to cut short.
      await runWaitingStatement(trx, this.deps.databaseTimeouts, this.deps.providerTimeoutMs, 'SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))', [connection.provider_config_key, connection.connection_id]);
      const current = await this.deps.connections.findForUpdate(trx, connection.provider_config_key, connection.connection_id);
      if (!current) return { kind: 'unchanged', connection };
      // Another caller refreshed while we waited for the lock: its token is what we want.
      const refreshedMeanwhile = current.last_refresh_success !== null && current.last_refresh_success.getTime() >= requestedAt.getTime();
      if (refreshedMeanwhile || !this.needsRefresh(current, force)) return { kind: 'unchanged', connection: current };
      const target = { providerConfigKey: current.provider_config_key, connectionId: current.connection_id, route: 'token refresh', principal: 'server' };
      const announced: AuthOutcome = { operation: 'refresh', connectionId: current.connection_id, providerConfigKey: current.provider_config_key, provider: config.provider, authMode: current.credentials.type, endUser: current.end_user, tags: current.tags };
      try {
        const credentials = await this.requestRefresh(current, config);
        const saved = await this.deps.connections.saveRefreshedCredentials(trx, current.id, credentials, this.now());
        await this.deps.audit.record([{ ...target, action: 'connection.refresh', details: { forced: force } }], trx);
        return { kind: 'refreshed', connection: saved, announced };
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        await this.deps.connections.recordRefreshFailure(trx, current.id, error.message, this.now());
        await this.deps.audit.record([{ ...target, action: 'connection.refresh_failed', details: { error: error.details.error ?? error.kind } }], trx);
        return { kind: 'failed', failure: error, announced };
      }
    });
    // Announced once the transaction has committed: never for a refresh (or a failure record) that rolled back.
    if (outcome.kind === 'refreshed') this.deps.signals.authSucceeded(outcome.announced);
    if (outcome.kind !== 'failed') return outcome.connection;
    const { failure } = outcome;
    this.deps.signals.authFailed(outcome.announced, { type: 'refresh_token_external_error', description: failure.message });
    const template = this.deps.providers.get(config.provider);
    logProviderFailure(this.deps.log, failure, { integration: config.unique_key, provider: template?.display_name ?? config.provider, callbackUrl: this.deps.callbackUrl });
    throw new ApiError('refresh_token_external_error', `The token of connection "${connection.connection_id}" could not be refreshed: ${failure.message}`, {
      external_message: failure.details.error_description ?? failure.details.error ?? failure.message,
      external_request_details: failure.details,
    });
  }

  /** The connection's mode renews its credentials; the provider's refusal is a ProviderError. */
  private async requestRefresh(connection: ConnectionRecord, config: ConfigRecord): Promise<StoredCredentials> {
    const template = this.deps.providers.get(config.provider);
    if (!template) throw new ProviderError('garbage', `The provider "${config.provider}" is no longer in the catalog.`);
    const renewal = modeOf(connection.credentials).renewal;
    if (!renewal) throw new ProviderError('garbage', `${connection.credentials.type} credentials cannot be renewed.`);
    return renewal.renew(connection.credentials, {
      template,
      integration: config,
      connectionConfig: connection.connection_config,
      hosts: this.deps.hosts,
      timeoutMs: this.deps.providerTimeoutMs,
      now: this.now(),
    });
  }
}

type RefreshOutcome =
  | { kind: 'unchanged'; connection: ConnectionRecord }
  | { kind: 'refreshed'; connection: ConnectionRecord; announced: AuthOutcome }
  | { kind: 'failed'; failure: ProviderError; announced: AuthOutcome };

/**
 * When the credentials are due for renewal: the refresh margin before they expire; null when their mode cannot
 * renew them or they do not expire. What a scheduler asks of a connection.
 */
export function renewalDueAt(credentials: StoredCredentials): Date | null {
  if (!isRenewable(credentials)) return null;
  const expiresAt = modeOf(credentials).expiresAt(credentials);
  return expiresAt ? new Date(expiresAt.getTime() - REFRESH_MARGIN_MS) : null;
}

/** True when the credentials should be renewed now: renewable, and due (or the caller forces it). */
export function renewalDue(credentials: StoredCredentials, now: Date, force = false): boolean {
  if (!isRenewable(credentials)) return false;
  if (force) return true;
  const dueAt = renewalDueAt(credentials);
  return dueAt !== null && dueAt.getTime() < now.getTime();
}
