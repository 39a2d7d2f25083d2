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
    const refresh = this.refreshOnRead(connection, config, force, requestedAt).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, refresh);
    return refresh;
  }

  /**
   * The token keeper's refresh of a connection it claimed (src/keeper/): under the same lock as reads, and only
   * if the row still carries the keeper's claim; a read or another process that refreshed it meanwhile wrote a
   * new due time, and then there is nothing to do.
   */
  async refreshClaimed(claim: RefreshClaim, config: ConfigRecord | undefined): Promise<KeeperRefreshResult> {
    const outcome = await this.underLock(claim, config, { principal: 'keeper', route: 'token keeper', restartFailures: false, details: { scheduled: true } }, async (current, trx) => {
      if (current.refresh_due_at?.getTime() !== claim.claimedUntil.getTime()) return 'unchanged';
      if (!config || !isRenewable(current.credentials) || current.refresh_given_up_at) {
        await this.deps.connections.unschedule(trx, current);
        return 'unchanged';
      }
      return 'refresh';
    });
    if (outcome.kind === 'unchanged') return 'skipped';
    if (outcome.kind === 'refreshed') return 'refreshed';
    this.logFailure(outcome, config);
    return outcome.connection.refresh_given_up_at ? 'gave_up' : 'failed';
  }

  /** Whether a read must refresh the connection's token before answering with it (`fresh` would). */
  needsRefresh(connection: ConnectionRecord, force: boolean): boolean {
    return renewalDue(connection.credentials, this.now(), force);
  }

  private async refreshOnRead(connection: ConnectionRecord, config: ConfigRecord, force: boolean, requestedAt: Date): Promise<ConnectionRecord> {
    const target = { providerConfigKey: connection.provider_config_key, connectionId: connection.connection_id };
    // A refresh asked for by hand (force) starts a given-up connection's retries over.
    const outcome = await this.underLock(target, config, { principal: 'server', route: 'token refresh', restartFailures: force, details: { forced: force } }, async (current) => {
      // Another caller refreshed while we waited for the lock: its token is what we want.
      const refreshedMeanwhile = current.last_refresh_success !== null && current.last_refresh_success.getTime() >= requestedAt.getTime();
      return refreshedMeanwhile || !this.needsRefresh(current, force) ? 'unchanged' : 'refresh';
    });
    if (outcome.kind !== 'failed') return outcome.connection ?? connection;
    const { failure } = outcome;
    this.logFailure(outcome, config);
    throw new ApiError('refresh_token_external_error', `The token of connection "${connection.connection_id}" could not be refreshed: ${failure.message}`, {
      external_message: failure.details.error_description ?? failure.details.error ?? failure.message,
      external_request_details: failure.details,
    });
  }

  /**
   * One refresh across processes: the advisory lock, the row locked and re-read, `decide` on what it holds, the
   * new credentials or the failure and its audit entry in that one transaction, the signal after the commit.
   */
  private async underLock(target: { providerConfigKey: string; connectionId: string }, config: ConfigRecord | undefined, context: RefreshContext, decide: (current: ConnectionRecord, trx: Knex.Transaction) => Promise<'refresh' | 'unchanged'>): Promise<RefreshOutcome> {
    const outcome = await this.deps.knex.transaction(async (trx): Promise<RefreshOutcome> => {
      // Another process may hold this lock across its provider's answer (up to providerTimeoutMs): not a fault to cut short.
      await runWaitingStatement(trx, this.deps.databaseTimeouts, this.deps.providerTimeoutMs, 'SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))', [target.providerConfigKey, target.connectionId]);
      const current = await this.deps.connections.findForUpdate(trx, target.providerConfigKey, target.connectionId);
      if (!current) return { kind: 'unchanged', connection: undefined };
      if ((await decide(current, trx)) === 'unchanged' || !config) return { kind: 'unchanged', connection: current };
      const entry = { providerConfigKey: current.provider_config_key, connectionId: current.connection_id, route: context.route, principal: context.principal };
      // A success after failures is announced as a recovery (webhook `success: true`): the app can clear its "reconnect" notice.
      const announced: AuthOutcome = { operation: 'refresh', connectionId: current.connection_id, providerConfigKey: current.provider_config_key, provider: config.provider, authMode: current.credentials.type, endUser: current.end_user, tags: current.tags, recovered: current.refresh_attempts > 0 };
      try {
        const credentials = await this.requestRefresh(current, config);
        const saved = await this.deps.connections.saveRefreshedCredentials(trx, current.id, credentials, this.now());
        await this.deps.audit.record([{ ...entry, action: 'connection.refresh', details: { ...context.details, ...(announced.recovered ? { recovered_after_failures: current.refresh_attempts } : {}) } }], trx);
        return { kind: 'refreshed', connection: saved, announced };
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        const failed = await this.deps.connections.recordRefreshFailure(trx, current, error.message, this.now(), context.restartFailures);
        const failure = { error: error.details.error ?? error.kind, failing_since: failed.refresh_failing_since?.toISOString(), attempts: failed.refresh_attempts };
        await this.deps.audit.record([{ ...entry, action: failed.refresh_given_up_at ? 'connection.refresh_given_up' : 'connection.refresh_failed', details: { ...context.details, ...failure } }], trx);
        return { kind: 'failed', failure: error, announced: { ...announced, recovered: false }, connection: failed };
      }
    });
    // Announced once the transaction has committed: never for a refresh (or a failure record) that rolled back.
    if (outcome.kind === 'refreshed') this.deps.signals.authSucceeded(outcome.announced);
    if (outcome.kind === 'failed') this.deps.signals.authFailed(outcome.announced, { type: 'refresh_token_external_error', description: outcome.failure.message });
    return outcome;
  }

  private logFailure(outcome: Extract<RefreshOutcome, { kind: 'failed' }>, config: ConfigRecord | undefined): void {
    if (!config) return;
    const template = this.deps.providers.get(config.provider);
    logProviderFailure(this.deps.log, outcome.failure, { integration: config.unique_key, provider: template?.display_name ?? config.provider, callbackUrl: this.deps.callbackUrl });
    const { connection } = outcome;
    if (connection.refresh_given_up_at) {
      this.deps.log.warn(
        { integration: config.unique_key, connectionId: connection.connection_id, failingSince: connection.refresh_failing_since },
        `Stopped refreshing connection "${connection.connection_id}" of integration "${config.unique_key}": its refreshes have failed since ${connection.refresh_failing_since?.toISOString() ?? 'long ago'} (NANGO_REFRESH_GIVE_UP_DAYS). The end user must connect again, or refresh it from the dashboard once the provider accepts it.`,
      );
    }
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
  | { kind: 'unchanged'; connection: ConnectionRecord | undefined }
  | { kind: 'refreshed'; connection: ConnectionRecord; announced: AuthOutcome }
  | { kind: 'failed'; failure: ProviderError; announced: AuthOutcome; connection: ConnectionRecord };

/** Who refreshes, as the audit trail names it, and whether a failure starts the retry schedule over. */
interface RefreshContext {
  principal: string;
  route: string;
  restartFailures: boolean;
  details: Record<string, unknown>;
}

/** A connection the token keeper claimed: its due time was set to `claimedUntil`, which the refresh checks under the lock. */
interface RefreshClaim {
  providerConfigKey: string;
  connectionId: string;
  claimedUntil: Date;
}

/** What became of a claimed connection. */
export type KeeperRefreshResult = 'refreshed' | 'failed' | 'gave_up' | 'skipped';

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
