import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from '../logger.js';
import { ApiError } from '../errors.js';
import { HostRefusedError } from '../net/outbound-host-guard.js';
import { type ExchangeAbort, UpstreamAbort } from './exchange-abort.js';
import { proxyError } from './proxy-errors.js';
import type { UpstreamBody } from './request-body.js';
import { backoffMs, isRetryableStatus, retryDelayMs, type RetryRules } from './retry-policy.js';
import type { UpstreamPlan } from './upstream-target.js';

/**
 * One proxied exchange with the upstream API, up to its response headers: retries, same-origin redirects
 * and the deadline. Built on node:http/node:https rather than fetch: bytes pass through untouched (fetch
 * always decompresses and would make `Decompress: false` impossible), any method token is sent as is,
 * request bodies stream without `duplex` quirks, and no header is added or refused behind our back.
 */
export interface ExchangeInput {
  method: string;
  plan: UpstreamPlan;
  body: UpstreamBody;
  /** Form parameters an OAuth 1.0a signature covers (form-encoded bodies only). */
  formParams?: URLSearchParams | undefined;
  retries: number;
  retryRules: RetryRules;
  /** Deadline for the response headers, over every attempt and wait. */
  timeoutMs: number;
  maxRedirects: number;
  /** Shared with the upstream request: aborting it (client gone, stalled body) tears the exchange down. */
  abort: ExchangeAbort;
  log: LevelCheckedLogger;
}

/** A request's logger with pino's level check, so a line's fields are built only when it is written (the app's loggers are pino's). */
export type LevelCheckedLogger = FastifyBaseLogger & Pick<Logger, 'isLevelEnabled'>;

export interface ExchangeResult {
  response: IncomingMessage;
  url: URL;
  attempts: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TRANSIENT_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export async function exchange(input: ExchangeInput): Promise<ExchangeResult> {
  const { method, plan, body, abort, log } = input;
  const replayable = body.kind !== 'stream';
  let deadline = Date.now() + input.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  /**
   * (Re)starts the deadline: once at the start, and, for a streamed body, at every chunk sent and at its end
   * (an upstream may answer before the upload ends; from then on the body's progress no longer matters).
   */
  const arm = (): void => {
    if (settled) return;
    clearTimeout(timer);
    deadline = Date.now() + input.timeoutMs;
    timer = setTimeout(() => abort.abort(new UpstreamAbort('deadline')), input.timeoutMs);
  };
  arm();
  let url = plan.target;
  let attempt = 0;
  let redirects = 0;
  let staleSocketRetried = false;
  try {
    for (;;) {
      const prepared = plan.prepare(method, url, input.formParams);
      let response: IncomingMessage;
      try {
        response = await sendOnce(prepared.url, method, prepared.headers, body, { agent: plan.agent, tls: plan.tls }, abort, arm);
      } catch (error) {
        if (abort.aborted) throw abortError(abort.reason, input.timeoutMs);
        if (error instanceof HostRefusedError) throw error;
        const failure = error as NodeJS.ErrnoException & { reusedSocket?: boolean };
        if (failure.code === CLIENT_BODY_ERROR) throw new ApiError('bad_request', 'The request body could not be read: the client closed the connection while sending it.');
        // A kept-alive socket the upstream had already closed: the request never reached it, send it again.
        if (replayable && failure.reusedSocket && failure.code === 'ECONNRESET' && !staleSocketRetried) {
          staleSocketRetried = true;
          continue;
        }
        if (replayable && attempt < input.retries && TRANSIENT_ERRORS.has(failure.code ?? '')) {
          const wait = backoffMs(attempt, input.retryRules);
          if (Date.now() + wait < deadline) {
            log.info({ upstream: plan.describe(prepared.url), method, error: failure.code, attempt: attempt + 1, waitMs: wait }, 'Proxy: upstream unreachable, retrying.');
            await wait_(wait, abort, input.timeoutMs);
            attempt++;
            continue;
          }
        }
        throw proxyError('upstream_unreachable', `The upstream API at ${plan.describe(prepared.url.origin)} could not be reached (${failure.code ?? failure.message}).`);
      }
      const status = response.statusCode ?? 502;
      // Built only when written: the described URL is string work every proxied call would pay for nothing.
      if (log.isLevelEnabled('debug')) log.debug({ upstream: plan.describe(prepared.url), method, status, attempt: attempt + 1 }, 'Proxy: upstream answered.');

      const location = response.headers.location;
      if (REDIRECTS.has(status) && (method === 'GET' || method === 'HEAD') && location && plan.followsRedirects && redirects < input.maxRedirects) {
        const next = resolveLocation(location, prepared.url);
        // Only redirects that stay on the credentials' origin are followed; others go back to the caller as they came.
        if (next && next.origin === plan.origin) {
          discard(response);
          url = next;
          redirects++;
          continue;
        }
      }

      if (replayable && attempt < input.retries && isRetryableStatus(status, response.headers, input.retryRules)) {
        const wait = retryDelayMs(attempt, response.headers, input.retryRules, Date.now());
        if (wait !== undefined && Date.now() + wait < deadline) {
          log.info({ upstream: plan.describe(prepared.url), method, status, attempt: attempt + 1, waitMs: wait }, 'Proxy: retrying the upstream call.');
          discard(response);
          await wait_(wait, abort, input.timeoutMs);
          attempt++;
          continue;
        }
      }
      return { response, url: prepared.url, attempts: attempt + 1 };
    }
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

const CLIENT_BODY_ERROR = 'CUSTODY_CLIENT_BODY';

/**
 * One HTTP request. A streamed body restarts the deadline at every chunk and at its end (`progress`), so a
 * large upload is bounded by inactivity, and the wait for the answer starts once the upload is complete.
 */
function sendOnce(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: UpstreamBody,
  connection: Pick<UpstreamPlan, 'agent' | 'tls'>,
  abort: ExchangeAbort,
  progress: () => void,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    // The headers of this attempt are its own (UpstreamPlan.prepare builds them per attempt): framing goes in place.
    const framed = headers;
    if (body.kind === 'buffer') framed['content-length'] = String(body.data.length);
    else if (body.kind === 'stream') {
      if (body.length !== undefined) framed['content-length'] = String(body.length);
      else framed['transfer-encoding'] = 'chunked';
    } else if (BODY_METHODS.has(method)) framed['content-length'] = '0';
    const transport = url.protocol === 'https:' ? https : http;
    // Plain options rather than the URL, which node:http would convert on every call.
    // A client certificate's TLS options also key the agent's socket pool, so no socket is shared across certificates.
    const request = transport.request({ ...requestTarget(url), method, headers: framed, agent: connection.agent ?? transport.globalAgent, ...connection.tls });
    const stopListening = abort.onAbort((reason) => void request.destroy(reason));
    // Once the exchange is over its socket may serve another request: a later abort must not reach it.
    if (!request.destroyed) request.once('close', stopListening);
    // Persistent listener: a socket error after the response started must not become an uncaught exception.
    request.on('error', (error: Error) => reject(Object.assign(error, { reusedSocket: request.reusedSocket })));
    request.once('response', resolve);
    if (body.kind === 'buffer') request.end(body.data);
    else if (body.kind === 'stream') {
      body.stream.once('error', (error) => request.destroy(Object.assign(new Error('The request body could not be read from the client.', { cause: error }), { code: CLIENT_BODY_ERROR })));
      body.stream.pipe(request);
      body.stream.on('data', progress);
      body.stream.once('end', progress);
    } else request.end();
  });
}

/** What node:http needs of a URL: host, port and path, with IPv6 brackets removed as its own conversion does. */
function requestTarget(url: URL): { protocol: string; hostname: string; port: string; path: string } {
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { protocol: url.protocol, hostname, port: url.port, path: `${url.pathname}${url.search}` };
}

/** A retry's wait, cut short (and failed) by the exchange's abort. */
function wait_(ms: number, abort: ExchangeAbort, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stopListening();
      resolve();
    }, ms);
    const stopListening = abort.onAbort((reason) => {
      clearTimeout(timer);
      reject(abortError(reason, timeoutMs));
    });
  });
}

export function abortError(reason: unknown, timeoutMs: number): Error {
  // Nobody will read this answer; it only names the outcome in the request log.
  if (reason instanceof UpstreamAbort && reason.reason === 'client_gone') return proxyError('upstream_unreachable', 'The client closed its connection before the upstream API answered.');
  if (reason instanceof UpstreamAbort && reason.reason === 'idle') {
    return proxyError('upstream_timeout', `The upstream API stopped sending its response for ${formatSeconds(timeoutMs)}.`);
  }
  return proxyError('upstream_timeout', `The upstream API did not answer within ${formatSeconds(timeoutMs)}.`);
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function resolveLocation(location: string, base: URL): URL | undefined {
  try {
    return new URL(location, base);
  } catch {
    return undefined;
  }
}

function discard(response: IncomingMessage): void {
  response.on('error', () => undefined);
  response.resume();
}
