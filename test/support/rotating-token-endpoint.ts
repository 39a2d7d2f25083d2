import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientAuthRefusal, formContentTypeRefusal } from './token-request-rules.js';

/**
 * A provider's token endpoint on 127.0.0.1 that rotates the refresh token on every refresh, for crash tests.
 *
 * Strict rotation (the old token dies the moment a new one is issued) cannot be survived by any client: if the
 * client is killed after the provider answered but before it stored the answer, the token it still has is dead
 * and the new one is lost. Real rotating providers therefore keep the previous token usable for a while (Auth0's
 * reuse interval, Xero's grace period). This endpoint models the tightest such rule: the previous refresh token
 * stays valid only until the new one is first used. Using the previous one again issues another new token (the
 * unused one is dropped); any other token (spent, dropped, unknown) is refused with `invalid_grant` and counted
 * as a stale use, which a correct client never makes.
 *
 * Each grant (one end user's authorisation; one connection) has its own chain of tokens.
 *
 * Like a provider that follows RFC 6749, it takes only form-encoded POSTs (§3.2), authenticates the client by
 * the one method the template declares (§2.3: body fields by default, HTTP Basic with `clientAuth: 'basic'`;
 * never both), and answers errors as §5.2 spells them.
 */
export interface RotatingTokenEndpoint {
  tokenUrl: string;
  authorizationUrl: string;
  clientId: string;
  clientSecret: string;
  /** A new grant, as if an authorization-code exchange had just issued its first tokens; returns its name. */
  grant(): string;
  /** The refresh token the provider honours first for a grant (the newest one issued). */
  currentRefreshToken(grant: string): string;
  /** The one before it, while still valid (until the current one is first used). */
  previousRefreshToken(grant: string): string | undefined;
  /** The access token issued with the current refresh token. */
  currentAccessToken(grant: string): string;
  /** Refresh requests answered with new tokens, for one grant. */
  rotations(grant: string): number;
  /** Refresh requests with a token that was neither the current nor the still-valid previous one of any grant. */
  staleUses(): number;
  /** How long each answer is held back (ms), chosen per request. */
  answerDelay: () => number;
  /** While true, every refresh is answered 503 `temporarily_unavailable` and rotates nothing (a provider outage). */
  outage: boolean;
  /** Refresh requests answered during an outage. */
  refusedDuringOutage(): number;
  /** Every refresh request received, whatever the answer. */
  requests(): number;
  /** `received` once a refresh has been decided (the answer is then held `delayMs`), `answered` once the answer was handed to the socket. */
  events: EventEmitter<RotatingTokenEvents>;
  close(): Promise<void>;
}

export interface RotatingTokenEvents {
  received: [grant: string, delayMs: number];
  answered: [grant: string];
}

interface Grant {
  refreshToken: string;
  accessToken: string;
  previous: string | undefined;
  rotations: number;
}

export interface RotatingTokenEndpointOptions {
  /** How the template makes the client authenticate: `body` (client_id and client_secret fields, the default) or `basic`. */
  clientAuth?: 'body' | 'basic';
}

export async function startRotatingTokenEndpoint(options: RotatingTokenEndpointOptions = {}): Promise<RotatingTokenEndpoint> {
  const clientAuth = options.clientAuth ?? 'body';
  const clientId = `rotating-client-${randomBytes(4).toString('hex')}`;
  const clientSecret = `rotating-secret-${randomBytes(12).toString('hex')}`;
  const grants = new Map<string, Grant>();
  let stale = 0;
  let refused = 0;
  let requests = 0;
  const events = new EventEmitter<RotatingTokenEvents>();

  const find = (name: string): Grant => {
    const grant = grants.get(name);
    if (!grant) throw new Error(`No grant "${name}".`);
    return grant;
  };
  /** The grant for which this token is the current or the still-valid previous refresh token. */
  const honouring = (token: string | null): [string, Grant] | undefined =>
    token === null ? undefined : [...grants.entries()].find(([, grant]) => grant.refreshToken === token || grant.previous === token);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: Record<string, unknown>, delayMs: number, grantName = '', headers: Record<string, string> = {}): void => {
        setTimeout(() => {
          res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', ...headers });
          res.end(JSON.stringify(body), () => events.emit('answered', grantName));
        }, delayMs);
      };
      if (req.url !== '/token') return answer(404, { error: 'not_found' }, 0);
      if (req.method !== 'POST') return answer(405, { error: 'invalid_request', error_description: 'The token endpoint takes POST only (RFC 6749 §3.2).' }, 0);
      const notForm = formContentTypeRefusal(req.headers['content-type']);
      if (notForm) return answer(notForm.status, notForm.body, 0);
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const refusal = clientAuthRefusal(req.headers.authorization, params, clientAuth, { [clientId]: clientSecret });
      if (refusal) return answer(refusal.status, refusal.body, 0, '', refusal.headers);
      if (!params.get('grant_type')) return answer(400, { error: 'invalid_request', error_description: 'grant_type is missing.' }, 0);
      if (params.get('grant_type') !== 'refresh_token') return answer(400, { error: 'unsupported_grant_type' }, 0);
      requests++;
      if (endpoint.outage) {
        refused++;
        return answer(503, { error: 'temporarily_unavailable', error_description: 'The authorization server is down for maintenance.' }, 0);
      }
      const presented = params.get('refresh_token');
      if (!presented) return answer(400, { error: 'invalid_request', error_description: 'refresh_token is missing.' }, 0);
      const found = honouring(presented);
      if (!found) {
        stale++;
        return answer(400, { error: 'invalid_grant', error_description: 'The refresh token is expired, revoked or was already used.' }, 0);
      }
      const [name, grant] = found;
      // The newest token is being used: nobody needs the one before it any more, so it dies now. Presenting the
      // previous one instead means the newest answer never arrived; the previous one then stays valid.
      if (presented === grant.refreshToken) grant.previous = grant.refreshToken;
      // Decided now, as a provider commits before it answers; the answer may still be lost with its client.
      grant.refreshToken = newToken('refresh');
      grant.accessToken = newToken('access');
      grant.rotations++;
      const delayMs = endpoint.answerDelay();
      events.emit('received', name, delayMs);
      answer(200, { access_token: grant.accessToken, refresh_token: grant.refreshToken, token_type: 'Bearer', expires_in: 3600 }, delayMs, name);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const endpoint: RotatingTokenEndpoint = {
    tokenUrl: `${origin}/token`,
    authorizationUrl: `${origin}/authorize`,
    clientId,
    clientSecret,
    grant: () => {
      const name = `grant-${grants.size + 1}`;
      grants.set(name, { refreshToken: newToken('refresh'), accessToken: newToken('access'), previous: undefined, rotations: 0 });
      return name;
    },
    currentRefreshToken: (grant) => find(grant).refreshToken,
    previousRefreshToken: (grant) => find(grant).previous,
    currentAccessToken: (grant) => find(grant).accessToken,
    rotations: (grant) => find(grant).rotations,
    staleUses: () => stale,
    answerDelay: () => 0,
    outage: false,
    refusedDuringOutage: () => refused,
    requests: () => requests,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return endpoint;
}

function newToken(kind: string): string {
  return `${kind}-${randomBytes(16).toString('hex')}`;
}
