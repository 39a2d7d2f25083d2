import type { HostPinnedIntegration, ConnectionHosts } from '../net/connection-hosts.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { asFlowRefusal, FlowError } from './flow-error.js';
import { filledParams, filledUrl, flowAgent } from './flow-template.js';
import { withProviderNames } from './param-names.js';
import { ProviderError, requestToken } from './token-endpoint.js';

/**
 * The two legs of an OAuth 2 authorization code flow (RFC 6749 §4.1) with PKCE (RFC 7636): the URL the
 * browser is sent to, and the exchange of the code the provider sends back. Each check is named after the
 * rule it enforces, and its error says which rule failed.
 */

/** The popup runs the authorization code grant; a template that asks the token endpoint for another cannot use it. */
export function assertAuthorizationCodeGrant(template: ProviderTemplate): void {
  const grantType = template.token_params?.['grant_type'];
  if (grantType !== undefined && grantType !== 'authorization_code') {
    throw new FlowError('grant_type_err', `The provider template asks for the grant type "${grantType}", which the popup flow cannot use.`);
  }
}

export interface AuthorizationRequest {
  /** The template's authorization URL, filled in. */
  authorizationUrl: string;
  clientId: string;
  callbackUrl: string;
  state: string;
  scopes: string[];
  /** Slack-style user scopes: a separate grant, never mixed into `scope`. */
  userScopes: string[];
  scopeSeparator: string;
  /** The template's, then the connect session's, then the request's `authorization_params` (the later wins). */
  extraParams: Record<string, string>[];
  /** The S256 challenge of the flow's verifier; undefined when the template disables PKCE. */
  codeChallenge: string | undefined;
  /** The template's `authorization_param_names`: the provider's names for OAuth's own parameters. */
  paramNames?: ProviderTemplate['authorization_param_names'];
}

/** The authorization request (RFC 6749 §4.1.1) as the URL the browser goes to. */
export function oauth2AuthorizationUrl(request: AuthorizationRequest): string {
  const url = new URL(request.authorizationUrl);
  const own: Record<string, string> = { response_type: 'code', client_id: request.clientId, redirect_uri: request.callbackUrl };
  if (request.scopes.length > 0) own['scope'] = request.scopes.join(request.scopeSeparator);
  const query = withProviderNames(own, request.paramNames);
  if (request.userScopes.length > 0) query['user_scope'] = request.userScopes.join(request.scopeSeparator);
  query['state'] = request.state;
  Object.assign(query, ...request.extraParams);
  if (request.codeChallenge) Object.assign(query, { code_challenge: request.codeChallenge, code_challenge_method: 'S256' });
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url.toString();
}

/** RFC 6749 §4.1.2.1: a callback carrying `error` is the provider's refusal, whatever else it carries. */
export function assertNoAuthorizationError(query: Record<string, string>): void {
  if (!query['error'] && !query['error_description']) return;
  const error = query['error'];
  const description = query['error_description'] ?? query['error_reason'];
  const refusal = new ProviderError('rejected', '', { ...(error ? { error } : {}), ...(description ? { error_description: description } : {}) });
  const words = [error, description].filter(Boolean).join(': ');
  throw new FlowError('callback_err', `The provider returned an error: ${words}.`, 'invalid', refusal);
}

/**
 * RFC 6749 §4.1.2: a successful callback carries the authorization code, as `code` or under the name the
 * template gives (`authorization_code_param_in_callback`: Amazon's `spapi_oauth_code`, TikTok's `auth_code`).
 */
export function assertCodePresent(query: Record<string, string>, parameter = 'code'): string {
  const code = query[parameter];
  if (!code) {
    throw new FlowError('callback_err', `The provider sent the browser back without an authorization code${parameter === 'code' ? '' : ` (the "${parameter}" parameter)`}.`);
  }
  return code;
}

export interface CodeExchange {
  template: ProviderTemplate;
  integration: HostPinnedIntegration;
  hosts: Pick<ConnectionHosts, 'agentFor'>;
  connectionConfig: Record<string, unknown>;
  code: string;
  /** The redirect URI the authorization request named (RFC 6749 §4.1.3: the same one). */
  callbackUrl: string;
  codeVerifier: string | null;
  client: { clientId: string; clientSecret: string };
  timeoutMs: number;
}

/** The access token request (RFC 6749 §4.1.3); the provider's answer as it came, or its refusal as the flow's. */
export async function exchangeAuthorizationCode(exchange: CodeExchange): Promise<Record<string, unknown>> {
  const { template, connectionConfig } = exchange;
  const tokenUrl = filledUrl(template.token_url ?? '', 'token_url', connectionConfig);
  const agent = flowAgent(exchange.hosts, template, template.token_url ?? '', tokenUrl, exchange.integration);
  const params: Record<string, string> = {
    grant_type: 'authorization_code',
    code: exchange.code,
    redirect_uri: exchange.callbackUrl,
    ...filledParams(template, 'token_params', connectionConfig),
  };
  if (exchange.codeVerifier) params['code_verifier'] = exchange.codeVerifier;
  try {
    return await requestToken({ url: tokenUrl, agent, params, ...exchange.client, template, timeoutMs: exchange.timeoutMs });
  } catch (error) {
    // The end user reads this answer: the provider's error code, never its words.
    if (error instanceof ProviderError) throw new FlowError('token_err', error.publicMessage, 'provider_failed', error);
    throw asFlowRefusal(error);
  }
}
