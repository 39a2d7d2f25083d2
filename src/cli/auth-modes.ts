import type { OptionName } from './command.js';

/**
 * What each auth mode of the catalog asks of the CLI: the app credentials an integration holds (registered once
 * with the provider), and the credentials a connection brings (one end user's). A new mode is one entry here;
 * the GitHub App mode (`APP`: app id, app link and private key on the integration, an installation id on each
 * connection) will be the next one.
 */
export interface AuthModeFields {
  /** What `integration:create` sends as `credentials`; null: the integration holds none, each connection brings its own. */
  integration: { type: string; required: readonly OptionName[]; optional: readonly OptionName[] } | null;
  /** What `connection:import` sends as `credentials`: each option → its field of the modern import body. */
  connection: { type: string; required: readonly CredentialField[]; optional: readonly CredentialField[] };
  /** How an end user connects one, for the hint after `integration:create`. */
  connects: string;
}

export interface CredentialField {
  option: OptionName;
  field: string;
  /** Sent when the option is not given (a basic-auth password may be empty). */
  fallback?: string;
}

const OAUTH_APP = { required: ['client-id', 'client-secret'], optional: ['scopes'] } as const;

export const AUTH_MODES: Readonly<Record<string, AuthModeFields>> = {
  OAUTH2: {
    integration: { type: 'OAUTH2', ...OAUTH_APP },
    connection: {
      type: 'OAUTH2',
      required: [{ option: 'access-token', field: 'access_token' }],
      optional: [
        { option: 'refresh-token', field: 'refresh_token' },
        { option: 'expires-at', field: 'expires_at' },
      ],
    },
    connects: "through the provider's consent page (the Connect UI, or auth() of @nangohq/frontend)",
  },
  OAUTH1: {
    integration: { type: 'OAUTH1', ...OAUTH_APP },
    connection: {
      type: 'OAUTH1',
      required: [
        { option: 'oauth-token', field: 'oauth_token' },
        { option: 'oauth-token-secret', field: 'oauth_token_secret' },
      ],
      optional: [],
    },
    connects: "through the provider's consent page (the Connect UI, or auth() of @nangohq/frontend)",
  },
  OAUTH2_CC: {
    integration: null,
    connection: {
      type: 'OAUTH2_CC',
      required: [
        { option: 'token', field: 'token' },
        { option: 'client-id', field: 'client_id' },
        { option: 'client-secret', field: 'client_secret' },
      ],
      optional: [{ option: 'expires-at', field: 'expires_at' }],
    },
    connects: 'by entering their client id and secret in the Connect UI',
  },
  API_KEY: {
    integration: null,
    connection: { type: 'API_KEY', required: [{ option: 'api-key', field: 'apiKey' }], optional: [] },
    connects: 'by entering their API key in the Connect UI',
  },
  BASIC: {
    integration: null,
    connection: { type: 'BASIC', required: [{ option: 'username', field: 'username' }], optional: [{ option: 'password', field: 'password', fallback: '' }] },
    connects: 'by entering their user name and password in the Connect UI',
  },
  NONE: {
    integration: null,
    connection: { type: 'NONE', required: [], optional: [] },
    connects: 'in the Connect UI, with nothing to enter',
  },
};

/** Every option any mode reads, for the commands' option lists. */
export const INTEGRATION_OPTIONS: readonly OptionName[] = unique(Object.values(AUTH_MODES).flatMap((mode) => [...(mode.integration?.required ?? []), ...(mode.integration?.optional ?? [])]));
export const CONNECTION_OPTIONS: readonly OptionName[] = unique(
  Object.values(AUTH_MODES).flatMap((mode) => [...mode.connection.required, ...mode.connection.optional].map((field) => field.option)),
);

function unique(names: OptionName[]): OptionName[] {
  return [...new Set(names)];
}
