import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import type { Cipher } from '../crypto/aes-gcm.js';
import type { EndUser } from './connections-store.js';

/** One OAuth flow in progress: its id is the `state` sent to the provider, used once. */
export interface OAuthSession {
  id: string;
  providerConfigKey: string;
  provider: string;
  connectionId: string;
  callbackUrl: string;
  /** The template's auth mode when the flow started: its module (src/credentials/) finishes the flow. */
  authMode: string;
  connectionConfig: Record<string, unknown>;
  wsClientId: string | null;
  codeVerifier: string | null;
  requestTokenSecret: string | null;
  clientProtocol: 'seed' | 'modern';
  expiresAt: Date;
  /** From a connect session: who the connection will belong to. */
  endUser: EndUser | null;
  tags: Record<string, string> | null;
  /** From a connect session: where the connection's webhooks go instead of NANGO_WEBHOOK_URL. */
  webhookUrlOverride: string | null;
  /** The end user's own OAuth app, when a connect session allowed one; used instead of the integration's. */
  clientOverride: { clientId: string; clientSecret: string } | null;
}

/** What a callback's state refers to: a flow to finish, one already finished, or nothing this server knows. */
export type ConsumedSession = { status: 'fresh'; session: OAuthSession } | { status: 'used' } | { status: 'unknown' };

interface SessionRow {
  id: string;
  provider_config_key: string;
  provider: string;
  connection_id: string;
  callback_url: string;
  auth_mode: string;
  account_id: number;
  connection_config: Record<string, unknown> | null;
  web_socket_client_id: string | null;
  code_verifier: string | null;
  request_token_secret: string | null;
  client_protocol: string | null;
  expires_at: Date | null;
  created_at: Date;
  end_user: EndUser | null;
  tags: Record<string, string> | null;
  webhook_url_override: string | null;
  consumed_at: Date | null;
  client_id_override: string | null;
  client_secret_override: string | null;
}

const TABLE = `${SCHEMA}._nango_oauth_sessions`;
/** Nango's rows have no expiry; treat them as living as long as Nango let them (cleaned after a day). */
const LEGACY_LIFETIME_MS = 24 * 60 * 60 * 1000;
const SEALED_PREFIX = 'sealed:';

export class OAuthSessionsStore {
  constructor(
    private readonly knex: Knex,
    private readonly cipher: Cipher | undefined,
  ) {}

  async create(session: Omit<OAuthSession, 'id'>): Promise<OAuthSession> {
    const id = randomUUID();
    await this.knex<SessionRow>(TABLE).insert({
      id,
      provider_config_key: session.providerConfigKey,
      provider: session.provider,
      connection_id: session.connectionId,
      callback_url: session.callbackUrl,
      auth_mode: session.authMode,
      account_id: 0,
      connection_config: session.connectionConfig,
      web_socket_client_id: session.wsClientId,
      code_verifier: this.seal(session.codeVerifier),
      request_token_secret: this.seal(session.requestTokenSecret),
      client_protocol: session.clientProtocol,
      expires_at: session.expiresAt,
      end_user: (session.endUser ? JSON.stringify(session.endUser) : null) as never,
      tags: (session.tags ? JSON.stringify(session.tags) : null) as never,
      webhook_url_override: session.webhookUrlOverride,
      client_id_override: session.clientOverride?.clientId ?? null,
      client_secret_override: this.seal(session.clientOverride?.clientSecret ?? null),
    });
    return { ...session, id };
  }

  /** OAuth 1.0a learns its request token secret after the session (and so the callback's state) exists. */
  async setRequestTokenSecret(id: string, secret: string): Promise<void> {
    await this.knex<SessionRow>(TABLE).where({ id }).update({ request_token_secret: this.seal(secret) });
  }

  /**
   * Marks the session used and returns it as it was, in one statement, so a state can be used once even across
   * processes. The row stays (without its secrets) until it expires, so a replay can be told from a stranger.
   */
  async consume(id: string): Promise<ConsumedSession> {
    const result = await this.knex.raw<{ rows: SessionRow[] }>(
      `WITH previous AS (SELECT * FROM ${TABLE} WHERE id = ? AND consumed_at IS NULL FOR UPDATE)
       UPDATE ${TABLE} AS target
          SET consumed_at = now(), code_verifier = NULL, request_token_secret = NULL, client_secret_override = NULL
         FROM previous
        WHERE target.id = previous.id
      RETURNING previous.*`,
      [id],
    );
    const [row] = result.rows;
    if (row) return { status: 'fresh', session: this.open(row) };
    const used = await this.knex<SessionRow>(TABLE).where({ id }).first('id');
    return used ? { status: 'used' } : { status: 'unknown' };
  }

  /** A flow that could not even reach the provider leaves nothing behind. */
  async discard(id: string): Promise<void> {
    await this.knex<SessionRow>(TABLE).where({ id }).delete();
  }

  /** Sessions past their expiry are of no use to anyone; removed at start and now and then. */
  async deleteExpired(now: Date): Promise<number> {
    return this.knex(TABLE)
      .where('expires_at', '<', now)
      .orWhere((query) => query.whereNull('expires_at').andWhere('created_at', '<', new Date(now.getTime() - LEGACY_LIFETIME_MS)))
      .delete();
  }

  private open(row: SessionRow): OAuthSession {
    return {
      id: row.id,
      providerConfigKey: row.provider_config_key,
      provider: row.provider,
      connectionId: row.connection_id,
      callbackUrl: row.callback_url,
      authMode: row.auth_mode,
      connectionConfig: row.connection_config ?? {},
      wsClientId: row.web_socket_client_id,
      codeVerifier: this.unseal(row.code_verifier),
      requestTokenSecret: this.unseal(row.request_token_secret),
      clientProtocol: row.client_protocol === 'modern' ? 'modern' : 'seed',
      expiresAt: row.expires_at ?? new Date(row.created_at.getTime() + LEGACY_LIFETIME_MS),
      endUser: row.end_user ?? null,
      tags: row.tags ?? null,
      webhookUrlOverride: row.webhook_url_override ?? null,
      clientOverride: row.client_id_override ? { clientId: row.client_id_override, clientSecret: this.unseal(row.client_secret_override) ?? '' } : null,
    };
  }

  /** The PKCE verifier and OAuth1 request secret are secrets too: sealed in one column when a key is set. */
  private seal(value: string | null): string | null {
    if (value === null || !this.cipher) return value;
    const sealed = this.cipher.seal(value);
    return `${SEALED_PREFIX}${sealed.iv}:${sealed.tag}:${sealed.ciphertext}`;
  }

  private unseal(value: string | null): string | null {
    if (value === null || !value.startsWith(SEALED_PREFIX)) return value;
    if (!this.cipher) throw new Error('An encrypted OAuth session was read but no encryption key is configured.');
    const [iv = '', tag = '', ciphertext = ''] = value.slice(SEALED_PREFIX.length).split(':');
    return this.cipher.open({ iv, tag, ciphertext });
  }
}
