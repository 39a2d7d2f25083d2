import type { ProviderTemplate } from '../providers/provider-schema.js';
import { isProtocolParameter, oauth1Authorization, type OAuth1Consumer } from './oauth1-signature.js';
import { ProviderError } from './token-endpoint.js';

/**
 * OAuth 1.0a (RFC 5849): request token → user authorisation → access token, signed with the template's
 * method (HMAC-SHA1 by default, RSA-SHA1 with the client secret as the PEM private key, or PLAINTEXT).
 */
export interface OAuth1Client {
  clientId: string;
  clientSecret: string;
  template: ProviderTemplate;
  timeoutMs: number;
}

export interface OAuth1TokenPair {
  oauth_token: string;
  oauth_token_secret: string;
  raw: Record<string, string>;
}

export function oauth1Consumer(client: Pick<OAuth1Client, 'clientId' | 'clientSecret' | 'template'>): OAuth1Consumer {
  return { key: client.clientId, secret: client.clientSecret, method: client.template.signature_method ?? 'HMAC-SHA1' };
}

/**
 * The template's `request_params` go where its provider documents them: `oauth_`-prefixed ones are protocol
 * parameters and join the others in the Authorization header; the rest (Twitter's `x_auth_access_type`) go
 * in the query string. `oauth_callback` is always ours.
 */
export async function fetchRequestToken(client: OAuth1Client, url: string, callbackUrl: string): Promise<OAuth1TokenPair> {
  const templateParams = Object.entries(client.template.request_params ?? {});
  const protocolParams = Object.fromEntries(templateParams.filter(([name]) => isProtocolParameter(name)));
  const target = new URL(url);
  for (const [name, value] of templateParams) if (!isProtocolParameter(name)) target.searchParams.set(name, value);
  return signedTokenCall(client, target, client.template.request_http_method ?? 'POST', { ...protocolParams, oauth_callback: callbackUrl }, undefined);
}

export async function fetchAccessToken(client: OAuth1Client, url: string, requestToken: string, requestTokenSecret: string, verifier: string): Promise<OAuth1TokenPair> {
  return signedTokenCall(client, new URL(url), client.template.token_http_method ?? 'POST', { oauth_verifier: verifier }, { key: requestToken, secret: requestTokenSecret });
}

/** One token call; its protocol parameters travel only in the Authorization header (RFC 5849 §3.5). */
async function signedTokenCall(
  client: OAuth1Client,
  target: URL,
  method: string,
  protocolParams: Record<string, string>,
  token: { key: string; secret: string } | undefined,
): Promise<OAuth1TokenPair> {
  const authorization = oauth1Authorization(oauth1Consumer(client), { method, url: target, token, protocolParams });
  let response: Response;
  try {
    response = await fetch(target, { method, headers: { authorization, accept: 'application/x-www-form-urlencoded, application/json' }, signal: AbortSignal.timeout(client.timeoutMs) });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new ProviderError('timeout', `The provider did not answer within ${Math.round(client.timeoutMs / 1000)} s.`);
    throw new ProviderError('unreachable', `The provider could not be reached (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}).`);
  }
  const text = (await response.text()).trim();
  const raw = parseOAuth1Body(text);
  if (!response.ok || !raw['oauth_token'] || !raw['oauth_token_secret']) {
    // OAuth Problem Reporting (oauth_problem, oauth_problem_advice), or OAuth 2-style error and error_description.
    const problem = raw['oauth_problem'] ?? raw['error'] ?? (text.slice(0, 120) || `HTTP ${response.status}`);
    const advice = raw['oauth_problem_advice'] ?? raw['error_description'];
    throw new ProviderError('rejected', `The provider refused the OAuth 1.0a token request: ${problem}${advice ? ` (${advice.slice(0, 200)})` : ''}.`, {
      status: response.status,
      ...(raw['oauth_problem'] ? { error: raw['oauth_problem'] } : {}),
    });
  }
  return { oauth_token: raw['oauth_token'], oauth_token_secret: raw['oauth_token_secret'], raw };
}

function parseOAuth1Body(text: string): Record<string, string> {
  if (text.startsWith('{')) {
    try {
      const value = JSON.parse(text) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, String(entry)]));
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}
