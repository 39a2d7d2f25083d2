import type { ConnectionHosts } from '../net/connection-hosts.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import type { IntegrationSecrets } from './provider-context.js';

/**
 * A connection made in the end user's browser: the server sends the popup to the provider with a state, and
 * the provider sends it back to the callback. The flow service (src/services/oauth-flow-service.ts) does what
 * every such flow shares (who may connect, the session, storing the connection); a mode says how its
 * protocol goes (src/oauth/: OAuth 2 with PKCE, OAuth 1.0a).
 */
export interface BrowserConnect<C> {
  /** True when an end user may bring their own OAuth app (credentials[oauth_client_*_override]). */
  readonly acceptsClientOverride: boolean;
  /** Fills the template's URLs and parameters for this connection, so a missing one fails before the user leaves; returns the authorization URL as filled in. */
  prepare(flow: BrowserFlow): { authorizationUrl: string };
  /** Opens the flow's session (its id is the state) and returns where the browser goes. */
  start(flow: BrowserFlow, start: BrowserStart): Promise<string>;
  /** Checks what the provider sent back and exchanges it for credentials. */
  complete(flow: BrowserFlow, callback: BrowserCallback): Promise<BrowserResult<C>>;
}

export interface BrowserFlow {
  template: ProviderTemplate;
  integration: IntegrationSecrets;
  /** The app the flow runs with: the integration's, or the end user's own when a connect session allowed it. */
  client: { clientId: string; clientSecret: string };
  /** True when `client` is the end user's own app: refreshes must use it too. */
  clientOverridden: boolean;
  connectionConfig: Record<string, unknown>;
  callbackUrl: string;
  hosts: Pick<ConnectionHosts, 'agentFor' | 'clientTls'>;
  timeoutMs: number;
  now: Date;
}

export interface BrowserStart {
  /** The authorization URL as `prepare` filled it in. */
  authorizationUrl: string;
  integrationScopes: string[];
  /** The connect session's `oauth_scopes_override`, when it sets one. */
  scopesOverride: string[] | undefined;
  /** Slack-style user scopes: the session's and the request's. */
  userScopes: string[];
  /** `authorization_params` from the connect session, then from the connect request (the later wins). */
  sessionAuthorizationParams: Record<string, string>;
  requestAuthorizationParams: Record<string, string>;
  openSession(secrets: { codeVerifier: string | null }): Promise<BrowserSession>;
}

export interface BrowserSession {
  /** The session's id, sent to the provider as `state`. */
  state: string;
  /** OAuth 1.0a: the request token's secret, which the callback needs. */
  keepRequestTokenSecret(secret: string): Promise<void>;
  /** The flow could not start: forget the session. */
  discard(): Promise<void>;
}

export interface BrowserCallback {
  /** The callback's query (single values only). */
  query: Record<string, string>;
  codeVerifier: string | null;
  requestTokenSecret: string | null;
}

export interface BrowserResult<C> {
  credentials: C;
  /** The provider's answer, for the template's `token_response_metadata`. */
  raw: Record<string, unknown>;
}
