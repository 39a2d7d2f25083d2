import { z } from 'zod';
import { NO_DASHBOARD_SECRETS, type DashboardCredentials } from './credential-mode.js';

/*
 * What the modes share about reading and showing stored credential fields.
 */

/** An ISO expiry as a date; null when absent or unreadable (such a token is treated as not expiring). */
export function expiryOf(text: string | undefined): Date | null {
  if (typeof text !== 'string') return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The modern server hides refresh tokens unless asked: every `refresh_token` key, `raw` included. */
function withoutRefreshTokens(value: object): Record<string, unknown> {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (typeof node !== 'object' || node === null) return node;
    return Object.fromEntries(Object.entries(node).filter(([key]) => key !== 'refresh_token').map(([key, child]) => [key, strip(child)]));
  };
  return strip(value) as Record<string, unknown>;
}

/** The modern view most modes share: the stored object, refresh tokens only on request. */
export function modernView(credentials: object, options: { includeRefreshToken: boolean }): Record<string, unknown> {
  return options.includeRefreshToken ? { ...credentials } : withoutRefreshTokens(credentials);
}

/** A dashboard view with only the given secrets filled in. */
export function dashboardView(secrets: Partial<DashboardCredentials>): DashboardCredentials {
  return { ...NO_DASHBOARD_SECRETS, ...secrets };
}

/** An ISO timestamp `seconds` after `now`, for a provider's `expires_in`; undefined for a missing or silly value. */
export function expiresAfter(now: Date, seconds: unknown): string | undefined {
  const value = Number(seconds);
  return Number.isFinite(value) && value > 0 ? new Date(now.getTime() + value * 1000).toISOString() : undefined;
}

export function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * What a template keeps of the provider's answers beside the tokens (src/oauth/token-answer-follow-up.ts), in
 * the stored credentials of the modes whose templates may ask for it.
 */
export const KEPT_FROM_ANSWERS = {
  api_base_url: z.string().optional(),
  post_token_values: z.record(z.string(), z.string()).optional(),
};
