import type { AuthMode } from '../credentials/auth-modes.js';
import type { FormConnect } from '../credentials/credential-mode.js';
import type { StoredCredentials } from '../credentials/registry.js';
import { ApiError, isErrorCode, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { FlowError } from '../oauth/flow-error.js';
import { ProviderError } from '../oauth/token-endpoint.js';
import { connectionParameterProblem } from '../providers/connection-parameters.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import type { ConfigsStore } from '../store/configs-store.js';
import type { ConnectAuthorizer, ConnectCredentials } from './connect-authorizer.js';
import { mergeConnectionParameters, separateConnectionCredentials } from './connection-parameter-sources.js';
import type { ConnectionService } from './connection-service.js';
import { logProviderFailure } from './provider-error-advice.js';

/** What the end user sent to one mode's connect route, checked by that route. */
export interface FormInput {
  mode: AuthMode;
  form: FormConnect<StoredCredentials>;
  body: unknown;
}

export interface CredentialConnectDeps {
  providers: ProviderCatalog;
  configs: ConfigsStore;
  connections: ConnectionService;
  authorizer: ConnectAuthorizer;
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
 * What each mode makes of its body is its module's (src/credentials/); this is what they share.
 */
export class CredentialConnectService {
  constructor(private readonly deps: CredentialConnectDeps) {}

  async connect(access: ConnectCredentials, params: Record<string, string>, input: FormInput): Promise<{ providerConfigKey: string; connectionId: string }> {
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
    const merged = mergeConnectionParameters(params, grant.defaults.connection_config, this.deps.hosts.pinnedValues(template, config));
    const { connectionConfig, connectionCredentials } = separateConnectionCredentials(template, merged);
    const problem = connectionParameterProblem(template, connectionConfig);
    if (problem) throw new ApiError('invalid_query_params', problem);
    // The proxy's base URL gets the credentials the end user typed: its host is checked as the token URL's is.
    await this.deps.hosts.checkNewConnection(template, config, { connectionConfig });
    const context = { template, integration: config, connectionConfig, connectionCredentials, hosts: this.deps.hosts, timeoutMs: this.deps.providerTimeoutMs, now: this.deps.now() };
    const credentials = await input.form.credentials(input.body, context).catch((error: unknown) => {
      if (!(error instanceof ProviderError)) throw error;
      logProviderFailure(this.deps.log, error, { integration: config.unique_key, provider: template.display_name, callbackUrl: this.deps.callbackUrl });
      // The end user reads this answer: the provider's error code, never its words.
      throw new ApiError('connection_test_failed', error.publicMessage);
    });
    await this.deps.connections.authorise(
      {
        providerConfigKey: config.unique_key,
        connectionId: grant.connectionId,
        credentials,
        connectionConfig,
        metadata: {},
        ...(grant.endUser ? { endUser: grant.endUser } : {}),
        ...(grant.tags ? { tags: grant.tags } : {}),
        // Only a session that names one sets it: a reconnect without one keeps the connection's own.
        ...(grant.webhookUrlOverride ? { webhookUrlOverride: grant.webhookUrlOverride } : {}),
      },
      {
        kind: 'connect',
        route: `POST (${template.auth_mode} connect)`,
        principal: grant.connectSessionId !== null ? `connect_session:${grant.connectSessionId}` : 'end_user (connection id)',
        provider: config.provider,
        authMode: template.auth_mode,
      },
    );
    return { providerConfigKey: config.unique_key, connectionId: grant.connectionId };
  }
}

function refusalCode(error: FlowError): ErrorCode {
  return isErrorCode(error.type) ? error.type : 'forbidden';
}
