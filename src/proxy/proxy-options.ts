import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../errors.js';
import { proxyError } from './proxy-errors.js';

/** What a proxied call asks for, read from the headers both SDK generations send. */
export interface ProxyOptions {
  connectionId: string;
  providerConfigKey: string;
  /** Extra attempts after the first (`Retries`), at most MAX_RETRIES. */
  retries: number;
  /** Statuses retried besides 429 and 5xx (`Retry-On: 404,409`). */
  retryOn: number[];
  /** `Base-Url-Override`; an empty header means none. */
  baseUrlOverride: string | undefined;
  /** `Decompress: true|false`; undefined leaves the template's choice. */
  decompress: boolean | undefined;
  /** `Nango-Proxy-<Name>: v` headers, as `<name>: v` (lower-case names), plus the incoming Content-Type. */
  forwardedHeaders: Record<string, string>;
}

export const MAX_RETRIES = 10;
const FORWARD_PREFIX = 'nango-proxy-';

/**
 * Headers a caller cannot set upstream through `Nango-Proxy-*`: message framing and connection management
 * belong to the proxy's own HTTP client. They are dropped quietly (clients set Content-Length out of habit).
 */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'expect', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate']);

export function readProxyOptions(headers: IncomingHttpHeaders): ProxyOptions {
  const connectionId = single(headers, 'connection-id');
  if (connectionId === undefined || connectionId === '') throw proxyError('missing_connection_id', 'The header "Connection-Id" is required: the id of the connection whose credentials the proxy uses.');
  const providerConfigKey = single(headers, 'provider-config-key');
  if (providerConfigKey === undefined || providerConfigKey === '') throw proxyError('missing_provider_config_key', 'The header "Provider-Config-Key" is required: the unique key of the integration the connection belongs to.');
  checkIdentifier('Connection-Id', connectionId);
  checkIdentifier('Provider-Config-Key', providerConfigKey);
  const overrideText = single(headers, 'base-url-override');
  return {
    connectionId,
    providerConfigKey,
    retries: readRetries(single(headers, 'retries')),
    retryOn: readRetryOn(single(headers, 'retry-on')),
    baseUrlOverride: overrideText === undefined || overrideText === '' ? undefined : overrideText,
    decompress: readBooleanHeader('Decompress', single(headers, 'decompress')),
    forwardedHeaders: readForwardedHeaders(headers),
  };
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim();
}

function checkIdentifier(header: string, value: string): void {
  if (value.length > 255) throw new ApiError('invalid_headers', `The header "${header}" must be at most 255 characters.`);
}

function readRetries(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (!/^\d{1,6}$/.test(value)) throw new ApiError('invalid_headers', `The header "Retries" must be a whole number from 0 to ${MAX_RETRIES} (got "${value}").`);
  // Larger values are capped rather than refused: an SDK caller asking for 20 retries still gets a working call.
  return Math.min(Number(value), MAX_RETRIES);
}

function readRetryOn(value: string | undefined): number[] {
  if (value === undefined || value === '') return [];
  const statuses = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  for (const status of statuses) {
    if (!/^\d{3}$/.test(status) || Number(status) < 100 || Number(status) > 599) {
      throw new ApiError('invalid_headers', `The header "Retry-On" must be a comma-separated list of HTTP statuses, such as "404,409" (got "${value}").`);
    }
  }
  return statuses.map(Number);
}

function readBooleanHeader(header: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const word = value.toLowerCase();
  if (word === 'true') return true;
  if (word === 'false') return false;
  throw new ApiError('invalid_headers', `The header "${header}" must be "true" or "false" (got "${value}").`);
}

function readForwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const forwarded: Record<string, string> = {};
  const contentType = single(headers, 'content-type');
  if (contentType) forwarded['content-type'] = contentType;
  for (const name in headers) {
    const value = headers[name];
    if (!name.startsWith(FORWARD_PREFIX) || value === undefined) continue;
    const upstreamName = name.slice(FORWARD_PREFIX.length);
    if (upstreamName === '' || NOT_FORWARDED.has(upstreamName)) continue;
    if (upstreamName === 'host') {
      throw new ApiError('invalid_headers', 'The header "Nango-Proxy-Host" cannot be forwarded: the upstream host comes from the provider template (or an allowed Base-Url-Override).');
    }
    forwarded[upstreamName] = Array.isArray(value) ? value.join(', ') : value;
  }
  return forwarded;
}
