import type { FastifyBaseLogger } from 'fastify';
import type { Dispatcher } from 'undici';
import type { Logger } from '../logger.js';
import { ApiError } from '../errors.js';
import { HostRefusedError } from '../net/outbound-host-guard.js';
import { type ExchangeAbort, UpstreamAbort } from './exchange-abort.js';
import { proxyError } from './proxy-errors.js';
import { UpstreamAnswer } from './upstream-answer.js';
import type { UpstreamBody } from './request-body.js';
import { backoffMs, isRetryableStatus, retryDelayMs, type RetryRules } from './retry-policy.js';
import type { UpstreamPlan } from './upstream-target.js';

/**
 * One proxied exchange with the upstream API, up to its response headers: retries, same-origin redirects
 * and the deadline. Sent with undici's dispatcher rather than fetch: bytes pass through untouched (fetch
 * always decompresses and would make `Decompress: false` impossible), any method token is sent as is and
 * request bodies stream without `duplex` quirks. undici adds only Host and Connection, and refuses the
 * hop-by-hop headers readProxyOptions never forwards.
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
  response: UpstreamAnswer;
  url: URL;
  attempts: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TRANSIENT_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);
/** Methods that change nothing: a kept-alive socket the upstream closed as the request went out may be tried once more. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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
      let response: UpstreamAnswer;
      try {
        response = await sendOnce(prepared.url, method, prepared.headers, body, plan.dispatcher, abort, arm);
      } catch (error) {
        if (abort.aborted) throw abortError(abort.reason, input.timeoutMs);
        if (error instanceof HostRefusedError) throw error;
        const failure = error as NodeJS.ErrnoException;
        if (failure.code === CLIENT_BODY_ERROR) throw new ApiError('bad_request', 'The request body could not be read: the client closed the connection while sending it.');
        if (failure.code === 'UND_ERR_INVALID_ARG' || failure.code === 'UND_ERR_NOT_SUPPORTED') {
          throw new ApiError('bad_request', `The request could not be sent upstream: ${failure.message}.`);
        }
        // A kept-alive socket the upstream closed as the request went out: a request that changes nothing goes once more.
        if (replayable && SAFE_METHODS.has(method) && failure.code === 'UND_ERR_SOCKET' && !staleSocketRetried) {
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
      const status = response.statusCode;
      // Built only when written: the described URL is string work every proxied call would pay for nothing.
      if (log.isLevelEnabled('debug')) log.debug({ upstream: plan.describe(prepared.url), method, status, attempt: attempt + 1 }, 'Proxy: upstream answered.');

      const location = response.headers['location'];
      if (REDIRECTS.has(status) && (method === 'GET' || method === 'HEAD') && typeof location === 'string' && location && plan.followsRedirects && redirects < input.maxRedirects) {
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
 * One HTTP request. A streamed body restarts the deadline at every chunk sent and at its end (`progress`), so a
 * large upload is bounded by inactivity, and the wait for the answer starts once the upload is complete.
 */
function sendOnce(url: URL, method: string, headers: Record<string, string>, body: UpstreamBody, dispatcher: Dispatcher, abort: ExchangeAbort, progress: () => void): Promise<UpstreamAnswer> {
  const answer = new UpstreamAnswer(body.kind === 'stream' ? progress : undefined);
  // The headers of this attempt are its own (UpstreamPlan.prepare builds them per attempt): framing goes in place.
  // undici frames buffers itself and streams of unknown length as chunked.
  if (body.kind === 'stream') {
    if (body.length !== undefined) headers['content-length'] = String(body.length);
    // Told apart from an upstream failure: the client's own body broke (it went away while sending it).
    body.stream.once('error', () => answer.abort(Object.assign(new Error('The request body could not be read from the client.'), { code: CLIENT_BODY_ERROR })));
  }
  abort.onAbort((reason) => answer.abort(reason));
  dispatcher.dispatch(
    {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method,
      headers,
      body: body.kind === 'buffer' ? body.data : body.kind === 'stream' ? body.stream : null,
    },
    answer,
  );
  return answer.arrived;
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

function discard(response: UpstreamAnswer): void {
  response.discard();
}
