import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { FlowError } from '../oauth/flow-error.js';
import type { AccountsStore } from '../store/accounts-store.js';
import { CONNECT_SESSION_TOKEN_PATTERN, type ConnectSessionsStore, type IntegrationConfigDefaults } from '../store/connect-sessions-store.js';
import type { EndUser } from '../store/connections-store.js';

export interface ConnectCredentials {
  providerConfigKey: string;
  connectionId: string | undefined;
  hmac: string | undefined;
  publicKey: string | undefined;
  connectSessionToken: string | undefined;
}

/** Who may create the connection, and what it will carry. */
export interface ConnectGrant {
  connectionId: string;
  protocol: 'seed' | 'modern';
  endUser: EndUser | null;
  tags: Record<string, string> | null;
  defaults: IntegrationConfigDefaults;
  connectSessionId: number | null;
  /** The session's `webhook_url_override`: where the connection's webhooks will go instead of NANGO_WEBHOOK_URL. */
  webhookUrlOverride: string | null;
}

/**
 * Decides whether a browser may start a connection: with a connect session token (modern: the integration
 * must be allowed, the connection id is the server's), or with a connection id (seed), checked against
 * the HMAC gate when it is on and the server's public key when one is sent. A connection id alone, with HMAC
 * off, lets anyone create or replace that connection: NANGO_PUBLIC_CONNECT=false refuses it.
 */
export class ConnectAuthorizer {
  constructor(
    private readonly config: Pick<Config, 'hmac' | 'publicConnect'>,
    private readonly sessions: ConnectSessionsStore,
    private readonly accounts: AccountsStore,
    private readonly now: () => Date,
  ) {}

  async authorize(input: ConnectCredentials): Promise<ConnectGrant> {
    if (input.connectSessionToken !== undefined) return this.authorizeSession(input);
    if (!this.config.publicConnect && !this.config.hmac.enabled) {
      throw new FlowError(
        'public_connect_disabled',
        'This server accepts new or renewed connections only through a connect session (NANGO_PUBLIC_CONNECT=false): the application must create one (POST /connect/sessions) and pass its token, or sign the request with HMAC (NANGO_HMAC_ENABLED).',
        'refused',
      );
    }
    if (!input.connectionId) throw new FlowError('missing_connection_id', 'The connection_id query parameter is required.');
    this.checkHmac(input.providerConfigKey, input.connectionId, input.hmac);
    if (input.publicKey !== undefined && input.publicKey !== (await this.accounts.publicKey())) {
      throw new FlowError('invalid_public_key', 'The public_key does not belong to this server.', 'unauthenticated');
    }
    return {
      connectionId: input.connectionId,
      protocol: input.publicKey !== undefined ? 'modern' : 'seed',
      endUser: null,
      tags: null,
      defaults: {},
      connectSessionId: null,
      webhookUrlOverride: null,
    };
  }

  private async authorizeSession(input: ConnectCredentials): Promise<ConnectGrant> {
    const token = input.connectSessionToken ?? '';
    if (!CONNECT_SESSION_TOKEN_PATTERN.test(token)) {
      throw new FlowError('invalid_connect_session_token_format', 'The connect session token is malformed.', 'unauthenticated');
    }
    const session = await this.sessions.findByToken(token);
    if (!session) throw new FlowError('unknown_connect_session_token', 'The connect session token is unknown; ask the application for a new one.', 'unauthenticated');
    if (session.expiresAt.getTime() <= this.now().getTime()) {
      throw new FlowError('expired_connect_session_token', 'The connect session has expired; ask the application for a new one.', 'unauthenticated');
    }
    if (session.allowedIntegrations && !session.allowedIntegrations.includes(input.providerConfigKey)) {
      throw new FlowError('integration_not_allowed', `This connect session does not allow the integration "${input.providerConfigKey}".`, 'refused');
    }
    if (session.reconnect && session.reconnect.integration !== input.providerConfigKey) {
      throw new FlowError('integration_not_allowed', `This reconnect session is for the integration "${session.reconnect.integration}".`, 'refused');
    }
    if (input.connectionId && input.connectionId !== session.reconnect?.connectionId) {
      throw new FlowError('invalid_query_params', 'connection_id is forbidden when using a connect session token: the server chooses it.');
    }
    const endUser = session.endUser ? { ...session.endUser, organization: session.organization } : null;
    return {
      connectionId: session.reconnect?.connectionId ?? randomUUID(),
      protocol: 'modern',
      endUser,
      tags: session.tags,
      defaults: session.integrationsConfigDefaults[input.providerConfigKey] ?? {},
      connectSessionId: session.id,
      webhookUrlOverride: session.webhookUrlOverride,
    };
  }

  private checkHmac(providerConfigKey: string, connectionId: string, presented: string | undefined): void {
    const hmac = this.config.hmac;
    if (!hmac.enabled) return;
    if (!presented) throw new FlowError('missing_hmac', 'This server requires an HMAC digest (hmac) to start a connection.', 'unauthenticated');
    const expected = createHmac(hmac.algorithm, hmac.key).update(`${providerConfigKey}:${connectionId}`).digest();
    const given = /^[0-9a-f]+$/i.test(presented) ? Buffer.from(presented, 'hex') : Buffer.alloc(0);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new FlowError('invalid_hmac', 'The HMAC digest (hmac) does not match this integration and connection id.', 'unauthenticated');
    }
  }
}
