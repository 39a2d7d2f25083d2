import { createHmac, createSign } from 'node:crypto';
import OAuth from 'oauth-1.0a';
import type { ProviderTemplate } from '../providers/provider-schema.js';
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

export function signer(client: Pick<OAuth1Client, 'clientId' | 'clientSecret' | 'template'>): OAuth {
  const method = client.template.signature_method ?? 'HMAC-SHA1';
  return new OAuth({
    consumer: { key: client.clientId, secret: client.clientSecret },
    signature_method: method,
    hash_function: (base, key) => {
      if (method === 'PLAINTEXT') return key;
      if (method === 'RSA-SHA1') return createSign('RSA-SHA1').update(base).sign(client.clientSecret, 'base64');
      return createHmac('sha1', key).update(base).digest('base64');
    },
  });
}

export async function fetchRequestToken(client: OAuth1Client, url: string, callbackUrl: string): Promise<OAuth1TokenPair> {
  const params = { ...(client.template.request_params ?? {}), oauth_callback: callbackUrl };
  return signedTokenCall(client, url, client.template.request_http_method ?? 'POST', params, undefined);
}

export async function fetchAccessToken(client: OAuth1Client, url: string, requestToken: string, requestTokenSecret: string, verifier: string): Promise<OAuth1TokenPair> {
  return signedTokenCall(client, url, client.template.token_http_method ?? 'POST', { oauth_verifier: verifier }, { key: requestToken, secret: requestTokenSecret });
}

async function signedTokenCall(
  client: OAuth1Client,
  url: string,
  method: string,
  params: Record<string, string>,
  token: OAuth.Token | undefined,
): Promise<OAuth1TokenPair> {
  const oauth = signer(client);
  const authorization = oauth.toHeader(oauth.authorize({ url, method, data: params }, token));
  const target = new URL(url);
  // Parameters travel in the query string; the signature covers them wherever they are.
  for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
  let response: Response;
  try {
    response = await fetch(target, { method, headers: { ...authorization, accept: 'application/x-www-form-urlencoded, application/json' }, signal: AbortSignal.timeout(client.timeoutMs) });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new ProviderError('timeout', `The provider did not answer within ${Math.round(client.timeoutMs / 1000)} s.`);
    throw new ProviderError('unreachable', `The provider could not be reached (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}).`);
  }
  const text = (await response.text()).trim();
  const raw = parseOAuth1Body(text);
  if (!response.ok || !raw['oauth_token'] || !raw['oauth_token_secret']) {
    const problem = raw['oauth_problem'] ?? raw['error'] ?? (text.slice(0, 120) || `HTTP ${response.status}`);
    throw new ProviderError('rejected', `The provider refused the OAuth 1.0a token request: ${problem}.`, { status: response.status, ...(raw['oauth_problem'] ? { error: raw['oauth_problem'] } : {}) });
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
