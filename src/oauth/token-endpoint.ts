import type { ProviderTemplate } from '../providers/provider-schema.js';

/**
 * Talking to a provider's token endpoint: the request (client authentication and body format per template)
 * and the answer, whatever shape it comes in: JSON, form-encoded, an HTTP 200 that carries an error
 * (Slack's `{ok:false}`), or a token nested one level down.
 */
export type ProviderFailureKind = 'rejected' | 'unreachable' | 'timeout' | 'garbage';

export interface ProviderErrorDetails {
  status?: number;
  error?: string;
  error_description?: string;
  error_uri?: string;
}

export class ProviderError extends Error {
  override name = 'ProviderError';

  constructor(
    readonly kind: ProviderFailureKind,
    message: string,
    readonly details: ProviderErrorDetails = {},
  ) {
    super(message);
  }
}

export interface TokenRequest {
  url: string;
  params: Record<string, string>;
  clientId: string;
  clientSecret: string;
  template: Pick<ProviderTemplate, 'authorization_method' | 'body_format' | 'token_request_auth_method' | 'token_http_method'>;
  timeoutMs: number;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export async function requestToken(request: TokenRequest): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'custody-oauth-server' };
  const params: Record<string, string> = { ...request.params };
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(request.clientId)}:${encodeURIComponent(request.clientSecret)}`).toString('base64')}`;
  if (request.template.authorization_method === 'header') {
    headers['authorization'] = basic;
  } else {
    params['client_id'] = request.clientId;
    params['client_secret'] = request.clientSecret;
    if (request.template.token_request_auth_method === 'basic') headers['authorization'] = basic;
  }
  let body: string;
  if (request.template.body_format === 'json') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(params);
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(params).toString();
  }

  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.template.token_http_method ?? 'POST',
      headers,
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new ProviderError('timeout', `The provider's token endpoint did not answer within ${Math.round(request.timeoutMs / 1000)} s.`);
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new ProviderError('unreachable', `The provider's token endpoint could not be reached (${cause?.code ?? cause?.message ?? (error as Error).message}).`);
  }
  const parsed = await parseTokenResponse(response);
  const failure = describeProviderFailure(parsed, response.status);
  if (failure) throw new ProviderError('rejected', failure.message, failure.details);
  return parsed;
}

async function parseTokenResponse(response: Response): Promise<Record<string, unknown>> {
  const buffer = Buffer.from(await response.arrayBuffer());
  if (buffer.length > MAX_RESPONSE_BYTES) throw new ProviderError('garbage', 'The provider answered a token response larger than 1 MiB.', { status: response.status });
  const text = buffer.toString('utf8').trim();
  const contentType = response.headers.get('content-type') ?? '';
  if (contentType.includes('json') || text.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // fall through to the garbage error below
    }
  } else if (/^[\w.%-]+=[^&]*(&[\w.%-]+=[^&]*)*$/.test(text)) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  const preview = text.slice(0, 120).replace(/\s+/g, ' ');
  throw new ProviderError('garbage', `The provider answered HTTP ${response.status} with a body that is not a token response${preview ? `: "${preview}"` : ' (empty)'}.`, {
    status: response.status,
  });
}

function describeProviderFailure(body: Record<string, unknown>, status: number): { message: string; details: ProviderErrorDetails } | undefined {
  const errorField = body['error'];
  const hasError = status >= 400 || body['ok'] === false || (errorField !== undefined && errorField !== null && errorField !== '');
  if (!hasError) return undefined;
  const errorObject = typeof errorField === 'object' && errorField !== null ? (errorField as Record<string, unknown>) : undefined;
  const code = typeof errorField === 'string' ? errorField : asString(errorObject?.['code']) ?? asString(errorObject?.['type']);
  const description =
    asString(body['error_description']) ?? asString(errorObject?.['message']) ?? asString(body['message']) ?? asString(body['error_message']);
  const details: ProviderErrorDetails = {
    status,
    ...(code ? { error: code } : {}),
    ...(description ? { error_description: description } : {}),
    ...(asString(body['error_uri']) ? { error_uri: asString(body['error_uri']) } : {}),
  };
  const words = [code, description].filter(Boolean).join(': ') || `HTTP ${status}`;
  return { message: `The provider refused the token request: ${words}.`, details };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export interface OAuth2Credentials {
  type: 'OAUTH2';
  access_token: string;
  refresh_token?: string;
  expires_at?: string;
  raw: Record<string, unknown>;
  /** The end user's own OAuth app, when the connection was made with one: refreshes must use it too. */
  oauth_client_id_override?: string;
  oauth_client_secret_override?: string;
}

/**
 * The stored credentials of a token response. A refresh response without a refresh token keeps the previous
 * one (most providers only send it once, or only when they rotate it), and the previous client override.
 */
export function oauth2CredentialsFrom(raw: Record<string, unknown>, now: Date, previous?: OAuth2Credentials): OAuth2Credentials {
  const source = tokenHolder(raw);
  const accessToken = asString(source['access_token']);
  if (!accessToken) throw new ProviderError('garbage', 'The provider answered without an access_token.');
  const refreshToken = asString(source['refresh_token']) ?? previous?.refresh_token;
  const expiresIn = Number(source['expires_in'] ?? raw['expires_in'] ?? source['expires'] ?? NaN);
  const expiresAt = Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(now.getTime() + expiresIn * 1000).toISOString() : undefined;
  return {
    type: 'OAUTH2',
    access_token: accessToken,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    ...(expiresAt ? { expires_at: expiresAt } : {}),
    raw,
    ...(previous?.oauth_client_id_override ? { oauth_client_id_override: previous.oauth_client_id_override, oauth_client_secret_override: previous.oauth_client_secret_override ?? '' } : {}),
  };
}

/** Where the token is: at the top, or (Slack user tokens, Withings' `body`, a few others) inside one nested object. */
function tokenHolder(raw: Record<string, unknown>): Record<string, unknown> {
  if (asString(raw['access_token'])) return raw;
  for (const key of ['authed_user', 'data', 'token', 'result', 'body']) {
    const nested = raw[key];
    if (typeof nested === 'object' && nested !== null && asString((nested as Record<string, unknown>)['access_token'])) {
      return nested as Record<string, unknown>;
    }
  }
  return raw;
}
