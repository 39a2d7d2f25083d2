import type http from 'node:http';
import { ApiError, isErrorCode, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { ProviderError, requestToken } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import { connectionParameterProblem } from '../providers/connection-parameters.js';
import { missingParamsMessage, templateParams } from '../providers/template-params.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { ConfigsStore } from '../store/configs-store.js';
import type { ConnectionsStore } from '../store/connections-store.js';
import type { ConfigRecord } from '../store/configs-store.js';
import type { ConnectAuthorizer, ConnectCredentials } from './connect-authorizer.js';
import { mergeConnectionParameters } from './connection-parameter-sources.js';
import { FlowError } from './flow-error.js';
import { logProviderFailure } from './provider-error-advice.js';
import type { ImportedCredentials } from './connection-service.js';
import type { ServerSignals } from './server-signals.js';

export type CredentialInput =
  | { mode: 'API_KEY'; apiKey: string }
  | { mode: 'BASIC'; username: string; password: string }
  | { mode: 'OAUTH2_CC'; clientId?: string; clientSecret?: string }
  | { mode: 'NONE' };

export interface CredentialConnectDeps {
  providers: ProviderCatalog;
  configs: ConfigsStore;
  connections: ConnectionsStore;
  authorizer: ConnectAuthorizer;
  signals: ServerSignals;
  audit: AuditLogStore;
  /** Where a connection may send its credentials (pinned host, outbound host guard). */
  hosts: ConnectionHosts;
  log: Logger;
  callbackUrl: string;
  providerTimeoutMs: number;
  now: () => Date;
}

/**
 * Connections that need no popup: an API key or user/password the end user types, OAuth2 client credentials
 * the server exchanges for a token, or no credentials at all. Same gate as the popup (session token or HMAC).
 */
export class CredentialConnectService {
  constructor(private readonly deps: CredentialConnectDeps) {}

  async connect(access: ConnectCredentials, params: Record<string, string>, input: CredentialInput): Promise<{ providerConfigKey: string; connectionId: string }> {
    const grant = await this.deps.authorizer.authorize(access).catch((error: unknown) => {
      if (error instanceof FlowError) throw new ApiError(refusalCode(error), error.message);
      throw error;
    });
    const config = await this.deps.configs.find(access.providerConfigKey);
    if (!config) throw new ApiError('unknown_provider_config', `No integration has the key "${access.providerConfigKey}".`);
    const template = this.deps.providers.get(config.provider);
    if (!template) throw new ApiError('unknown_provider_template', `The provider "${config.provider}" is not in the catalog.`);
    if (template.auth_mode !== input.mode) {
      throw new ApiError('invalid_body', `The integration "${config.unique_key}" uses ${template.auth_mode}, not ${input.mode}; use the matching route.`);
    }
    const connectionConfig = mergeConnectionParameters(params, grant.defaults.connection_config, this.deps.hosts.pinnedValues(template, config));
    const problem = connectionParameterProblem(template, connectionConfig);
    if (problem) throw new ApiError('invalid_query_params', problem);
    // The proxy's base URL gets the credentials the end user typed: its host is checked as the token URL's is.
    await this.deps.hosts.checkNewConnection(template, config, { connectionConfig });
    const credentials = await this.credentialsFor(input, template, connectionConfig, config);
    const existed = (await this.deps.connections.find(config.unique_key, grant.connectionId)) !== undefined;
    await this.deps.connections.upsert({
      provider_config_key: config.unique_key,
      connection_id: grant.connectionId,
      credentials,
      connection_config: connectionConfig,
      metadata: {},
      ...(grant.endUser ? { end_user: grant.endUser } : {}),
      ...(grant.tags ? { tags: grant.tags } : {}),
      // Only a session that names one sets it: a reconnect without one keeps the connection's own.
      ...(grant.webhookUrlOverride ? { webhook_url_override: grant.webhookUrlOverride } : {}),
    });
    await this.deps.audit.record([
      {
        action: existed ? 'connection.reauthorize' : 'connection.create',
        route: `POST (${template.auth_mode} connect)`,
        principal: grant.connectSessionId !== null ? `connect_session:${grant.connectSessionId}` : 'end_user (connection id)',
        providerConfigKey: config.unique_key,
        connectionId: grant.connectionId,
        details: { auth_mode: template.auth_mode },
      },
    ]);
    this.deps.signals.authSucceeded({
      operation: existed ? 'override' : 'creation',
      connectionId: grant.connectionId,
      providerConfigKey: config.unique_key,
      provider: config.provider,
      authMode: template.auth_mode,
      endUser: grant.endUser,
      tags: grant.tags,
    });
    return { providerConfigKey: config.unique_key, connectionId: grant.connectionId };
  }

  private async credentialsFor(input: CredentialInput, template: ProviderTemplate, connectionConfig: Record<string, unknown>, config: ConfigRecord): Promise<ImportedCredentials> {
    switch (input.mode) {
      case 'API_KEY':
        return { type: 'API_KEY', apiKey: input.apiKey };
      case 'BASIC':
        return { type: 'BASIC', username: input.username, password: input.password };
      case 'NONE':
        return { type: 'NONE' };
      case 'OAUTH2_CC': {
        const clientId = input.clientId ?? config.oauth_client_id;
        const clientSecret = input.clientSecret ?? config.oauth_client_secret;
        if (!clientId || !clientSecret) throw new ApiError('invalid_body', 'client_id and client_secret are required (in the body or on the integration).');
        const { value: url, missing } = interpolate(template.token_url ?? '', { connectionConfig });
        if (missing.length > 0) throw new ApiError('invalid_query_params', `The token URL needs the connection parameters ${missing.join(', ')}; pass them as params[...].`);
        const tokenParams = templateParams(template, 'token_params', connectionConfig);
        if (tokenParams.missing.length > 0) throw new ApiError('invalid_query_params', missingParamsMessage('token_params', tokenParams.missing));
        const agent = this.deps.hosts.agentFor(template, template.token_url ?? '', parseTokenUrl(url), config);
        const request = { url, agent, clientId, clientSecret, scopes: config.oauth_scopes, extraParams: tokenParams.params, template, timeoutMs: this.deps.providerTimeoutMs, now: this.deps.now() };
        return fetchClientCredentialsToken(request).catch((error: unknown) => {
          if (!(error instanceof ProviderError)) throw error;
          logProviderFailure(this.deps.log, error, { integration: config.unique_key, provider: template.display_name, callbackUrl: this.deps.callbackUrl });
          // The end user reads this answer: the provider's error code, never its words.
          throw new ApiError('connection_test_failed', error.publicMessage);
        });
      }
      default:
        throw new ApiError('invalid_body', `Unsupported auth mode ${template.auth_mode}.`);
    }
  }
}

/** The client credentials grant (RFC 6749 §4.4); also used to renew such a token before it expires. */
export async function fetchClientCredentialsToken(request: {
  url: string;
  /** The outbound host guard's agent when the connection chose the token URL's host. */
  agent?: http.Agent | undefined;
  clientId: string;
  clientSecret: string;
  scopes: string | null;
  /** The template's token_params (for example Auth0's `audience`). */
  extraParams?: Record<string, string>;
  template?: Pick<ProviderTemplate, 'authorization_method' | 'body_format' | 'token_request_auth_method'>;
  timeoutMs: number;
  now: Date;
}): Promise<ImportedCredentials & { type: 'OAUTH2_CC' }> {
  const scope = (request.scopes ?? '').split(',').map((item) => item.trim()).filter(Boolean).join(' ');
  const raw = await requestToken({
    url: request.url,
    agent: request.agent,
    params: { ...(request.extraParams ?? {}), grant_type: 'client_credentials', ...(scope ? { scope } : {}) },
    clientId: request.clientId,
    clientSecret: request.clientSecret,
    template: request.template ?? {},
    timeoutMs: request.timeoutMs,
  });
  const token = typeof raw['access_token'] === 'string' ? raw['access_token'] : undefined;
  if (!token) throw new ProviderError('garbage', 'The provider answered the client credentials grant without an access_token.');
  const expiresIn = Number(raw['expires_in']);
  return {
    type: 'OAUTH2_CC',
    token,
    client_id: request.clientId,
    client_secret: request.clientSecret,
    ...(Number.isFinite(expiresIn) && expiresIn > 0 ? { expires_at: new Date(request.now.getTime() + expiresIn * 1000).toISOString() } : {}),
    raw,
  };
}

function parseTokenUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ApiError('invalid_query_params', 'The provider\'s token_url is not a valid URL once the connection parameters are filled in.');
  }
}

function refusalCode(error: FlowError): ErrorCode {
  return isErrorCode(error.type) ? error.type : 'forbidden';
}
