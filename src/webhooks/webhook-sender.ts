import { createHash, createHmac } from 'node:crypto';
import type { Logger } from '../logger.js';
import { VERSION } from '../version.js';

/**
 * Auth webhooks to the operator's app, in the shape modern Nango sends them (`NangoAuthWebhookBody` in
 * @nangohq/types, dist/webhooks/api.d.ts) and signed the way @nangohq/node's `verifyIncomingWebhookRequest`
 * checks them: `X-Nango-Hmac-Sha256: hex(HMAC-SHA256(signingKey, rawBody))`. Older receivers get
 * `X-Nango-Signature: hex(SHA-256(signingKey + rawBody))`, which the deprecated `verifyWebhookSignature` checks.
 *
 * Delivery is fire-and-forget: `send` returns at once and never throws; failures are retried with exponential
 * backoff and end in one warning line that names neither the body nor the key.
 */

/** What happened to a connection, as the services announce it. */
export interface AuthWebhookEvent {
  operation: 'creation' | 'override' | 'refresh';
  success: boolean;
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  authMode: string;
  endUser?: { endUserId: string; organizationId?: string; endUserEmail?: string | null; tags?: Record<string, string> } | null;
  tags?: Record<string, string>;
  error?: { type: string; description: string };
}

/** The JSON body, field for field `NangoAuthWebhookBodySuccess | NangoAuthWebhookBodyError` of @nangohq/types 0.71. */
export interface AuthWebhookBody {
  from: 'nango';
  type: 'auth';
  operation: AuthWebhookEvent['operation'];
  success: boolean;
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  authMode: string;
  environment: string;
  endUser?: { endUserId: string; organizationId?: string; endUserEmail?: string | null; tags: Record<string, string> };
  tags?: Record<string, string>;
  error?: { type: string; description: string };
}

export interface WebhookSenderOptions {
  /** NANGO_WEBHOOK_URL; without one `send` does nothing. */
  url: string | undefined;
  /** NANGO_WEBHOOK_SECRET, by default NANGO_SECRET_KEY; without one webhooks go unsigned. */
  signingKey: string | undefined;
  logger: Logger;
  /** Attempts per webhook, the first included (default 5). */
  maxAttempts?: number;
  /** Wait before the first retry; doubled before each further one (default 200 ms). */
  initialDelayMs?: number;
  /** How long one attempt may take before it counts as failed (default 10 s). */
  timeoutMs?: number;
  /** The `environment` field of the body (default 'prod', the environment a self-hosted Nango key belongs to). */
  environment?: string;
}

export const WEBHOOK_DEFAULTS = { maxAttempts: 5, initialDelayMs: 200, timeoutMs: 10_000, environment: 'prod' } as const;

/** Where one webhook goes: basic credentials moved out of the URL into a header, and a form safe to log. */
interface WebhookTarget {
  url: string;
  logUrl: string;
  authorization: string | undefined;
}

type AttemptResult = { delivered: true } | { delivered: false; retry: boolean; reason: string };

export class WebhookSender {
  private readonly target: WebhookTarget | undefined;
  private readonly signingKey: string | undefined;
  private readonly logger: Logger;
  private readonly maxAttempts: number;
  private readonly initialDelayMs: number;
  private readonly timeoutMs: number;
  private readonly environment: string;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private warnedUnsignedOverride = false;

  constructor(options: WebhookSenderOptions) {
    this.logger = options.logger;
    this.signingKey = options.signingKey || undefined;
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts));
    this.initialDelayMs = Math.max(0, options.initialDelayMs ?? WEBHOOK_DEFAULTS.initialDelayMs);
    this.timeoutMs = Math.max(1, options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs);
    this.environment = options.environment ?? WEBHOOK_DEFAULTS.environment;
    this.target = options.url ? parseTarget(options.url) : undefined;
    if (options.url && !this.target) {
      this.logger.warn('NANGO_WEBHOOK_URL is not an absolute http:// or https:// URL; auth webhooks are disabled.');
    }
    if (this.target && !this.signingKey) {
      this.logger.warn(
        `Auth webhooks to ${this.target.logUrl} are sent UNSIGNED: set NANGO_WEBHOOK_SECRET (or NANGO_SECRET_KEY) so your app can verify them with verifyIncomingWebhookRequest.`,
      );
    }
  }

  /** Whether NANGO_WEBHOOK_URL is configured and the sender is not closed (connections' own URLs aside). */
  get enabled(): boolean {
    return this.target !== undefined && !this.stopping.signal.aborted;
  }

  /**
   * Queues one auth webhook; returns at once and never throws. `overrideUrl` is the connection's own webhook
   * URL (`webhook_url_override`), or a lookup of it: when it names one, the webhook goes there instead of
   * NANGO_WEBHOOK_URL, as modern Nango routes a connection's webhooks; when the lookup fails, NANGO_WEBHOOK_URL.
   */
  send(event: AuthWebhookEvent, overrideUrl?: string | null | PromiseLike<string | null | undefined>): void {
    try {
      // Settled first, so a failed lookup is never an unhandled rejection, even when nothing is sent.
      const override = Promise.resolve(overrideUrl).then(
        (url) => ({ url, failed: false }),
        () => ({ url: undefined, failed: true }),
      );
      if (this.stopping.signal.aborted || (!this.target && !overrideUrl)) return;
      const what = describe(event);
      const rawBody = stringifyStable(buildAuthWebhookBody(event, this.environment));
      const delivery = override
        .then(({ url, failed }) => {
          if (failed) this.logger.warn(`The webhook URL override of ${what} could not be read; the webhook goes to NANGO_WEBHOOK_URL, if one is set.`);
          const target = url ? this.overrideTarget(url) : this.target;
          return target && !this.stopping.signal.aborted ? this.deliver(target, rawBody, what) : undefined;
        })
        .catch((error: unknown) => this.logger.warn(`Auth webhook (${what}) was not delivered: ${error instanceof Error ? error.name : 'unexpected error'}.`))
        .finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    } catch {
      try {
        this.logger.warn('An auth webhook could not be prepared; it is dropped.');
      } catch {
        // logging itself failed: nothing more to do, and the caller must not notice
      }
    }
  }

  /** Resolves when every webhook sent so far has been delivered or given up (retries included). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Stops: later `send`s are ignored, no retry is started, waits between retries end now. An attempt already
   * on the wire may finish (it is bounded by the timeout); the promise resolves when all have settled.
   */
  async close(): Promise<void> {
    this.stopping.abort();
    await this.drain();
  }

  /** A connection's own URL; checked when it was stored, checked again here since a row may predate that check. */
  private overrideTarget(raw: string): WebhookTarget | undefined {
    const target = parseTarget(raw);
    if (!target) {
      this.logger.warn('A connection\'s webhook_url_override is not an absolute http:// or https:// URL; its auth webhook is dropped.');
      return undefined;
    }
    if (!this.signingKey && !this.warnedUnsignedOverride) {
      this.warnedUnsignedOverride = true;
      this.logger.warn('Auth webhooks to a connection\'s webhook_url_override are sent UNSIGNED: set NANGO_WEBHOOK_SECRET (or NANGO_SECRET_KEY).');
    }
    return target;
  }

  private async deliver(target: WebhookTarget, rawBody: string, what: string): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `custody-server/${VERSION} (nango-compatible webhooks)`,
    };
    if (this.signingKey) {
      headers['X-Nango-Hmac-Sha256'] = createHmac('sha256', this.signingKey).update(rawBody).digest('hex');
      headers['X-Nango-Signature'] = createHash('sha256').update(`${this.signingKey}${rawBody}`).digest('hex');
    }
    if (target.authorization) headers['authorization'] = target.authorization;

    let attempts = 0;
    let reason = '';
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1 && !(await this.pause(this.initialDelayMs * 2 ** (attempt - 2)))) {
        reason += '; the sender was closed before the next retry';
        break;
      }
      attempts = attempt;
      const result = await this.attempt(target.url, headers, rawBody);
      if (result.delivered) {
        if (attempt > 1) this.logger.info(`Auth webhook (${what}) delivered to ${target.logUrl} at attempt ${attempt}.`);
        return;
      }
      reason = result.reason;
      if (!result.retry) break;
    }
    this.logger.warn(`Auth webhook (${what}) to ${target.logUrl} was not delivered after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}.`);
  }

  private async attempt(url: string, headers: Record<string, string>, rawBody: string): Promise<AttemptResult> {
    try {
      const response = await fetch(url, { method: 'POST', headers, body: rawBody, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
      await response.body?.cancel().catch(() => undefined);
      const status = response.status;
      if (status >= 200 && status < 300) return { delivered: true };
      if (status >= 500 || status === 429) return { delivered: false, retry: true, reason: `the receiver answered ${status}` };
      if (status >= 300 && status < 400) return { delivered: false, retry: false, reason: `the receiver answered ${status} (a redirect; webhooks do not follow redirects, configure the final URL)` };
      return { delivered: false, retry: false, reason: `the receiver answered ${status} (not retried)` };
    } catch (error) {
      return { delivered: false, retry: true, reason: networkReason(error, this.timeoutMs) };
    }
  }

  /** Waits, unless the sender is closed meanwhile; true when the wait ran its course. */
  private pause(ms: number): Promise<boolean> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The body modern Nango sends for an auth event; optional fields are left out rather than set to null. */
export function buildAuthWebhookBody(event: AuthWebhookEvent, environment: string = WEBHOOK_DEFAULTS.environment): AuthWebhookBody {
  const body: AuthWebhookBody = {
    from: 'nango',
    type: 'auth',
    operation: event.operation,
    success: event.success,
    connectionId: event.connectionId,
    providerConfigKey: event.providerConfigKey,
    provider: event.provider,
    authMode: event.authMode,
    environment,
  };
  if (event.endUser) {
    body.endUser = {
      endUserId: event.endUser.endUserId,
      ...(event.endUser.organizationId ? { organizationId: event.endUser.organizationId } : {}),
      ...(event.endUser.endUserEmail ? { endUserEmail: event.endUser.endUserEmail } : {}),
      tags: { ...(event.endUser.tags ?? {}) },
    };
  }
  if (event.tags) body.tags = { ...event.tags };
  if (!event.success) body.error = { type: event.error?.type ?? 'unknown_error', description: event.error?.description ?? 'The authorization failed.' };
  return body;
}

/**
 * JSON with object keys in alphabetical order at every depth, as Nango serialises webhook bodies
 * (safe-stable-stringify): the signed bytes do not depend on the order fields were assigned in.
 */
export function stringifyStable(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  return sorted;
}

/** The URL to post to, basic credentials in it moved to a header (fetch refuses them), and a form safe to log. */
function parseTarget(raw: string): WebhookTarget | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  let authorization: string | undefined;
  if (url.username || url.password) {
    authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  // Logged without the query string, which may carry a token of the receiver's.
  return { url: url.toString(), logUrl: `${url.origin}${url.pathname}`, authorization };
}

function describe(event: AuthWebhookEvent): string {
  return `${event.operation}${event.success ? '' : ' failure'}, connection "${event.connectionId}" of integration "${event.providerConfigKey}"`;
}

/** Why a request failed without an answer, from the error's name and code only (messages may quote the URL). */
function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
    const cause = (error as { cause?: unknown }).cause;
    const code = cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
    if (code) return `network error ${code}`;
  }
  return 'network error';
}
