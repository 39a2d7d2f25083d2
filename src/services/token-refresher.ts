import type { Knex } from 'knex';
import type { QueryTimeouts } from '../config.js';
import { runWaitingStatement } from '../db/query-timeouts.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { oauth2CredentialsFrom, ProviderError, requestToken, type OAuth2Credentials } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams, type TemplateParamsKey } from '../providers/template-params.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { ConfigRecord } from '../store/configs-store.js';
import type { ServerSignals } from './server-signals.js';
import type { ConnectionRecord, ConnectionsStore } from '../store/connections-store.js';
import { fetchClientCredentialsToken } from './credential-connect-service.js';
import { logProviderFailure } from './provider-error-advice.js';

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
 * Keeps OAuth2 tokens fresh. One refresh per connection at a time across every process: callers in one
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
    const credentials = connection.credentials as { type?: string; refresh_token?: string; expires_at?: string };
    // Client-credentials tokens are renewed with the client's own id and secret, which the credentials keep.
    const renewable = (credentials.type === 'OAUTH2' && Boolean(credentials.refresh_token)) || credentials.type === 'OAUTH2_CC';
    if (!renewable) return false;
    if (force) return true;
    if (!credentials.expires_at) return false;
    return new Date(credentials.expires_at).getTime() - this.now().getTime() < REFRESH_MARGIN_MS;
  }

  private async refreshUnderLock(connection: ConnectionRecord, config: ConfigRecord, force: boolean, requestedAt: Date): Promise<ConnectionRecord> {
    const outcome = await this.deps.knex.transaction(async (trx) => {
      // Another process may hold this lock across its provider's answer (up to providerTimeoutMs): not a fault to cut short.
      await runWaitingStatement(trx, this.deps.databaseTimeouts, this.deps.providerTimeoutMs, 'SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))', [connection.provider_config_key, connection.connection_id]);
      const current = await this.deps.connections.findForUpdate(trx, connection.provider_config_key, connection.connection_id);
      if (!current) return { connection };
      // Another caller refreshed while we waited for the lock: its token is what we want.
      const refreshedMeanwhile = current.last_refresh_success !== null && current.last_refresh_success.getTime() >= requestedAt.getTime();
      if (refreshedMeanwhile || !this.needsRefresh(current, force)) return { connection: current };
      const target = { providerConfigKey: current.provider_config_key, connectionId: current.connection_id, route: 'token refresh', principal: 'server' };
      try {
        const credentials = await this.requestRefresh(current, config);
        const saved = await this.deps.connections.saveRefreshedCredentials(trx, current.id, credentials, this.now());
        await this.deps.audit.record([{ ...target, action: 'connection.refresh', details: { forced: force } }], trx);
        this.deps.signals.authSucceeded({ operation: 'refresh', connectionId: current.connection_id, providerConfigKey: current.provider_config_key, provider: config.provider, authMode: String(current.credentials['type'] ?? 'OAUTH2'), endUser: current.end_user, tags: current.tags });
        return { connection: saved };
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        await this.deps.connections.recordRefreshFailure(trx, current.id, error.message, this.now());
        await this.deps.audit.record([{ ...target, action: 'connection.refresh_failed', details: { error: error.details.error ?? error.kind } }], trx);
        this.deps.signals.authFailed(
          { operation: 'refresh', connectionId: current.connection_id, providerConfigKey: current.provider_config_key, provider: config.provider, authMode: String(current.credentials['type'] ?? 'OAUTH2'), endUser: current.end_user, tags: current.tags },
          { type: 'refresh_token_external_error', description: error.message },
        );
        const template = this.deps.providers.get(config.provider);
        logProviderFailure(this.deps.log, error, { integration: config.unique_key, provider: template?.display_name ?? config.provider, callbackUrl: this.deps.callbackUrl });
        return { failure: error };
      }
    });
    if ('failure' in outcome && outcome.failure) {
      throw new ApiError('refresh_token_external_error', `The token of connection "${connection.connection_id}" could not be refreshed: ${outcome.failure.message}`, {
        external_message: outcome.failure.details.error_description ?? outcome.failure.details.error ?? outcome.failure.message,
        external_request_details: outcome.failure.details,
      });
    }
    return outcome.connection ?? connection;
  }

  private async requestRefresh(connection: ConnectionRecord, config: ConfigRecord): Promise<object> {
    const template = this.deps.providers.get(config.provider);
    if (!template) throw new ProviderError('garbage', `The provider "${config.provider}" is no longer in the catalog.`);
    if (connection.credentials['type'] === 'OAUTH2_CC') {
      const { value: url } = interpolate(template.token_url ?? '', { connectionConfig: connection.connection_config });
      return fetchClientCredentialsToken({
        url,
        agent: this.agentFor(template, template.token_url ?? '', url, config),
        clientId: String(connection.credentials['client_id'] ?? ''),
        clientSecret: String(connection.credentials['client_secret'] ?? ''),
        scopes: config.oauth_scopes,
        extraParams: filledOrRefused(template, 'token_params', connection.connection_config),
        template,
        timeoutMs: this.deps.providerTimeoutMs,
        now: this.now(),
      });
    }
    const previous = connection.credentials as unknown as OAuth2Credentials;
    const refreshUrl = template.refresh_url ?? template.token_url ?? '';
    const { value: url, missing } = interpolate(refreshUrl, { connectionConfig: connection.connection_config });
    if (missing.length > 0) throw new ProviderError('garbage', `The refresh URL needs connection parameters that are missing: ${missing.join(', ')}.`);
    // Refresh parameters, or the token parameters without an authorization-code grant (which would break refresh).
    const { grant_type: _ignored, ...tokenParams } = filledOrRefused(template, template.refresh_params ? 'refresh_params' : 'token_params', connection.connection_config);
    const params: Record<string, string> = {
      grant_type: 'refresh_token',
      refresh_token: previous.refresh_token ?? '',
      ...tokenParams,
    };
    const raw = await requestToken({
      url,
      agent: this.agentFor(template, refreshUrl, url, config),
      params,
      // A connection made with the end user's own OAuth app is refreshed with that app.
      clientId: previous.oauth_client_id_override ?? config.oauth_client_id ?? '',
      clientSecret: previous.oauth_client_id_override ? previous.oauth_client_secret_override ?? '' : config.oauth_client_secret ?? '',
      template,
      timeoutMs: this.deps.providerTimeoutMs,
    });
    return oauth2CredentialsFrom(raw, this.now(), previous);
  }

  /** Checked at every refresh, not only when the connection was made: its host may resolve elsewhere by now. */
  private agentFor(template: ProviderTemplate, templateText: string, url: string, config: ConfigRecord) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ProviderError('garbage', 'The refresh URL is not a valid URL once the connection parameters are filled in.');
    }
    return this.deps.hosts.agentFor(template, templateText, parsed, config);
  }
}

/** A template's token or refresh parameters for a stored connection; one it cannot fill fails the refresh, saying which. */
function filledOrRefused(template: Parameters<typeof templateParams>[0], key: TemplateParamsKey, connectionConfig: Record<string, unknown>): Record<string, string> {
  const { params, missing } = templateParams(template, key, connectionConfig);
  if (missing.length > 0) throw new ProviderError('garbage', `${missingParamsMessage(key, missing)} Reconnect with it.`);
  return params;
}
