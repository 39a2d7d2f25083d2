import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { BrowserConnect, BrowserFlow, BrowserStart } from '../credentials/browser-connect.js';
import { browserConnectOf, type StoredCredentials } from '../credentials/registry.js';
import { redactUrl, type Logger } from '../logger.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { asFlowRefusal, FlowError } from '../oauth/flow-error.js';
import { flowMetadata } from '../oauth/flow-metadata.js';
import { splitScopes } from '../oauth/flow-template.js';
import type { FlowMessage, ResultDelivery } from '../oauth/result-delivery.js';
import { connectionParameterProblem } from '../providers/connection-parameters.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import type { ConfigRecord, ConfigsStore } from '../store/configs-store.js';
import type { OAuthSession, OAuthSessionsStore } from '../store/oauth-sessions-store.js';
import type { ConnectAuthorizer, ConnectGrant } from './connect-authorizer.js';
import { ALLOW_CLIENT_OVERRIDE_FLAG, mergeConnectionParameters, urlValues } from './connection-parameter-sources.js';
import type { ConnectionService } from './connection-service.js';
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

/** Which client generation the page that opened the popup belongs to: it decides how the callback page reports. */
export type FlowProtocol = 'seed' | 'modern' | 'legacy';

export type StartOutcome = { kind: 'redirect'; url: string } | { kind: 'failed'; error: FlowError };

/** A callback's state that leads to no flow: the page explains, and no WebSocket is told. */
export type StateRefusal = 'missing_state' | 'invalid_state' | 'state_already_used' | 'unknown_state';

/** What a provider's callback came to; the route turns it into a status and a page. */
export type CallbackOutcome =
  | { kind: 'connected'; protocol: FlowProtocol; providerConfigKey: string; connectionId: string }
  | { kind: 'refused'; reason: StateRefusal }
  | { kind: 'failed'; protocol: FlowProtocol; providerConfigKey: string; connectionId: string; error: FlowError };

export interface OAuthFlowDeps {
  config: Pick<Config, 'callbackUrl'>;
  providers: ProviderCatalog;
  configs: ConfigsStore;
  connections: ConnectionService;
  sessions: OAuthSessionsStore;
  authorizer: ConnectAuthorizer;
  delivery: ResultDelivery;
  signals: ServerSignals;
  /** Where a connection may send the integration's secrets (pinned host, outbound host guard). */
  hosts: ConnectionHosts;
  log: Logger;
  providerTimeoutMs: number;
  now?: () => Date;
}

/** How long a started flow may wait for the provider's callback. */
export const OAUTH_SESSION_LIFETIME_MS = 30 * 60 * 1000;

const STATE_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The popup flow: `/oauth/connect` sends the user to the provider, `/oauth/callback` stores what comes back.
 * This orchestrates what every browser flow shares (who may connect, the session, storing the connection,
 * telling the waiting page); the protocol is the mode's (src/credentials/, src/oauth/).
 */
export class OAuthFlowService {
  private readonly now: () => Date;

  constructor(private readonly deps: OAuthFlowDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Where to send the popup; a failure is reported on the WebSocket too. */
  async start(request: ConnectRequest): Promise<StartOutcome> {
    try {
      return { kind: 'redirect', url: await this.startOrThrow(request) };
    } catch (error) {
      const flowError = this.asFlowError(error, request.providerConfigKey);
      await this.reportStartFailure(request.wsClientId ? [request.wsClientId] : [], request.providerConfigKey, request.connectionId ?? '', flowError);
      return { kind: 'failed', error: flowError };
    }
  }

  /**
   * A connect request that could not start: the page that opened the popup still learns why, on every
   * WebSocket the request names, so the SDK's promise never waits forever.
   */
  async reportStartFailure(wsClientIds: string[], providerConfigKey: string, connectionId: string, error: FlowError): Promise<void> {
    this.deps.log.debug(`OAuth flow error for integration "${providerConfigKey}" and connection "${connectionId}": ${error.type} - ${error.message}`);
    for (const wsClientId of wsClientIds) await this.notify(wsClientId, errorMessage(providerConfigKey, connectionId, error));
  }

  private async startOrThrow(request: ConnectRequest): Promise<string> {
    const { providerConfigKey } = request;
    const grant = await this.deps.authorizer.authorize(request);
    assertClientOverrideAllowedBySession(request, grant);
    const config = await this.deps.configs.find(providerConfigKey);
    if (!config) throw new FlowError('provider_config_err', `No integration has the key "${providerConfigKey}"; create it first.`, 'not_found');
    const template = this.deps.providers.get(config.provider);
    if (!template) throw new FlowError('unknown_config_key', `The integration "${providerConfigKey}" uses the provider "${config.provider}", which is not in the catalog.`);
    const browser = assertConnectsInBrowser(template, config.provider);
    if (request.clientOverride && !browser.acceptsClientOverride) {
      throw new FlowError('client_override_not_allowed', `An OAuth client override works with OAuth 2 integrations only; "${providerConfigKey}" uses ${template.auth_mode}.`);
    }
    if (!request.clientOverride) assertIntegrationHasClient(config);
    const connectionConfig = urlValues(mergeConnectionParameters(request.params, grant.defaults.connection_config, this.deps.hosts.pinnedValues(template, config)));
    const problem = connectionParameterProblem(template, connectionConfig);
    if (problem) throw new FlowError('url_param_err', problem);
    const flow = this.flowOf(template, config, connectionConfig, this.deps.config.callbackUrl, request.clientOverride ?? null);
    // Checked now, so a missing parameter or a refused host fails before the user is sent to the provider.
    const { authorizationUrl } = browser.prepare(flow);
    await this.deps.hosts.checkNewConnection(template, config, { connectionConfig }).catch(asFlowRefusal);
    this.deps.signals.oauthFlowStarted(config.provider);
    this.deps.log.info(
      `OAuth request - mode: ${template.auth_mode}, provider: ${config.provider}, key: ${providerConfigKey}, connection ID: ${grant.connectionId}, auth URL: ${redactUrl(authorizationUrl)}, callback URL: ${this.deps.config.callbackUrl}`,
    );
    const session: Omit<OAuthSession, 'id' | 'codeVerifier' | 'requestTokenSecret'> = {
      providerConfigKey,
      provider: config.provider,
      connectionId: grant.connectionId,
      callbackUrl: this.deps.config.callbackUrl,
      authMode: template.auth_mode,
      connectionConfig,
      wsClientId: request.wsClientId ?? null,
      clientProtocol: grant.protocol,
      expiresAt: new Date(this.now().getTime() + OAUTH_SESSION_LIFETIME_MS),
      endUser: grant.endUser,
      tags: grant.tags,
      webhookUrlOverride: grant.webhookUrlOverride,
      clientOverride: request.clientOverride ?? null,
    };
    const overrideScopes = grant.defaults.connection_config?.['oauth_scopes_override'];
    const start: BrowserStart = {
      authorizationUrl,
      integrationScopes: splitScopes(config.oauth_scopes),
      scopesOverride: typeof overrideScopes === 'string' ? splitScopes(overrideScopes) : undefined,
      userScopes: [...new Set([...splitScopes(grant.defaults.user_scopes ?? null), ...request.userScopes])],
      sessionAuthorizationParams: grant.defaults.authorization_params ?? {},
      requestAuthorizationParams: request.authorizationParams,
      openSession: async ({ codeVerifier }) => {
        const { id } = await this.deps.sessions.create({ ...session, codeVerifier, requestTokenSecret: null });
        return { state: id, keepRequestTokenSecret: (secret) => this.deps.sessions.setRequestTokenSecret(id, secret), discard: () => this.deps.sessions.discard(id) };
      },
    };
    return this.advisingOnRefusal(config, template, () => browser.start(flow, start));
  }

  /** Handles the provider's redirect; never throws, never hangs: every path ends in an outcome the route can show. */
  async complete(query: Record<string, string>): Promise<CallbackOutcome> {
    const state = query['state'];
    if (!state) return { kind: 'refused', reason: 'missing_state' };
    if (!STATE_PATTERN.test(state)) return { kind: 'refused', reason: 'invalid_state' };
    const consumed = await this.deps.sessions.consume(state);
    // Neither case reaches a WebSocket: a used state's page already got its answer, an unknown one has no page.
    if (consumed.status === 'used') return { kind: 'refused', reason: 'state_already_used' };
    if (consumed.status === 'unknown') return { kind: 'refused', reason: 'unknown_state' };
    const { session } = consumed;
    const where = { protocol: protocolOf(session), providerConfigKey: session.providerConfigKey, connectionId: session.connectionId };
    try {
      assertFlowNotExpired(session, this.now());
      const config = await this.deps.configs.find(session.providerConfigKey);
      if (!config) throw new FlowError('provider_config_err', `The integration "${session.providerConfigKey}" was deleted while the sign-in was in progress.`);
      const template = this.deps.providers.get(config.provider);
      if (!template) throw new FlowError('unknown_config_key', `The provider "${config.provider}" is no longer in the catalog.`);
      const browser = browserConnectOf(session.authMode);
      if (!browser) throw new FlowError('auth_mode_err', `This sign-in was started for ${session.authMode} credentials, which do not go through the OAuth popup.`);
      const flow = this.flowOf(template, config, session.connectionConfig, session.callbackUrl, session.clientOverride);
      const callback = { query, codeVerifier: session.codeVerifier, requestTokenSecret: session.requestTokenSecret };
      const { credentials, raw } = await this.advisingOnRefusal(config, template, () => browser.complete(flow, callback));
      await this.store(session, config, template, credentials, query, raw);
      this.deps.signals.oauthFlowFinished(config.provider, true);
      this.deps.log.info(`OAuth flow succeeded: connection "${session.connectionId}" of integration "${session.providerConfigKey}" stored.`);
      if (session.wsClientId) {
        await this.notify(session.wsClientId, { message_type: 'success', provider_config_key: session.providerConfigKey, connection_id: session.connectionId, is_pending: false });
      }
      return { kind: 'connected', ...where };
    } catch (error) {
      const flowError = this.asFlowError(error, session.providerConfigKey);
      this.deps.signals.oauthFlowFinished(session.provider, false);
      this.deps.log.debug(`OAuth flow error for integration "${session.providerConfigKey}" and connection "${session.connectionId}": ${flowError.type} - ${flowError.message}`);
      if (session.wsClientId) await this.notify(session.wsClientId, errorMessage(session.providerConfigKey, session.connectionId, flowError));
      return { kind: 'failed', ...where, error: flowError };
    }
  }

  /** The connection, with what the template keeps of the callback and of the token response, authorised in one transaction. */
  private async store(
    session: OAuthSession, config: ConfigRecord, template: ProviderTemplate, credentials: StoredCredentials, query: Record<string, string>, raw: Record<string, unknown>,
  ): Promise<void> {
    const metadata = flowMetadata(template, query, raw);
    await this.deps.connections.authorise(
      {
        providerConfigKey: session.providerConfigKey,
        connectionId: session.connectionId,
        credentials,
        connectionConfig: { ...session.connectionConfig, ...metadata },
        metadata,
        ...(session.endUser ? { endUser: session.endUser } : {}),
        ...(session.tags ? { tags: session.tags } : {}),
        ...(session.webhookUrlOverride ? { webhookUrlOverride: session.webhookUrlOverride } : {}),
      },
      {
        kind: 'connect',
        route: 'GET /oauth/callback',
        principal: session.endUser ? `end_user:${session.endUser.id}` : 'end_user (popup)',
        provider: config.provider,
        authMode: template.auth_mode,
      },
    );
  }

  private flowOf(template: ProviderTemplate, config: ConfigRecord, connectionConfig: Record<string, unknown>, callbackUrl: string, clientOverride: OAuthSession['clientOverride']): BrowserFlow {
    return {
      template,
      integration: config,
      client: clientOverride ?? { clientId: config.oauth_client_id ?? '', clientSecret: config.oauth_client_secret ?? '' },
      clientOverridden: clientOverride !== null,
      connectionConfig,
      callbackUrl,
      hosts: this.deps.hosts,
      timeoutMs: this.deps.providerTimeoutMs,
      now: this.now(),
    };
  }

  /** A provider's refusal tells the operator what to change (a warning with advice); the end user sees only the flow's message. */
  private async advisingOnRefusal<T>(config: ConfigRecord, template: ProviderTemplate, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof FlowError && error.providerError) {
        logProviderFailure(this.deps.log, error.providerError, { integration: config.unique_key, provider: template.display_name, callbackUrl: this.deps.config.callbackUrl });
      }
      throw error;
    }
  }

  private asFlowError(error: unknown, providerConfigKey: string): FlowError {
    if (error instanceof FlowError) return error;
    // A rule the request or the integration breaks (an RSA-SHA1 secret that is no private key) is not our fault.
    if (error instanceof ApiError && error.status < 500) return new FlowError(error.code, error.message, 'invalid');
    this.deps.log.error({ err: error }, `Unexpected error in the OAuth flow of integration "${providerConfigKey}".`);
    return new FlowError('unknown_err', 'An unexpected error stopped the authorisation; see the server log.', 'unexpected');
  }

  private async notify(wsClientId: string, message: FlowMessage): Promise<void> {
    try {
      await this.deps.delivery.deliver(wsClientId, message);
    } catch (error) {
      this.deps.log.warn({ err: error }, 'Could not deliver an OAuth result to the waiting page.');
    }
  }
}

/** An end user's own OAuth app is used only when the operator's connect session allows it for this integration. */
function assertClientOverrideAllowedBySession(request: ConnectRequest, grant: ConnectGrant): void {
  if (!request.clientOverride || grant.defaults.connection_config?.[ALLOW_CLIENT_OVERRIDE_FLAG] === true) return;
  const key = request.providerConfigKey;
  throw new FlowError(
    'client_override_not_allowed',
    `This server accepts credentials[oauth_client_id_override] and credentials[oauth_client_secret_override] only with a connect session that allows them for "${key}" (integrations_config_defaults.${key}.connection_config.${ALLOW_CLIENT_OVERRIDE_FLAG} = true).`,
    'refused',
  );
}

/** Only a mode that connects in the browser (its module has `browser`) goes through the popup. */
function assertConnectsInBrowser(template: ProviderTemplate, provider: string): BrowserConnect<StoredCredentials> {
  const browser = browserConnectOf(template.auth_mode);
  if (!browser) throw new FlowError('auth_mode_err', `The provider "${provider}" uses ${template.auth_mode}, which does not go through the OAuth popup.`);
  return browser;
}

/** The flow runs with the integration's OAuth app, which must be complete. */
function assertIntegrationHasClient(config: ConfigRecord): void {
  if (!config.oauth_client_id || !config.oauth_client_secret) {
    throw new FlowError('provider_config_err', `The integration "${config.unique_key}" has no client id or client secret; set them first.`);
  }
}

/** A flow's state is good for OAUTH_SESSION_LIFETIME_MS after it started. */
function assertFlowNotExpired(session: OAuthSession, now: Date): void {
  if (session.expiresAt.getTime() < now.getTime()) throw new FlowError('state_err', 'This sign-in took too long and expired. Close this window and start again.');
}

function errorMessage(providerConfigKey: string, connectionId: string, error: FlowError): FlowMessage {
  return { message_type: 'error', provider_config_key: providerConfigKey, connection_id: connectionId, error_type: error.type, error_desc: error.message };
}

function protocolOf(session: OAuthSession): FlowProtocol {
  if (!session.wsClientId) return 'legacy';
  return session.clientProtocol;
}
