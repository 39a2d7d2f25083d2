import type { ConnectionHosts, HostPinnedIntegration } from '../net/connection-hosts.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { asFlowRefusal, FlowError } from './flow-error.js';
import { filledUrl, flowAgent } from './flow-template.js';
import { fetchAccessToken, fetchRequestToken, type OAuth1Client, type OAuth1Target, type OAuth1TokenPair } from './oauth1-client.js';
import { ProviderError } from './token-endpoint.js';

/**
 * The legs of OAuth 1.0a (RFC 5849 §2): a temporary credential (request token), the resource owner's
 * authorization in the browser, and the token credentials for the verifier. Signing is oauth1-signature.ts.
 */

export interface OAuth1Leg {
  template: ProviderTemplate;
  integration: HostPinnedIntegration;
  hosts: Pick<ConnectionHosts, 'agentFor'>;
  connectionConfig: Record<string, unknown>;
  client: OAuth1Client;
}

/** RFC 5849 §2.1: the flow starts at the provider's temporary credential endpoint, which the template must name. */
export function assertRequestUrl(template: ProviderTemplate, provider: string): string {
  if (!template.request_url) throw new FlowError('provider_config_err', `The OAuth 1.0a provider "${provider}" has no request_url.`);
  return template.request_url;
}

/** RFC 5849 §2.1: a request token whose callback carries the flow's state. */
export async function obtainRequestToken(leg: OAuth1Leg, target: OAuth1Target, callbackWithState: string): Promise<OAuth1TokenPair> {
  try {
    return await fetchRequestToken(leg.client, target, callbackWithState);
  } catch (error) {
    if (error instanceof ProviderError) throw new FlowError('token_err', `Getting a request token failed: ${error.publicMessage}`, 'provider_failed', error);
    throw asFlowRefusal(error);
  }
}

/** RFC 5849 §2.2: the resource owner authorization URL, with the request token. */
export function oauth1AuthorizationUrl(authorizationUrl: string, requestToken: string, scopes: string[], scopeSeparator: string, extraParams: Record<string, string>): string {
  const url = new URL(authorizationUrl);
  url.searchParams.set('oauth_token', requestToken);
  if (scopes.length > 0) url.searchParams.set('scope', scopes.join(scopeSeparator));
  for (const [key, value] of Object.entries(extraParams)) url.searchParams.set(key, value);
  return url.toString();
}

/** RFC 5849 §2.2: the provider sends back the request token and its verifier once the user has authorised. */
export function assertUserAuthorised(query: Record<string, string>): { token: string; verifier: string } {
  const token = query['oauth_token'];
  const verifier = query['oauth_verifier'];
  if (query['denied'] || !token || !verifier) {
    throw new FlowError('callback_err', query['denied'] ? 'The user declined the authorisation.' : 'The provider sent the browser back without oauth_token and oauth_verifier.');
  }
  return { token, verifier };
}

/** RFC 5849 §2.3: the token credentials for the authorised request token. */
export async function exchangeVerifier(leg: OAuth1Leg, authorised: { token: string; verifier: string }, requestTokenSecret: string): Promise<OAuth1TokenPair> {
  const target = oauth1Target(leg, leg.template.token_url ?? '', 'token_url');
  try {
    return await fetchAccessToken(leg.client, target, authorised.token, requestTokenSecret, authorised.verifier);
  } catch (error) {
    if (error instanceof ProviderError) throw new FlowError('token_err', error.publicMessage, 'provider_failed', error);
    throw asFlowRefusal(error);
  }
}

/** One of the provider's URLs, filled in, with the agent to call it through. */
export function oauth1Target(leg: OAuth1Leg, templateText: string, key: string): OAuth1Target {
  const url = filledUrl(templateText, key, leg.connectionConfig);
  return { url, agent: flowAgent(leg.hosts, leg.template, templateText, url, leg.integration) };
}
