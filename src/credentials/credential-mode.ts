import { z, type core } from 'zod';
import type { ClientCertificate } from '../net/client-tls.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import type { AuthMode } from './auth-modes.js';
import type { BrowserConnect } from './browser-connect.js';
import type { IntegrationSecrets, ProviderCallContext } from './provider-context.js';

export type { IntegrationSecrets, ProviderCallContext } from './provider-context.js';

/**
 * What one auth mode knows about its credentials, from the moment they arrive to every use. Each mode is one
 * module of this folder implementing this interface; registry.ts lists them by mode, so the compiler names
 * every place a new mode must fill in. `C` is the mode's stored credentials (a member of StoredCredentials).
 *
 * Members are methods on purpose: the registry hands out a mode for a credential's `type`, and method
 * parameters let one interface serve every mode's credentials.
 */
export interface CredentialMode<M extends AuthMode, C extends { type: M }> {
  readonly mode: M;
  /** The stored credentials, checked once where the store opens a row. Loose: fields Nango or an older server wrote are kept. */
  readonly stored: z.ZodType<C>;
  /** The `credentials` object of the modern import (`POST /connections`), already turned into what is stored. */
  readonly modernImport: ImportSchema<C>;
  /** The seed import (`POST /connection`, Nango v0.20); absent: the seed import refuses this type. */
  seedImport?(body: SeedImportFields, now: Date): C;
  /** Connections made without a popup (`/api-auth/*`, `/oauth2/auth/*`, `/auth/unauthenticated/*`). */
  readonly form?: FormConnect<C>;
  /** Connections made in the end user's browser, at the provider (OAuth 2, OAuth 1.0a, an app installation). */
  readonly browser?: BrowserConnect<C>;
  /** How the credentials are renewed without the end user; absent: they never are. */
  readonly renewal?: Renewal<C>;
  /** When the credentials stop working; null when they do not expire (or do not say). */
  expiresAt(credentials: C): Date | null;
  /** How a proxied request carries the credentials. */
  authorise(credentials: C, context: AuthoriseContext): ProxyAuthorisation;
  /** Values templates may use beside the stored fields (`${accessToken}`, `${apiKey}`…). */
  templateValues(credentials: C): Record<string, unknown>;
  /** The credentials on each wire format. */
  readonly show: CredentialViews<C>;
  /** The `credentials` an operator gives an integration of this mode (`POST /integrations`, `PATCH`); absent: none. */
  readonly integrationInput?: ImportSchema<IntegrationClientInput>;
  /** The modern `credentials` object of an integration of this mode (`GET /integrations/:key?include=credentials`); null: none. */
  integrationCredentials(integration: IntegrationSecrets): Record<string, unknown> | null;
}

/** What an integration keeps of its app: the client id (or app id), the secret (or private key), the scopes. */
export interface IntegrationClientInput {
  clientId: string;
  clientSecret: string;
  scopes?: string | string[];
  /** A GitHub App's public link or slug (`app_link`). */
  appLink?: string;
}

/** The modern integration `credentials` of an OAuth app (`client_id`, `client_secret`, `scopes`) under one `type`. */
export function oauthAppInput<T extends string>(type: T) {
  return z
    .object({
      type: z.literal(type), client_id: z.string().min(1), client_secret: z.string().min(1), scopes: z.union([z.string(), z.array(z.string())]).optional(), webhook_secret: z.string().optional(),
    })
    .strict()
    .transform((body): IntegrationClientInput => ({ clientId: body.client_id, clientSecret: body.client_secret, ...(body.scopes !== undefined ? { scopes: body.scopes } : {}) }));
}

/** A discriminated schema (by `type`) whose output is what is stored: the modern import's union is built from these. */
export type ImportSchema<C> = z.ZodType<C> & core.$ZodTypeDiscriminable;

export interface Renewal<C> {
  /** True when these credentials can be renewed without the end user (a refresh token, the client's own secret, the app's key). */
  isRenewable(credentials: C): boolean;
  /** New credentials from the provider; a refusal is a ProviderError, and the stored credentials stay. */
  renew(credentials: C, context: ProviderCallContext): Promise<C>;
}

/** The seed import body's credential fields (the route has checked their form). */
export interface SeedImportFields {
  access_token?: string | undefined;
  refresh_token?: string | undefined;
  expires_at?: string | undefined;
  expires_in?: number | undefined;
  oauth_token?: string | undefined;
  oauth_token_secret?: string | undefined;
  /** The provider's answer as the client kept it (the whole body when it sent none). */
  raw: Record<string, unknown>;
}

/**
 * A connect route for credentials the end user types (or none). The route checks the body with `body` and
 * answers a refusal; `credentials` turns a checked body into what is stored.
 */
export interface FormConnect<C> {
  /** The route, with `:providerConfigKey`. */
  readonly path: string;
  readonly body: z.ZodType<unknown>;
  credentials(body: unknown, context: ProviderCallContext): Promise<C>;
}

/** A FormConnect whose body schema types its own values: the body is checked again (cheaply) before it is used. */
export function formConnect<S extends z.ZodType, C>(path: string, body: S, credentials: (values: z.output<S>, context: ProviderCallContext) => Promise<C>): FormConnect<C> {
  return { path, body, credentials: (raw, context) => credentials(body.parse(raw), context) };
}

export interface AuthoriseContext {
  template: ProviderTemplate;
  integration: IntegrationSecrets;
  connectionId: string;
  /** The template's proxy headers or query carry the credentials (`${apiKey}`): the mode adds none of its own. */
  templateCarriesAuth: boolean;
}

/** What a proxied request carries: fixed headers (and a client certificate, for mutual TLS), or a signature over each attempt (OAuth 1.0a). */
export type ProxyAuthorisation =
  | { kind: 'headers'; headers: Record<string, string>; clientCertificate?: ClientCertificate }
  | { kind: 'signature'; sign(method: string, url: URL, formParams: URLSearchParams | undefined): string };

export interface CredentialViews<C> {
  /** The modern `credentials` object: as stored, refresh tokens only when the caller asks for them. */
  modern(credentials: C, options: { includeRefreshToken: boolean }): Record<string, unknown>;
  /** The dashboard's "Reveal": each kind of secret under its own name, null where the mode has none. */
  dashboard(credentials: C): DashboardCredentials;
}

export interface DashboardCredentials {
  accessToken: string | null;
  refreshToken: string | null;
  expiresAt: string | null;
  oauthToken: string | null;
  oauthTokenSecret: string | null;
  apiKey: string | null;
  username: string | null;
  password: string | null;
}

export const NO_DASHBOARD_SECRETS: DashboardCredentials = {
  accessToken: null,
  refreshToken: null,
  expiresAt: null,
  oauthToken: null,
  oauthTokenSecret: null,
  apiKey: null,
  username: null,
  password: null,
};
