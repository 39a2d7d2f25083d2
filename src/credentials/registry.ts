import { z } from 'zod';
import { ApiError } from '../errors.js';
import { apiKeyMode } from './api-key.js';
import { AUTH_MODES, isAuthMode, type AuthMode } from './auth-modes.js';
import { basicMode } from './basic.js';
import type { BrowserConnect } from './browser-connect.js';
import { clientCredentialsMode } from './client-credentials.js';
import { githubAppMode } from './github-app.js';
import { oauthAppInput, type CredentialMode, type FormConnect } from './credential-mode.js';
import { noneMode } from './none.js';
import { oauth1Mode } from './oauth1.js';
import { oauth2Mode } from './oauth2.js';

/**
 * Every auth mode's module, by mode. A mode added to AUTH_MODES (auth-modes.ts) must have a line here, and
 * the CredentialMode interface then lists what it must say; everything else asks this registry.
 */
export const CREDENTIAL_MODES = {
  OAUTH2: oauth2Mode,
  OAUTH1: oauth1Mode,
  OAUTH2_CC: clientCredentialsMode,
  API_KEY: apiKeyMode,
  BASIC: basicMode,
  NONE: noneMode,
  APP: githubAppMode,
} as const satisfies { readonly [M in AuthMode]: CredentialMode<M, { type: M }> };

type Modes = typeof CREDENTIAL_MODES;

/** A connection's credentials as stored: one member per auth mode, told apart by `type`. */
export type StoredCredentials = { [M in AuthMode]: z.output<Modes[M]['stored']> }[AuthMode];

/** Any mode, taking the credentials of its own type. */
export type AnyCredentialMode = CredentialMode<AuthMode, StoredCredentials>;

/** The module of the credentials' own mode. */
export function modeOf(credentials: StoredCredentials): AnyCredentialMode {
  return CREDENTIAL_MODES[credentials.type];
}

/** The module of a mode named by a template or a request; undefined for a name this server does not know. */
export function credentialMode(mode: string | null | undefined): AnyCredentialMode | undefined {
  return isAuthMode(mode) ? CREDENTIAL_MODES[mode] : undefined;
}

/** The modes whose end users connect in the browser, and how. */
export function browserConnectOf(mode: string | null | undefined): BrowserConnect<StoredCredentials> | undefined {
  return credentialMode(mode)?.browser;
}

/** The connect routes of the modes whose credentials are typed in (or not needed): one route per mode. */
export function formConnects(): { mode: AuthMode; form: FormConnect<StoredCredentials> }[] {
  return AUTH_MODES.flatMap((mode) => {
    const form = credentialMode(mode)?.form;
    return form ? [{ mode, form }] : [];
  });
}

/** The modes the seed import (`POST /connection`) takes, for its messages ("OAUTH2" or "OAUTH1"). */
export function seedImportModes(): AuthMode[] {
  return AUTH_MODES.filter((mode) => CREDENTIAL_MODES[mode].seedImport !== undefined);
}

/** True when the credentials can be renewed without the end user. */
export function isRenewable(credentials: StoredCredentials): boolean {
  const renewal = modeOf(credentials).renewal;
  return renewal !== undefined && renewal.isRenewable(credentials);
}

/** The `credentials` object of the modern import (`POST /connections`), discriminated by `type`, turned into what is stored. */
export const ModernImportCredentials = (() => {
  const [first, ...rest] = AUTH_MODES.map((mode) => CREDENTIAL_MODES[mode].modernImport);
  if (!first) throw new Error('No auth mode is registered.');
  return z.discriminatedUnion('type', [first, ...rest]);
})();

/**
 * The `credentials` of the modern integration body, by `type`: one per mode with an app, and NetSuite's
 * token-based `TBA`, which Nango's clients send and which is kept as an OAuth app.
 */
export const IntegrationCredentialsInput = (() => {
  const inputs = AUTH_MODES.flatMap((mode) => {
    const input = credentialMode(mode)?.integrationInput;
    return input ? [input] : [];
  });
  return z.discriminatedUnion('type', [oauthAppInput('TBA'), ...inputs]);
})();

/** Where a stored row came from, for the error that says it cannot be read. */
export interface StoredRowName {
  providerConfigKey: string;
  connectionId: string;
}

/**
 * The stored credentials of a row, checked against their mode's schema. Called once, where the store opens
 * the row; a row that does not parse is an error naming the connection and what is wrong, never an empty object.
 */
export function parseStoredCredentials(value: unknown, row: StoredRowName): StoredCredentials {
  const typed = withLegacyType(value);
  const where = `The connection "${row.connectionId}" of integration "${row.providerConfigKey}"`;
  const type = typed['type'];
  if (!isAuthMode(type)) {
    const named = typeof type === 'string' ? `credentials of type "${type}"` : 'credentials without a type';
    throw new ApiError('not_supported', `${where} holds ${named}, which this server does not support (it knows ${AUTH_MODES.join(', ')}).`);
  }
  const parsed = CREDENTIAL_MODES[type].stored.safeParse(typed);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.map(String).join('.') || 'credentials'}: ${issue.message}`);
    throw new ApiError('invalid_stored_credentials', `${where} has stored ${type} credentials this server cannot read (${problems.join('; ')}); import them again or have the end user reconnect.`);
  }
  return parsed.data;
}

/** What the dashboard's list says of a row's credentials without failing on one it cannot read. */
export function describeStoredCredentials(value: unknown): { type: string | null; renewable: boolean; hasRefreshToken: boolean } {
  const typed = withLegacyType(value);
  const type = typeof typed['type'] === 'string' ? typed['type'] : null;
  const parsed = isAuthMode(type) ? CREDENTIAL_MODES[type].stored.safeParse(typed) : undefined;
  if (!parsed?.success) return { type, renewable: false, hasRefreshToken: false };
  return { type, renewable: isRenewable(parsed.data), hasRefreshToken: typeof typed['refresh_token'] === 'string' && typed['refresh_token'] !== '' };
}

/** Rows written before credentials carried a type hold OAuth 2 tokens. */
function withLegacyType(value: unknown): Record<string, unknown> {
  const object = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  if (object['type'] === undefined && typeof object['access_token'] === 'string') return { type: oauth2Mode.mode, ...object };
  return object;
}
