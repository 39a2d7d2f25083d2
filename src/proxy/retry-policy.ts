import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderTemplate } from '../providers/provider-schema.js';

/**
 * When a proxied call is tried again, and after how long. Retried: 429, every 5xx, the caller's `Retry-On`
 * statuses, and the template's rate-limit status (`proxy.retry.error_code`, only while its "remaining"
 * header, if named, reads 0). The wait is what the upstream asks for (`Retry-After` in seconds or as an HTTP
 * date, or the template's `proxy.retry.after` / `proxy.retry.at` headers), else an exponential backoff.
 */
export interface RetryRules {
  extraStatuses: readonly number[];
  template: NonNullable<ProviderTemplate['proxy']>['retry'] | undefined;
  /** First backoff step; the n-th retry waits baseDelayMs · 2^n, capped at maxBackoffMs. */
  baseDelayMs: number;
  maxBackoffMs: number;
  /** An upstream asking for a longer wait than this gets its response answered as is, without a retry. */
  maxWaitMs: number;
}

export const DEFAULT_RETRY_TIMING = { baseDelayMs: 100, maxBackoffMs: 5_000, maxWaitMs: 10_000 } as const;

export function isRetryableStatus(status: number, headers: IncomingHttpHeaders, rules: RetryRules): boolean {
  if (status === 429 || status >= 500 || rules.extraStatuses.includes(status)) return true;
  const template = rules.template;
  if (template?.error_code === undefined || template.error_code !== status) return false;
  if (!template.remaining) return true;
  return headerText(headers, template.remaining) === '0';
}

/** Milliseconds to wait before the next attempt, or undefined when the upstream asks for more than the cap. */
export function retryDelayMs(attempt: number, headers: IncomingHttpHeaders, rules: RetryRules, now: number): number | undefined {
  const asked = askedDelayMs(headers, rules, now);
  if (asked !== undefined) return asked > rules.maxWaitMs ? undefined : asked;
  return backoffMs(attempt, rules);
}

export function backoffMs(attempt: number, rules: Pick<RetryRules, 'baseDelayMs' | 'maxBackoffMs'>): number {
  return Math.min(rules.baseDelayMs * 2 ** attempt, rules.maxBackoffMs);
}

function askedDelayMs(headers: IncomingHttpHeaders, rules: RetryRules, now: number): number | undefined {
  const retryAfter = parseRetryAfter(headerText(headers, 'retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const template = rules.template;
  if (template?.after) {
    const seconds = parseRetryAfter(headerText(headers, template.after), now);
    if (seconds !== undefined) return seconds;
  }
  if (template?.at) {
    const at = parseResetTime(headerText(headers, template.at));
    if (at !== undefined) return Math.max(0, at - now);
  }
  return undefined;
}

/** `Retry-After`: delta seconds or an HTTP date (RFC 9110 §10.2.3); a date in the past means now. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** A rate-limit reset time: epoch seconds (or milliseconds, for very large numbers) or a date. */
function parseResetTime(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) {
    const number = Number(value);
    return number > 1e11 ? number : number * 1000;
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : date;
}

function headerText(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return (Array.isArray(value) ? value[0] : value)?.trim();
}
