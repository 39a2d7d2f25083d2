import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { fetchAccessToken, fetchRequestToken, type OAuth1Target } from '../oauth/oauth1-client.js';
import { createPkcePair } from '../oauth/pkce.js';
import type { FlowMessage, ResultDelivery } from '../oauth/result-delivery.js';
import { oauth2CredentialsFrom, ProviderError, requestToken } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import { connectionParameterProblem } from '../providers/connection-parameters.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams, type TemplateParamsKey } from '../providers/template-params.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { ConfigRecord, ConfigsStore } from '../store/configs-store.js';
import type { ConnectionsStore } from '../store/connections-store.js';
import type { OAuthSession, OAuthSessionsStore } from '../store/oauth-sessions-store.js';
import type { ConnectAuthorizer } from './connect-authorizer.js';
import { ALLOW_CLIENT_OVERRIDE_FLAG, mergeConnectionParameters, urlValues } from './connection-parameter-sources.js';
import { FlowError } from './flow-error.js';
import { logProviderFailure } from './provider-error-advice.js';
import type { ServerSignals } from './server-signals.js';

export interface ConnectRequest {
  providerConfigKey: string;
  connectionId: string | undefined;
  params: Record<string, string>;
  authorizationParams: Record<string, string>;
  /** Slack-style user scopes (`user_scope`), requested beside the integration's scopes. */
  userScopes: string[];
  /** The end user's own OAuth app (`credentials[oauth_client_*_override]`); needs a connect session that allows it. */
  clientOverride: { clientId: string; clientSecret: string } | undefined;
  hmac: string | undefined;
  publicKey: string | undefined;
  connectSessionToken: string | undefined;
  wsClientId: string | undefined;
}

export interface CallbackOutcome {
  outcome: 'success' | 'error';
  title: string;
  message: string;
  status: number;
  protocol: 'seed' | 'modern' | 'legacy';
  providerConfigKey?: string;
  connectionId?: string;
  errorType?: string;
}

export interface OAuthFlowDeps {
  config: Pick<Config, 'callbackUrl'>;
  providers: ProviderCatalog;
  configs: ConfigsStore;
  connections: ConnectionsStore;
  sessions: OAuthSessionsStore;
  authorizer: ConnectAuthorizer;
  delivery: ResultDelivery;
  signals: ServerSignals;
  audit: AuditLogStore;
  /** Where a connection may send the integration's secrets (pinned host, outbound host guard). */
  hosts: ConnectionHosts;
  log: Logger;
  providerTimeoutMs: number;
  now?: () => Date;
}

/** How long a started flow may wait for the provider's callback. */
export const OAUTH_SESSION_LIFETIME_MS = 30 * 60 * 1000;

export { ALLOW_CLIENT_OVERRIDE_FLAG } from './connection-parameter-sources.js';

const STATE_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The popup flow: `/oauth/connect` sends the user to the provider, `/oauth/callback` stores what comes back. */
export class OAuthFlowService {
  private readonly now: () => Date;

  constructor(private readonly deps: OAuthFlowDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Returns the provider URL to redirect the popup to. Errors are reported on the WebSocket too. */
  async start(request: ConnectRequest): Promise<string> {
    try {
      return await this.startOrThrow(request);
    } catch (error) {
      const flowError = this.asFlowError(error, request.providerConfigKey);
      this.deps.log.debug(`OAuth flow error for integration "${request.providerConfigKey}" and connection "${request.connectionId ?? ''}": ${flowError.type} - ${flowError.message}`);
      if (request.wsClientId) {
        await this.notify(request.wsClientId, this.errorMessage(request.providerConfigKey, request.connectionId ?? '', flowError));
      }
      throw flowError;
    }
  }

  /**
   * A connect request too malformed to start (the route could not parse it): the page that opened the popup
   * still learns why, on every WebSocket the request names, so the SDK's promise never waits forever.
   */
  async reportStartFailure(wsClientIds: string[], providerConfigKey: string, connectionId: string, error: FlowError): Promise<void> {
    this.deps.log.debug(`OAuth flow error for integration "${providerConfigKey}" and connection "${connectionId}": ${error.type} - ${error.message}`);
    for (const wsClientId of wsClientIds) await this.notify(wsClientId, this.errorMessage(providerConfigKey, connectionId, error));
  }

  private async startOrThrow(request: ConnectRequest): Promise<string> {
    const { providerConfigKey } = request;
    const grant = await this.deps.authorizer.authorize(request);
    const connectionId = grant.connectionId;
    if (request.clientOverride && grant.defaults.connection_config?.[ALLOW_CLIENT_OVERRIDE_FLAG] !== true) {
      throw new FlowError(
        'client_override_not_allowed',
        `This server accepts credentials[oauth_client_id_override] and credentials[oauth_client_secret_override] only with a connect session that allows them for "${providerConfigKey}" (integrations_config_defaults.${providerConfigKey}.connection_config.${ALLOW_CLIENT_OVERRIDE_FLAG} = true).`,
        403,
      );
    }
    const config = await this.deps.configs.find(providerConfigKey);
    if (!config) throw new FlowError('provider_config_err', `No integration has the key "${providerConfigKey}"; create it first.`, 404);
    const template = this.deps.providers.get(config.provider);
    if (!template) throw new FlowError('unknown_config_key', `The integration "${providerConfigKey}" uses the provider "${config.provider}", which is not in the catalog.`);
    if (template.auth_mode !== 'OAUTH2' && template.auth_mode !== 'OAUTH1') {
      throw new FlowError('auth_mode_err', `The provider "${config.provider}" uses ${template.auth_mode}, which does not go through the OAuth popup.`);
    }
    if (request.clientOverride && template.auth_mode !== 'OAUTH2') {
      throw new FlowError('client_override_not_allowed', `An OAuth client override works with OAuth 2 integrations only; "${providerConfigKey}" uses ${template.auth_mode}.`);
    }
    if (!request.clientOverride && (!config.oauth_client_id || !config.oauth_client_secret)) {
      throw new FlowError('provider_config_err', `The integration "${providerConfigKey}" has no client id or client secret; set them first.`);
    }
    const connectionConfig = urlValues(mergeConnectionParameters(request.params, grant.defaults.connection_config, this.deps.hosts.pinnedValues(template, config)));
    const problem = connectionParameterProblem(template, connectionConfig);
    if (problem) throw new FlowError('url_param_err', problem);
    const authorizationUrl = this.interpolateUrl(template.authorization_url ?? '', 'authorization_url', connectionConfig);
    // Checked now, so a missing parameter or a refused host fails before the user is sent to the provider.
    this.interpolateUrl(template.token_url ?? '', 'token_url', connectionConfig);
    const authorizationParams = this.filledParams(template, 'authorization_params', connectionConfig);
    this.filledParams(template, 'token_params', connectionConfig);
    await this.deps.hosts.checkNewConnection(template, config, { connectionConfig }).catch(asFlowRefusal);
    this.deps.signals.oauthFlowStarted(config.provider);
    this.deps.log.info(
      `OAuth request - mode: ${template.auth_mode}, provider: ${config.provider}, key: ${providerConfigKey}, connection ID: ${connectionId}, auth URL: ${redactUrl(authorizationUrl)}, callback URL: ${this.deps.config.callbackUrl}`,
    );
    const base = {
      providerConfigKey,
      provider: config.provider,
      connectionId,
      callbackUrl: this.deps.config.callbackUrl,
      connectionConfig,
      wsClientId: request.wsClientId ?? null,
      clientProtocol: grant.protocol,
      expiresAt: new Date(this.now().getTime() + OAUTH_SESSION_LIFETIME_MS),
      endUser: grant.endUser,
      tags: grant.tags,
      webhookUrlOverride: grant.webhookUrlOverride,
      clientOverride: request.clientOverride ?? null,
    };
    if (template.auth_mode === 'OAUTH2') {
      const grantType = template.token_params?.['grant_type'];
      if (grantType !== undefined && grantType !== 'authorization_code') {
        throw new FlowError('grant_type_err', `The provider template asks for the grant type "${grantType}", which the popup flow cannot use.`);
      }
      const pkce = template.disable_pkce ? undefined : createPkcePair();
      const session = await this.deps.sessions.create({ ...base, authMode: 'OAUTH2', codeVerifier: pkce?.verifier ?? null, requestTokenSecret: null });
      const url = new URL(authorizationUrl);
      const query: Record<string, string> = {
        response_type: 'code',
        client_id: request.clientOverride?.clientId ?? config.oauth_client_id ?? '',
        redirect_uri: this.deps.config.callbackUrl,
      };
      const separator = template.scope_separator ?? ' ';
      const overrideScopes = grant.defaults.connection_config?.['oauth_scopes_override'];
      const scopes = typeof overrideScopes === 'string' ? splitScopes(overrideScopes) : splitScopes(config.oauth_scopes);
      if (scopes.length > 0) query['scope'] = scopes.join(separator);
      // User scopes are a separate grant (Slack's user token), never mixed into the app's `scope`.
      const userScopes = [...new Set([...splitScopes(grant.defaults.user_scopes ?? null), ...request.userScopes])];
      if (userScopes.length > 0) query['user_scope'] = userScopes.join(separator);
      query['state'] = session.id;
      Object.assign(query, authorizationParams, grant.defaults.authorization_params ?? {}, request.authorizationParams);
      if (pkce) Object.assign(query, { code_challenge: pkce.challenge, code_challenge_method: 'S256' });
      for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
      return url.toString();
    }
    if (!template.request_url) throw new FlowError('provider_config_err', `The OAuth 1.0a provider "${config.provider}" has no request_url.`);
    const requestUrl = this.oauth1Target(template, template.request_url, 'request_url', connectionConfig, config);
    const session = await this.deps.sessions.create({ ...base, authMode: 'OAUTH1', codeVerifier: null, requestTokenSecret: null });
    const callback = new URL(this.deps.config.callbackUrl);
    callback.searchParams.set('state', session.id);
    let pair;
    try {
      pair = await fetchRequestToken(this.oauth1Client(config, template), requestUrl, callback.toString());
    } catch (error) {
      await this.deps.sessions.discard(session.id);
      if (error instanceof ProviderError) {
        this.warnWithAdvice(error, config, template);
        throw new FlowError('token_err', `Getting a request token failed: ${error.publicMessage}`, 502);
      }
      throw asFlowRefusal(error);
    }
    await this.deps.sessions.setRequestTokenSecret(session.id, pair.oauth_token_secret);
    const url = new URL(authorizationUrl);
    url.searchParams.set('oauth_token', pair.oauth_token);
    const scopes = splitScopes(config.oauth_scopes);
    if (scopes.length > 0) url.searchParams.set('scope', scopes.join(template.scope_separator ?? ' '));
    for (const [key, value] of Object.entries({ ...authorizationParams, ...request.authorizationParams })) url.searchParams.set(key, value);
    return url.toString();
  }

  /** Handles the provider's redirect; never throws, never hangs: every path ends in a page that explains. */
  async complete(query: Record<string, string>): Promise<CallbackOutcome> {
    const state = query['state'];
    if (!state) {
      return pageOnly('missing_state', 'This sign-in link is incomplete', 'The provider sent the browser back without the "state" parameter, so this sign-in cannot be matched to a request. Close this window and start again.');
    }
    if (!STATE_PATTERN.test(state)) {
      return pageOnly('invalid_state', 'This sign-in link is not valid', 'The "state" parameter is not one this server issued. Close this window and start again.');
    }
    const consumed = await this.deps.sessions.consume(state);
    // Neither case reaches a WebSocket: a used state's page already got its answer, an unknown one has no page.
    if (consumed.status === 'used') {
      return pageOnly(
        'state_already_used',
        'This sign-in was already completed',
        'This page was opened a second time (a reload, or the back button) after the sign-in had finished; its first result stands. If the connection did not appear, close this window and start again.',
      );
    }
    if (consumed.status === 'unknown') {
      return pageOnly(
        'unknown_state',
        'This sign-in is unknown',
        'The "state" of this page was never issued by this server, or its sign-in expired and was cleaned up. Close this window and start again.',
      );
    }
    const { session } = consumed;
    try {
      if (session.expiresAt.getTime() < this.now().getTime()) {
        throw new FlowError('state_err', 'This sign-in took too long and expired. Close this window and start again.');
      }
      const config = await this.deps.configs.find(session.providerConfigKey);
      if (!config) throw new FlowError('provider_config_err', `The integration "${session.providerConfigKey}" was deleted while the sign-in was in progress.`);
      const template = this.deps.providers.get(config.provider);
      if (!template) throw new FlowError('unknown_config_key', `The provider "${config.provider}" is no longer in the catalog.`);
      const credentials = session.authMode === 'OAUTH1' ? await this.completeOAuth1(session, config, template, query) : await this.completeOAuth2(session, config, template, query);
      const metadata = pickStrings(query, template.redirect_uri_metadata);
      const tokenMetadata = pickStrings(credentials.raw as Record<string, unknown>, template.token_response_metadata);
      const existed = (await this.deps.connections.find(session.providerConfigKey, session.connectionId)) !== undefined;
      await this.deps.connections.upsert({
        provider_config_key: session.providerConfigKey,
        connection_id: session.connectionId,
        credentials,
        connection_config: { ...session.connectionConfig, ...metadata, ...tokenMetadata },
        metadata: { ...metadata, ...tokenMetadata },
        ...(session.endUser ? { end_user: session.endUser } : {}),
        ...(session.tags ? { tags: session.tags } : {}),
        ...(session.webhookUrlOverride ? { webhook_url_override: session.webhookUrlOverride } : {}),
      });
      await this.deps.audit.record([
        {
          action: existed ? 'connection.reauthorize' : 'connection.create',
          route: 'GET /oauth/callback',
          principal: session.endUser ? `end_user:${session.endUser.id}` : 'end_user (popup)',
          providerConfigKey: session.providerConfigKey,
          connectionId: session.connectionId,
          details: { auth_mode: template.auth_mode },
        },
      ]);
      this.deps.signals.oauthFlowFinished(config.provider, true);
      this.deps.signals.authSucceeded({
        operation: existed ? 'override' : 'creation',
        connectionId: session.connectionId,
        providerConfigKey: session.providerConfigKey,
        provider: config.provider,
        authMode: template.auth_mode,
        endUser: session.endUser,
        tags: session.tags,
      });
      this.deps.log.info(`OAuth flow succeeded: connection "${session.connectionId}" of integration "${session.providerConfigKey}" stored.`);
      if (session.wsClientId) {
        await this.notify(session.wsClientId, { message_type: 'success', provider_config_key: session.providerConfigKey, connection_id: session.connectionId, is_pending: false });
      }
      return {
        outcome: 'success',
        status: 200,
        title: 'Connected',
        message: 'The connection was authorised. You can close this window.',
        protocol: protocolOf(session),
        providerConfigKey: session.providerConfigKey,
        connectionId: session.connectionId,
      };
    } catch (error) {
      const flowError = this.asFlowError(error, session.providerConfigKey);
      this.deps.signals.oauthFlowFinished(session.provider, false);
      this.deps.log.debug(`OAuth flow error for integration "${session.providerConfigKey}" and connection "${session.connectionId}": ${flowError.type} - ${flowError.message}`);
      if (session.wsClientId) await this.notify(session.wsClientId, this.errorMessage(session.providerConfigKey, session.connectionId, flowError));
      return {
        outcome: 'error',
        status: flowError.status,
        title: 'The connection could not be made',
        message: flowError.message,
        protocol: protocolOf(session),
        providerConfigKey: session.providerConfigKey,
        connectionId: session.connectionId,
        errorType: flowError.type,
      };
    }
  }

  private async completeOAuth2(session: OAuthSession, config: ConfigRecord, template: ProviderTemplate, query: Record<string, string>) {
    if (query['error'] || query['error_description']) {
      const details = { error: query['error'], error_description: query['error_description'] ?? query['error_reason'], error_uri: query['error_uri'] };
      const providerError = new ProviderError('rejected', '', { ...(details.error ? { error: details.error } : {}), ...(details.error_description ? { error_description: details.error_description } : {}) });
      this.warnWithAdvice(providerError, config, template);
      const words = [details.error, details.error_description].filter(Boolean).join(': ');
      throw new FlowError('callback_err', `The provider returned an error: ${words}.`);
    }
    const code = query['code'];
    if (!code) throw new FlowError('callback_err', 'The provider sent the browser back without an authorization code.');
    const tokenUrl = this.interpolateUrl(template.token_url ?? '', 'token_url', session.connectionConfig);
    const agent = this.agentFor(template, template.token_url ?? '', tokenUrl, config);
    const params: Record<string, string> = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: session.callbackUrl,
      ...this.filledParams(template, 'token_params', session.connectionConfig),
    };
    if (session.codeVerifier) params['code_verifier'] = session.codeVerifier;
    const client = session.clientOverride ?? { clientId: config.oauth_client_id ?? '', clientSecret: config.oauth_client_secret ?? '' };
    try {
      const raw = await requestToken({ url: tokenUrl, agent, params, ...client, template, timeoutMs: this.deps.providerTimeoutMs });
      const credentials = oauth2CredentialsFrom(raw, this.now());
      // Kept with the (encrypted) credentials: refreshing this connection needs the same app.
      return session.clientOverride
        ? { ...credentials, oauth_client_id_override: session.clientOverride.clientId, oauth_client_secret_override: session.clientOverride.clientSecret }
        : credentials;
    } catch (error) {
      if (error instanceof ProviderError) {
        this.warnWithAdvice(error, config, template);
        throw new FlowError('token_err', error.publicMessage, 502);
      }
      throw asFlowRefusal(error);
    }
  }

  private async completeOAuth1(session: OAuthSession, config: ConfigRecord, template: ProviderTemplate, query: Record<string, string>) {
    const token = query['oauth_token'];
    const verifier = query['oauth_verifier'];
    if (query['denied'] || !token || !verifier) {
      throw new FlowError('callback_err', query['denied'] ? 'The user declined the authorisation.' : 'The provider sent the browser back without oauth_token and oauth_verifier.');
    }
    const tokenUrl = this.oauth1Target(template, template.token_url ?? '', 'token_url', session.connectionConfig, config);
    try {
      const pair = await fetchAccessToken(this.oauth1Client(config, template), tokenUrl, token, session.requestTokenSecret ?? '', verifier);
      return { type: 'OAUTH1' as const, oauth_token: pair.oauth_token, oauth_token_secret: pair.oauth_token_secret, raw: pair.raw };
    } catch (error) {
      if (error instanceof ProviderError) {
        this.warnWithAdvice(error, config, template);
        throw new FlowError('token_err', error.publicMessage, 502);
      }
      throw asFlowRefusal(error);
    }
  }

  private oauth1Client(config: ConfigRecord, template: ProviderTemplate) {
    return { clientId: config.oauth_client_id ?? '', clientSecret: config.oauth_client_secret ?? '', template, timeoutMs: this.deps.providerTimeoutMs };
  }

  /** How the server reaches one of the template's URLs: through the outbound host guard when the connection chose its host. */
  private agentFor(template: ProviderTemplate, templateText: string, url: string, config: ConfigRecord) {
    try {
      return this.deps.hosts.agentFor(template, templateText, new URL(url), config);
    } catch (error) {
      throw asFlowRefusal(error);
    }
  }

  private oauth1Target(template: ProviderTemplate, templateText: string, key: string, connectionConfig: Record<string, unknown>, config: ConfigRecord): OAuth1Target {
    const url = this.interpolateUrl(templateText, key, connectionConfig);
    return { url, agent: this.agentFor(template, templateText, url, config) };
  }

  private interpolateUrl(template: string, key: string, connectionConfig: Record<string, unknown>): string {
    const { value, missing } = interpolate(template, { connectionConfig });
    if (missing.length > 0) {
      const names = missing.map((name) => name.replace(/^connectionConfig\.(params\.)?/, ''));
      throw new FlowError('url_param_err', `The provider's ${key} needs the connection parameter${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')}; pass ${names.map((n) => `params[${n}]`).join(', ')}.`);
    }
    try {
      return new URL(value).toString();
    } catch {
      throw new FlowError('url_param_err', `The provider's ${key} is not a valid URL once filled in.`);
    }
  }

  /** Authorization or token parameters of the template, filled in; a missing connection parameter is named. */
  private filledParams(template: ProviderTemplate, key: TemplateParamsKey, connectionConfig: Record<string, unknown>): Record<string, string> {
    const { params, missing } = templateParams(template, key, connectionConfig);
    if (missing.length > 0) throw new FlowError('url_param_err', missingParamsMessage(key, missing));
    return params;
  }

  private warnWithAdvice(error: ProviderError, config: ConfigRecord, template: ProviderTemplate): void {
    logProviderFailure(this.deps.log, error, { integration: config.unique_key, provider: template.display_name, callbackUrl: this.deps.config.callbackUrl });
  }

  private asFlowError(error: unknown, providerConfigKey: string): FlowError {
    if (error instanceof FlowError) return error;
    this.deps.log.error({ err: error }, `Unexpected error in the OAuth flow of integration "${providerConfigKey}".`);
    return new FlowError('unknown_err', 'An unexpected error stopped the authorisation; see the server log.', 500);
  }

  private errorMessage(providerConfigKey: string, connectionId: string, error: FlowError): FlowMessage {
    return { message_type: 'error', provider_config_key: providerConfigKey, connection_id: connectionId, error_type: error.type, error_desc: error.message };
  }

  private async notify(wsClientId: string, message: FlowMessage): Promise<void> {
    try {
      await this.deps.delivery.deliver(wsClientId, message);
    } catch (error) {
      this.deps.log.warn({ err: error }, 'Could not deliver an OAuth result to the waiting page.');
    }
  }
}

function pageOnly(type: string, title: string, message: string): CallbackOutcome {
  return { outcome: 'error', status: 400, title, message, protocol: 'modern', errorType: type };
}

function protocolOf(session: OAuthSession): CallbackOutcome['protocol'] {
  if (!session.wsClientId) return 'legacy';
  return session.clientProtocol;
}

/** A refused host, in the flow's terms (the page and the WebSocket name the rule and the setting). */
function asFlowRefusal(error: unknown): never {
  if (error instanceof ApiError && error.code === 'connection_host_not_allowed') {
    throw new FlowError(error.code, error.message, error.status);
  }
  throw error;
}

function splitScopes(scopes: string | null): string[] {
  return (scopes ?? '').split(',').map((scope) => scope.trim()).filter(Boolean);
}

/** Whitelisted string fields (dotted paths allowed) copied from a provider's answer into the connection. */
function pickStrings(source: Record<string, unknown>, fields: string[] | undefined): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const field of fields ?? []) {
    let value: unknown = source;
    for (const part of field.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    if (typeof value === 'string' || typeof value === 'number') picked[field] = String(value);
  }
  return picked;
}
