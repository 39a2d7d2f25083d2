/**
 * The auth modes and what the server, the dashboard and the Connect UI say and ask about each one. Plain data
 * with no imports, so the web UI (web/src/…) reads the same list as the server. What a mode does with
 * credentials (import, renewal, proxy authorisation) is its module in this folder, listed in registry.ts.
 */

/** Every auth mode a provider template may name (`auth_mode` in providers.yaml, Nango's names). */
export const AUTH_MODES = ['OAUTH2', 'OAUTH1', 'OAUTH2_CC', 'API_KEY', 'BASIC', 'NONE', 'APP'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** A field the end user types (an API key, a password) when the provider template declares none. */
export interface CredentialFieldFacts {
  title: string;
  secret?: boolean;
  description?: string;
}

export interface IntegrationFieldFacts {
  clientId: string;
  clientSecret: string;
  /** The secret is a private key: refused unless it is a PEM private key, and never returned by a read. */
  secretIsPrivateKey: boolean;
  /** The app's public link (Nango's `app_link`), asked for beside the client; null: the mode has none. */
  appLink: string | null;
}

const OAUTH_APP_FIELDS: IntegrationFieldFacts = { clientId: 'Client ID', clientSecret: 'Client secret', secretIsPrivateKey: false, appLink: null };

export interface AuthModeFacts {
  /**
   * How an end user connects: `popup` sends the browser to the provider and takes its callback, `form` posts
   * what the user typed (or nothing: the integration's own client) to the server, `none` needs nothing.
   */
  connect: 'popup' | 'form' | 'none';
  /** The integration's OAuth app (client id and secret): needed, optional (client credentials may come from the end user), or unused. */
  integrationClient: 'required' | 'optional' | 'none';
  /** What the integration's client fields are called, and whether its secret is a private key (checked as PEM, never shown again). */
  integrationFields: IntegrationFieldFacts;
  /** The URLs a provider template of this mode must have, in the order a missing one is reported. */
  templateUrls: readonly ('authorization_url' | 'token_url' | 'request_url')[];
  /** Values the mode itself fills into its template's URLs (`${app_slug}`), which the catalog need not declare. */
  templateUrlValues: readonly string[];
  /** The credential fields a catalog entry of this mode declares (the Connect UI's form). */
  templateCredentials: readonly string[];
  /** What the Connect UI asks for when the template declares no credential fields. */
  defaultCredentialFields: Readonly<Record<string, CredentialFieldFacts>>;
  /** Whether a template of this mode may say `require_client_certificate: true` (mutual TLS on its token endpoint and API). */
  takesClientCertificate: boolean;
  /** The credential fields the frontend SDK's `auth()` sends, and whether an empty one is sent empty or left out. */
  sdkCredentials: { fields: readonly string[]; empty: 'send' | 'omit' };
  /**
   * Credential fields a template declares beyond `sdkCredentials` (SAP Concur's request token) travel as
   * `params[…]`, the only other way the frontend SDK carries a value for this mode; the server keeps them with
   * the credentials, never in connection_config. False: such params are connection parameters like any other.
   */
  extraCredentialsAsParams: boolean;
  /** What the new-integration page says the mode uses instead of an OAuth app (unused for `integrationClient: 'required'`). */
  usesInsteadOfApp: string;
  /** The secret the connection page offers to reveal, by its name; null: the connection holds none. */
  secretLabel: string | null;
  /** The credential fields `nango token:get` prints: one alone on its line, several as a labelled block. */
  printedFields: readonly { label: string; field: string }[];
  /** How the Connect UI tells the end user what connecting means, for a provider called `name`. */
  describeConnect(name: string): string;
}

export const AUTH_MODE_FACTS: Readonly<Record<AuthMode, AuthModeFacts>> = {
  OAUTH2: {
    connect: 'popup',
    integrationClient: 'required',
    integrationFields: OAUTH_APP_FIELDS,
    templateUrls: ['authorization_url', 'token_url'],
    // The connection's token, for providers that take it in a header of their own (Amazon's x-amz-access-token).
    templateUrlValues: ['accessToken'],
    templateCredentials: [],
    defaultCredentialFields: {},
    takesClientCertificate: false,
    sdkCredentials: { fields: [], empty: 'omit' },
    extraCredentialsAsParams: false,
    usesInsteadOfApp: 'an OAuth app',
    secretLabel: 'Access token',
    printedFields: [{ label: 'Access token', field: 'access_token' }],
    describeConnect: (name) => `A window opens where you sign in to ${name} and approve access.`,
  },
  OAUTH1: {
    connect: 'popup',
    integrationClient: 'required',
    integrationFields: OAUTH_APP_FIELDS,
    templateUrls: ['authorization_url', 'token_url', 'request_url'],
    templateUrlValues: [],
    templateCredentials: [],
    defaultCredentialFields: {},
    takesClientCertificate: false,
    sdkCredentials: { fields: [], empty: 'omit' },
    extraCredentialsAsParams: false,
    usesInsteadOfApp: 'an OAuth app',
    secretLabel: 'Access token',
    printedFields: [
      { label: 'Token', field: 'oauth_token' },
      { label: 'Token secret', field: 'oauth_token_secret' },
    ],
    describeConnect: (name) => `A window opens where you sign in to ${name} and approve access.`,
  },
  OAUTH2_CC: {
    connect: 'form',
    integrationClient: 'optional',
    integrationFields: OAUTH_APP_FIELDS,
    templateUrls: ['token_url'],
    templateUrlValues: [],
    templateCredentials: [],
    defaultCredentialFields: {},
    takesClientCertificate: true,
    // Without end-user credentials the integration's own client id and secret are used: empty fields are left out.
    sdkCredentials: { fields: ['client_id', 'client_secret', 'client_certificate', 'client_private_key'], empty: 'omit' },
    extraCredentialsAsParams: true,
    usesInsteadOfApp: 'client credentials',
    secretLabel: 'Access token',
    printedFields: [{ label: 'Access token', field: 'token' }],
    describeConnect: (name) => `Connects with the application’s ${name} client credentials.`,
  },
  API_KEY: {
    connect: 'form',
    integrationClient: 'none',
    integrationFields: OAUTH_APP_FIELDS,
    templateUrls: [],
    templateUrlValues: [],
    templateCredentials: ['apiKey'],
    defaultCredentialFields: { apiKey: { title: 'API key', secret: true, description: 'Create one in your account settings at the provider.' } },
    takesClientCertificate: false,
    sdkCredentials: { fields: ['apiKey'], empty: 'send' },
    extraCredentialsAsParams: false,
    usesInsteadOfApp: 'API keys',
    secretLabel: 'API key',
    printedFields: [{ label: 'API key', field: 'apiKey' }],
    describeConnect: (name) => `Paste an API key from your ${name} account.`,
  },
  BASIC: {
    connect: 'form',
    integrationClient: 'none',
    integrationFields: OAUTH_APP_FIELDS,
    templateUrls: [],
    templateUrlValues: [],
    templateCredentials: ['username', 'password'],
    defaultCredentialFields: { username: { title: 'Username' }, password: { title: 'Password', secret: true } },
    takesClientCertificate: false,
    sdkCredentials: { fields: ['username', 'password'], empty: 'send' },
    extraCredentialsAsParams: false,
    usesInsteadOfApp: 'a user name and password',
    secretLabel: 'Password',
    printedFields: [
      { label: 'Username', field: 'username' },
      { label: 'Password', field: 'password' },
    ],
    describeConnect: (name) => `Sign in with your ${name} user name and password.`,
  },
  NONE: {
    connect: 'none',
    integrationClient: 'none',
    integrationFields: OAUTH_APP_FIELDS,
    templateUrls: [],
    templateUrlValues: [],
    templateCredentials: [],
    defaultCredentialFields: {},
    takesClientCertificate: false,
    sdkCredentials: { fields: [], empty: 'omit' },
    extraCredentialsAsParams: false,
    usesInsteadOfApp: 'no authentication',
    secretLabel: null,
    printedFields: [],
    describeConnect: (name) => `No sign-in needed for ${name}.`,
  },
  APP: {
    connect: 'popup',
    integrationClient: 'required',
    integrationFields: { clientId: 'App ID', clientSecret: 'Private key (PEM)', secretIsPrivateKey: true, appLink: 'Public link or slug' },
    templateUrls: ['authorization_url', 'token_url'],
    templateUrlValues: ['app_slug', 'installation_id'],
    templateCredentials: [],
    defaultCredentialFields: {},
    takesClientCertificate: false,
    sdkCredentials: { fields: [], empty: 'omit' },
    extraCredentialsAsParams: false,
    usesInsteadOfApp: 'a GitHub App',
    secretLabel: 'Installation token',
    printedFields: [{ label: 'Installation token', field: 'access_token' }],
    describeConnect: (name) => `A window opens where you install the ${name} app on your account or organisation.`,
  },
};

export function isAuthMode(value: unknown): value is AuthMode {
  return typeof value === 'string' && (AUTH_MODES as readonly string[]).includes(value);
}

/** The facts of a mode named by a provider or a stored credential; undefined for a name this server does not know. */
export function authModeFacts(mode: string | null | undefined): AuthModeFacts | undefined {
  return isAuthMode(mode) ? AUTH_MODE_FACTS[mode] : undefined;
}

/** True for a mode whose end user connects in a browser window at the provider. */
export function connectsInPopup(mode: string | null | undefined): boolean {
  return authModeFacts(mode)?.connect === 'popup';
}
