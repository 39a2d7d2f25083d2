import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { ApiError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { audit } from '../../plugins/audit-trail.js';
import type { ProviderCatalog } from '../../providers/provider-catalog.js';
import { isAllowedHost } from '../../proxy/allowed-hosts.js';
import { proxyError } from '../../proxy/proxy-errors.js';
import { readProxyOptions } from '../../proxy/proxy-options.js';
import { bufferUpTo, readAll, type UpstreamBody } from '../../proxy/request-body.js';
import { decoderFor, readWholeBody, relayBody, relayedHeaders, isSmallWholeBody } from '../../proxy/response-relay.js';
import { DEFAULT_RETRY_TIMING } from '../../proxy/retry-policy.js';
import { ExchangeAbort, UpstreamAbort } from '../../proxy/exchange-abort.js';
import { exchange, type LevelCheckedLogger } from '../../proxy/upstream-client.js';
import { parseHttpUrl, planUpstream } from '../../proxy/upstream-target.js';
import type { ConnectionHosts } from '../../net/connection-hosts.js';
import type { ConnectionService } from '../../services/connection-service.js';
import { VERSION } from '../../version.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

export interface ProxyRouteDeps {
  connections: ConnectionService;
  providers: ProviderCatalog;
  /** Where a connection may send its credentials (pinned host, outbound host guard). */
  hosts: Pick<ConnectionHosts, 'dispatcherFor' | 'directDispatcher' | 'clientTls'>;
  /** Hosts `Base-Url-Override` may point at (`host`, `host:port`, `*.domain`); empty refuses every override. */
  allowedBaseUrlOverrideHosts: string[];
  /** Deadline for the upstream's response headers (all attempts and waits), and the longest silence while its body streams. */
  timeoutMs: number;
  logger: Logger;
  /** Request bodies up to this size are held in memory so retries can resend them (default 1 MiB); larger ones stream once. */
  retryBodyLimitBytes?: number;
  /** Longest wait an upstream may ask for with Retry-After before its answer is passed back as is (default 10 s). */
  maxRetryWaitMs?: number;
  /** First backoff step, doubled per retry (default 100 ms), and its cap (default 5 s). */
  retryBaseDelayMs?: number;
  maxRetryBackoffMs?: number;
}

export const DEFAULT_RETRY_BODY_LIMIT_BYTES = 1024 * 1024;
/** Form-encoded bodies an OAuth 1.0a signature must cover are read whole, up to this size. */
const SIGNED_FORM_LIMIT_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;

/** Methods beyond Fastify's defaults that WebDAV/CalDAV APIs use; all may carry a body. */
const EXTRA_METHODS = ['PROPFIND', 'PROPPATCH', 'REPORT', 'MKCOL', 'MKCALENDAR', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH'];
/** Echoing methods would hand the caller the credentials the proxy adds. */
const REFUSED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT']);
const BODYLESS_METHODS = new Set(['GET', 'HEAD']);

/**
 * `ALL /proxy/*`: the caller names a connection (`Connection-Id`, `Provider-Config-Key`) and the proxy sends
 * the request to the provider's API with that connection's credentials, streaming both bodies.
 */
export function registerProxyRoutes(scope: FastifyInstance, deps: ProxyRouteDeps): void {
  const userAgent = `custody-proxy/${VERSION}`;
  // The same two objects for every call: the plan merges them once per connection (src/proxy/upstream-target.ts).
  const defaultHeaders: DefaultHeaders = {
    plain: Object.freeze({ 'user-agent': userAgent }),
    // When the proxy decodes the body anyway, it may as well ask for a compressed one (unless told otherwise).
    decoding: Object.freeze({ 'user-agent': userAgent, 'accept-encoding': 'gzip, deflate, br' }),
  };
  if (deps.allowedBaseUrlOverrideHosts.length > 0) {
    deps.logger.info({ hosts: deps.allowedBaseUrlOverrideHosts }, 'Proxy: Base-Url-Override is allowed for these hosts.');
  }
  // Bodies are relayed as streams: binary-safe, never parsed, not held to the JSON body limit.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  for (const method of EXTRA_METHODS) {
    if (!scope.supportedMethods.includes(method)) scope.addHttpMethod(method, { hasBody: true });
  }
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => proxy(request, reply, deps, defaultHeaders);
  // The query string is the upstream's, forwarded as it is.
  scope.all('/proxy', READS_QUERY, handler);
  scope.all('/proxy/*', READS_QUERY, handler);
}

/** Headers the proxy sends unless the credentials, the template or the caller set them, with and without asking for compression. */
interface DefaultHeaders {
  plain: Readonly<Record<string, string>>;
  decoding: Readonly<Record<string, string>>;
}

async function proxy(request: FastifyRequest, reply: FastifyReply, deps: ProxyRouteDeps, defaults: DefaultHeaders): Promise<FastifyReply> {
  const method = request.method.toUpperCase();
  if (REFUSED_METHODS.has(method)) throw new ApiError('method_not_allowed', `The proxy does not relay ${method} requests.`);
  const options = readProxyOptions(request.headers);
  const override = options.baseUrlOverride === undefined ? undefined : allowedOverride(options.baseUrlOverride, deps.allowedBaseUrlOverrideHosts);

  const { connection, config } = await deps.connections.getWithIntegration(options.providerConfigKey, options.connectionId);
  const template = deps.providers.get(config.provider);
  if (!template) throw new ApiError('unknown_provider_template', `The integration "${config.unique_key}" uses the provider "${config.provider}", which is not in the provider catalog.`);

  const { path, search } = splitProxyUrl(request.url);
  const decompress = options.decompress ?? template.proxy?.decompress ?? false;
  const defaultHeaders = decompress ? defaults.decoding : defaults.plain;
  const plan = planUpstream({ template, connection, config, baseUrlOverride: override, path, search, forwardedHeaders: options.forwardedHeaders, defaultHeaders, hosts: deps.hosts });

  const source = bodySource(request, method);
  let body: UpstreamBody = source ? { kind: 'stream', stream: source.stream, length: source.length } : { kind: 'none' };
  let formParams: URLSearchParams | undefined;
  if (source && plan.signsFormBody) {
    const data = await readAll(source.stream, SIGNED_FORM_LIMIT_BYTES).catch(unreadableBody);
    if (!data) throw new ApiError('payload_too_large', `Form-encoded bodies signed with OAuth 1.0a are limited to ${SIGNED_FORM_LIMIT_BYTES} bytes.`);
    body = { kind: 'buffer', data };
    formParams = new URLSearchParams(data.toString('utf8'));
  } else if (source && options.retries > 0) {
    const limit = deps.retryBodyLimitBytes ?? DEFAULT_RETRY_BODY_LIMIT_BYTES;
    // Declared larger than the limit: stream it once without reading ahead.
    if (source.length === undefined || source.length <= limit) {
      const prefix = await bufferUpTo(source.stream, limit).catch(unreadableBody);
      body = prefix.complete ? { kind: 'buffer', data: prefix.data } : { kind: 'stream', stream: prefix.stream, length: source.length };
    }
  }

  const abort = new ExchangeAbort();
  const clientGone = (): void => {
    if (!reply.raw.writableFinished) abort.abort(new UpstreamAbort('client_gone'));
  };
  if (reply.raw.destroyed) clientGone();
  else reply.raw.once('close', clientGone);
  const started = Date.now();
  // src/app/request-logger.ts: the app's request loggers are pino's, with its level check.
  const log = request.log as LevelCheckedLogger;
  const { response, url, attempts } = await exchange({
    method,
    plan,
    body,
    formParams,
    retries: body.kind === 'stream' ? 0 : options.retries,
    retryRules: {
      extraStatuses: options.retryOn,
      template: template.proxy?.retry,
      baseDelayMs: deps.retryBaseDelayMs ?? DEFAULT_RETRY_TIMING.baseDelayMs,
      maxBackoffMs: deps.maxRetryBackoffMs ?? DEFAULT_RETRY_TIMING.maxBackoffMs,
      maxWaitMs: deps.maxRetryWaitMs ?? DEFAULT_RETRY_TIMING.maxWaitMs,
    },
    timeoutMs: deps.timeoutMs,
    maxRedirects: MAX_REDIRECTS,
    abort,
    log,
  });
  const status = response.statusCode;
  if (status < 100 || status > 599) {
    response.abort(new Error('not an HTTP status'));
    throw proxyError('upstream_unreachable', `The upstream API answered with the status ${status}, which is not an HTTP status.`);
  }
  const upstream = plan.describe(url);
  if (log.isLevelEnabled('info')) {
    log.info({ upstream, method, status, attempts, ms: Date.now() - started, providerConfigKey: options.providerConfigKey, authMode: plan.authMode }, 'Proxy: relayed a request.');
  }
  audit(request, 'credentials.use', { providerConfigKey: options.providerConfigKey, connectionId: options.connectionId, details: { method, upstream, status } }, { evenOnError: true, beforeAnswer: false });

  const hasBody = method !== 'HEAD' && status !== 204 && status !== 304 && !(status >= 100 && status < 200);
  const decoder = decompress && hasBody ? decoderFor(headerValue(response.headers['content-encoding'])) : undefined;
  const readWhole = hasBody && !decoder && isSmallWholeBody(response.headers);
  // Read before the status and headers are set, so a body that breaks is answered with the proxy's own error.
  const whole = !readWhole ? undefined : response.complete ? response.wholeNow() : await readWholeBody(response, deps.timeoutMs, abort);
  reply.status(status);
  reply.headers(relayedHeaders(response.headers, decoder !== undefined));
  if (!hasBody) {
    response.discard();
    return reply.send();
  }
  return reply.send(whole ?? relayBody(response, decoder, deps.timeoutMs, abort));
}

/** The raw path after `/proxy` and the raw query string (`?…` or empty), exactly as the client sent them. */
function splitProxyUrl(rawUrl: string): { path: string; search: string } {
  const queryStart = rawUrl.indexOf('?');
  const pathPart = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  const search = queryStart === -1 ? '' : rawUrl.slice(queryStart);
  const path = pathPart.replace(/^\/proxy(?=\/|$)/, '');
  return { path, search: search === '?' ? '' : search };
}

function allowedOverride(value: string, allowed: string[]): URL {
  const url = parseHttpUrl(value, `The header "Base-Url-Override" must be an absolute http:// or https:// URL (got "${value}").`);
  if (url.username || url.password) throw new ApiError('invalid_headers', 'The header "Base-Url-Override" must not carry a user name or password.');
  if (!isAllowedHost(url, allowed)) {
    throw new ApiError(
      'invalid_headers',
      `Base-Url-Override to "${url.host}" is not allowed: the server operator must add this host to NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS, because the connection's credentials are sent to it.`,
    );
  }
  return url;
}

/** The request body as a stream, when there is one (GET and HEAD never forward a body). */
function bodySource(request: FastifyRequest, method: string): { stream: Readable; length: number | undefined } | undefined {
  if (BODYLESS_METHODS.has(method)) return undefined;
  const declared = headerValue(request.headers['content-length']);
  const chunked = request.headers['transfer-encoding'] !== undefined;
  if (!chunked && (declared === undefined || declared === '0')) return undefined;
  const stream = request.body instanceof Readable ? request.body : request.raw;
  const length = !chunked && declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
  return { stream, length };
}

function unreadableBody(): never {
  throw new ApiError('bad_request', 'The request body could not be read: the client closed the connection while sending it.');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
