import type http from 'node:http';
import type { ClientTlsOptions } from '../net/client-tls.js';
import { RequestTimeout, ResponseTooLarge, sendBoundedRequest, type BoundedResponse } from '../net/bounded-request.js';
import { HostRefusedError } from '../net/outbound-host-guard.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { withProviderNames } from './param-names.js';
import { ProviderError, redactProviderAnswer, type ProviderErrorDetails } from './provider-error.js';
import { publishProviderDate } from './provider-dates.js';

/**
 * Talking to a provider's token endpoint: the request (client authentication and body format per template)
 * and the answer, whatever shape it comes in: JSON, form-encoded, an HTTP 200 that carries an error
 * (Slack's `{ok:false}`), or a token nested one level down. Redirects are refused, never followed.
 */
export { ProviderError } from './provider-error.js';

export interface TokenRequest {
  url: string | URL;
  /** The outbound host guard's agent when the connection chose the host; undefined for a host the template fixes. */
  agent?: http.Agent | undefined;
  /** The connection's client certificate, for a provider that requires mutual TLS on its token endpoint. */
  tls?: ClientTlsOptions | undefined;
  params: Record<string, string>;
  clientId: string;
  clientSecret: string;
  template: Pick<ProviderTemplate, 'authorization_method' | 'body_format' | 'token_request_auth_method' | 'token_http_method' | 'token_param_names' | 'token_response_success'>;
  timeoutMs: number;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export async function requestToken(request: TokenRequest): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'custody-oauth-server' };
  let params: Record<string, string> = { ...request.params };
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(request.clientId)}:${encodeURIComponent(request.clientSecret)}`).toString('base64')}`;
  if (request.template.authorization_method === 'header') {
    headers['authorization'] = basic;
  } else {
    params['client_id'] = request.clientId;
    params['client_secret'] = request.clientSecret;
    if (request.template.token_request_auth_method === 'basic') headers['authorization'] = basic;
  }
  params = withProviderNames(params, request.template.token_param_names);
  let body: string;
  if (request.template.body_format === 'json') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(params);
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(params).toString();
  }
  const url = new URL(request.url);
  if (request.tls && url.protocol !== 'https:') throw new ProviderError('garbage', 'The provider requires a client certificate, which only an https:// token URL can carry; fix the token_url in the provider template.');
  const response = await callProvider(
    { url, method: request.template.token_http_method ?? 'POST', headers, body, timeoutMs: request.timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES, agent: request.agent, tls: request.tls },
    "The provider's token endpoint",
  ).catch((error: unknown) => {
    // A provider that refuses a client certificate ends the TLS handshake: say so, rather than only "reset".
    if (request.tls && error instanceof ProviderError && error.kind === 'unreachable') {
      throw new ProviderError('unreachable', `${error.message.replace(/\.$/, '')}: it requires a TLS client certificate and may have refused this one (not signed by it, expired or revoked).`, error.details);
    }
    throw error;
  });
  const parsed = parseTokenResponse(response);
  const failure = describeProviderFailure(parsed, response.status) ?? describeUnmetSuccess(parsed, response.status, request.template.token_response_success);
  if (failure) throw new ProviderError('rejected', failure.message, failure.details, redactProviderAnswer(response.body.toString('utf8')));
  return parsed;
}

/** One exchange with a provider, its failures as ProviderErrors; a refused host stays a HostRefusedError. */
export async function callProvider(request: Parameters<typeof sendBoundedRequest>[0], what: string): Promise<BoundedResponse> {
  let response: BoundedResponse;
  const sentAt = Date.now();
  try {
    response = await sendBoundedRequest(request);
    // The provider's clock, for the clock-drift watch (src/custody/clock-drift.ts).
    publishProviderDate(request.url, response.headers.date, Date.now() - sentAt);
  } catch (error) {
    if (error instanceof HostRefusedError) throw error;
    if (error instanceof RequestTimeout) throw new ProviderError('timeout', `${what} did not answer within ${Math.round(request.timeoutMs / 1000)} s.`);
    if (error instanceof ResponseTooLarge) throw new ProviderError('garbage', `${what} answered more than ${request.maxResponseBytes / 1024 / 1024} MiB.`);
    throw new ProviderError('unreachable', `${what} could not be reached (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
  }
  if (response.status >= 300 && response.status < 400) {
    throw new ProviderError('garbage', `${what} answered with a redirect (HTTP ${response.status}), which this server does not follow; check the URL in the provider template.`, { status: response.status });
  }
  return response;
}

function parseTokenResponse(response: BoundedResponse): Record<string, unknown> {
  const text = response.body.toString('utf8').trim();
  const contentType = String(response.headers['content-type'] ?? '');
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
  // The body itself is never part of the message: it goes to the debug log, redacted.
  throw new ProviderError(
    'garbage',
    `The provider answered HTTP ${response.status} with a body that is not a token response${text ? ` (${contentType.split(';')[0] || 'no content type'}, ${response.body.length} bytes)` : ' (empty)'}.`,
    { status: response.status },
    text ? redactProviderAnswer(text) : undefined,
  );
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

/**
 * A provider that answers HTTP 200 to every request and says in the body whether it succeeded (TikTok's
 * `{code: 40131, message: "Authorization code is expired."}`): the answer is a refusal unless each field the
 * template's `token_response_success` names holds its value.
 */
function describeUnmetSuccess(body: Record<string, unknown>, status: number, success: Record<string, string> | undefined): { message: string; details: ProviderErrorDetails } | undefined {
  const unmet = Object.entries(success ?? {}).find(([field, expected]) => String(body[field]) !== expected);
  if (!unmet) return undefined;
  const [field] = unmet;
  const code = typeof body[field] === 'string' || typeof body[field] === 'number' ? String(body[field]) : undefined;
  const description = asString(body['message']) ?? asString(body['error_description']) ?? asString(body['error_message']);
  const details: ProviderErrorDetails = { status, ...(code ? { error: code } : {}), ...(description ? { error_description: description } : {}) };
  const words = [code ? `${field} ${code}` : `no ${field}`, description].filter(Boolean).join(': ');
  return { message: `The provider refused the token request: ${words}.`, details };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
