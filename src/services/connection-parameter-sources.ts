/**
 * Where the connection parameters (`connection_config`) of a connection being made come from, wherever it is
 * made (popup, credential routes, Connect UI): the end user, the operator's connect session, the integration's
 * pinned host; and which one wins.
 */

import { AUTH_MODE_FACTS } from '../credentials/auth-modes.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';

/**
 * The flag an operator sets in a connect session, per integration, to let the end user bring their own OAuth
 * app: `integrations_config_defaults.<key>.connection_config.allow_oauth_client_override = true`. It lives
 * there because that object is free-form in Nango's own session types, so typed clients can send it.
 */
export const ALLOW_CLIENT_OVERRIDE_FLAG = 'allow_oauth_client_override';

/** Directives for this server in a session's connection_config, not facts about the connection. */
const SESSION_DIRECTIVES = new Set(['oauth_scopes_override', ALLOW_CLIENT_OVERRIDE_FLAG]);

/**
 * The end user's `params[...]`, overridden by what the operator set in the connect session
 * (`integrations_config_defaults.<key>.connection_config`): a value the operator pinned always wins. Parameters
 * still missing take the integration's pinned host where the template wants a whole host.
 */
export function mergeConnectionParameters(
  userParams: Record<string, string>,
  sessionConfig: Record<string, unknown> | undefined,
  pinnedHostValues: Record<string, string> = {},
): Record<string, unknown> {
  const operator = Object.entries(sessionConfig ?? {}).filter(([name]) => !SESSION_DIRECTIVES.has(name));
  const merged: Record<string, unknown> = { ...userParams, ...Object.fromEntries(operator) };
  for (const [name, value] of Object.entries(pinnedHostValues)) if (merged[name] === undefined) merged[name] = value;
  return merged;
}

/** The values that can go into a URL (strings, numbers, booleans), as strings. */
export function urlValues(values: Record<string, unknown>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') result[name] = String(value);
  }
  return result;
}

/**
 * The values of a connect that are the connection's credentials rather than its parameters: for a mode whose
 * template credentials travel as `params[…]` (client credentials: SAP Concur's request token), the declared
 * credential fields beyond the mode's own. They are sealed with the credentials and never stored, returned or
 * logged as connection parameters.
 */
export function separateConnectionCredentials(
  template: Pick<ProviderTemplate, 'auth_mode' | 'credentials'>,
  values: Record<string, unknown>,
): { connectionConfig: Record<string, unknown>; connectionCredentials: Record<string, string> } {
  const facts = AUTH_MODE_FACTS[template.auth_mode];
  if (!facts.extraCredentialsAsParams) return { connectionConfig: values, connectionCredentials: {} };
  const names = new Set(Object.keys(template.credentials ?? {}).filter((name) => !facts.sdkCredentials.fields.includes(name)));
  const connectionConfig: Record<string, unknown> = {};
  const connectionCredentials: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (!names.has(name)) connectionConfig[name] = value;
    else if (typeof value === 'string' && value !== '') connectionCredentials[name] = value;
  }
  return { connectionConfig, connectionCredentials };
}
