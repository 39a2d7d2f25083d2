import type http from 'node:http';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { isProtocolParameter, oauth1Authorization, type OAuth1Consumer } from './oauth1-signature.js';
import { redactProviderAnswer } from './provider-error.js';
import { callProvider, ProviderError } from './token-endpoint.js';

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

/** A URL of the provider and the agent to reach it with (the outbound host guard's when the connection chose the host). */
export interface OAuth1Target {
  url: string;
  agent: http.Agent | undefined;
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
export async function fetchRequestToken(client: OAuth1Client, target: OAuth1Target, callbackUrl: string): Promise<OAuth1TokenPair> {
  const templateParams = Object.entries(client.template.request_params ?? {});
  const protocolParams = Object.fromEntries(templateParams.filter(([name]) => isProtocolParameter(name)));
  const url = new URL(target.url);
  for (const [name, value] of templateParams) if (!isProtocolParameter(name)) url.searchParams.set(name, value);
  return signedTokenCall(client, url, target.agent, client.template.request_http_method ?? 'POST', { ...protocolParams, oauth_callback: callbackUrl }, undefined);
}

export async function fetchAccessToken(client: OAuth1Client, target: OAuth1Target, requestToken: string, requestTokenSecret: string, verifier: string): Promise<OAuth1TokenPair> {
  const token = { key: requestToken, secret: requestTokenSecret };
  return signedTokenCall(client, new URL(target.url), target.agent, client.template.token_http_method ?? 'POST', { oauth_verifier: verifier }, token);
}

/** One token call; its protocol parameters travel only in the Authorization header (RFC 5849 §3.5). */
async function signedTokenCall(
  client: OAuth1Client,
  target: URL,
  agent: http.Agent | undefined,
  method: string,
  protocolParams: Record<string, string>,
  token: { key: string; secret: string } | undefined,
): Promise<OAuth1TokenPair> {
  const authorization = oauth1Authorization(oauth1Consumer(client), { method, url: target, token, protocolParams });
  const response = await callProvider(
    { url: target, method, headers: { authorization, accept: 'application/x-www-form-urlencoded, application/json' }, timeoutMs: client.timeoutMs, maxResponseBytes: 1024 * 1024, agent },
    'The provider',
  );
  const text = response.body.toString('utf8').trim();
  const raw = parseOAuth1Body(text);
  if (response.status >= 400 || !raw['oauth_token'] || !raw['oauth_token_secret']) {
    // OAuth Problem Reporting (oauth_problem, oauth_problem_advice), or OAuth 2-style error and error_description:
    // the code names the problem; the provider's words reach the operator's debug log only, redacted.
    const code = raw['oauth_problem'] ?? raw['error'];
    const problem = code !== undefined && /^[A-Za-z0-9_.:-]{1,64}$/.test(code) ? code : `HTTP ${response.status}`;
    const advice = raw['oauth_problem_advice'] ?? raw['error_description'];
    throw new ProviderError(
      'rejected',
      `The provider refused the OAuth 1.0a token request: ${problem}.`,
      { status: response.status, ...(code ? { error: code } : {}), ...(advice ? { error_description: advice } : {}) },
      text ? redactProviderAnswer(text) : undefined,
    );
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
