import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { noteSecrets } from './secret-watch.js';

/**
 * A provider's OAuth 2.0 token endpoint (RFC 6749 §3.2) on a loopback address, for flows whose browser leg a
 * spec skips: it issues codes for the spec to hand to the callback, and enforces what a provider does at this
 * endpoint: client authentication (form fields or HTTP Basic), single-use codes bound to the redirect URI,
 * known refresh tokens (rotated on use), and the client credentials grant. A spec may replace its answer to
 * model a provider that fails.
 */
export interface TokenEndpoint {
  /** `http://<host>:<port>` */
  origin: string;
  port: number;
  clientId: string;
  clientSecret: string;
  /** A code the endpoint will exchange once, for `redirectUri`. */
  issueCode(redirectUri: string): string;
  /** Requests received at /token. */
  requests: number;
  /** Replaces the answer to every request while set. */
  override: ((res: http.ServerResponse) => void) | undefined;
  close(): Promise<void>;
}

export async function startTokenEndpoint(options: { host?: string } = {}): Promise<TokenEndpoint> {
  const clientId = `client-${randomBytes(4).toString('hex')}`;
  const clientSecret = `client-secret-${randomBytes(12).toString('hex')}`;
  const codes = new Map<string, string>();
  const refreshTokens = new Set<string>();
  noteSecrets('token endpoint stand-in', [clientSecret]);

  const issueTokens = (res: http.ServerResponse, withRefresh: boolean): void => {
    const accessToken = `at-${randomBytes(12).toString('hex')}`;
    const refreshToken = `rt-${randomBytes(12).toString('hex')}`;
    noteSecrets('token endpoint stand-in', [accessToken, refreshToken]);
    if (withRefresh) refreshTokens.add(refreshToken);
    json(res, 200, { access_token: accessToken, token_type: 'bearer', expires_in: 3600, ...(withRefresh ? { refresh_token: refreshToken } : {}) });
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      endpoint.requests += 1;
      if (endpoint.override) return endpoint.override(res);
      if (req.method !== 'POST' || req.url !== '/token') return json(res, 404, { error: 'not_found' });
      const form = new URLSearchParams(body);
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const [basicId, basicSecret] = basic ? Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent) : [];
      const id = form.get('client_id') ?? basicId;
      const secret = form.get('client_secret') ?? basicSecret;
      if (id !== clientId || !secret || !sameText(secret, clientSecret)) return json(res, 401, { error: 'invalid_client' });
      const grant = form.get('grant_type');
      if (grant === 'authorization_code') {
        const code = form.get('code') ?? '';
        const redirectUri = codes.get(code);
        codes.delete(code);
        if (redirectUri === undefined || redirectUri !== form.get('redirect_uri')) return json(res, 400, { error: 'invalid_grant' });
        return issueTokens(res, true);
      }
      if (grant === 'refresh_token') {
        const token = form.get('refresh_token') ?? '';
        if (!refreshTokens.delete(token)) return json(res, 400, { error: 'invalid_grant' });
        return issueTokens(res, true);
      }
      if (grant === 'client_credentials') return issueTokens(res, false);
      return json(res, 400, { error: 'unsupported_grant_type' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const endpoint: TokenEndpoint = {
    origin: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    clientId,
    clientSecret,
    issueCode(redirectUri) {
      const code = `code-${randomBytes(12).toString('hex')}`;
      noteSecrets('token endpoint stand-in', [code]);
      codes.set(code, redirectUri);
      return code;
    },
    requests: 0,
    override: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return endpoint;
}

/** Each answer closes its connection, so every call of the server opens (and resolves) a new one. */
function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' }).end(JSON.stringify(body));
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
