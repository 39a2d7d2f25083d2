import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, jwtVerify } from 'jose';

/**
 * A local stand-in for GitHub's side of a GitHub App, as strict as GitHub documents it
 * (docs.github.com: "Generating a JSON Web Token (JWT) for a GitHub App", "Create an installation access token
 * for an app", "Installing your own GitHub App"):
 *
 * - `GET /apps/<slug>/installations/new?state=…` installs the app for the test's account and sends the browser to
 *   the app's Setup URL with `installation_id`, `setup_action` and the state;
 * - `POST /app/installations/<id>/access_tokens` takes `Authorization: Bearer <JWT>` and answers 201
 *   `{token, expires_at, permissions, repository_selection}`. The JWT must be RS256, signed with the app's key
 *   (checked with its public key), `iss` the app id, `iat` in the past, `exp` in the future and no more than 10
 *   minutes away; anything else is 401. An installation it does not know is 404. A request without a
 *   User-Agent is 403, as GitHub's API refuses one;
 * - `GET /installation/repositories` is the API the proxy reaches, open only to an unexpired installation token.
 */
export interface GitHubAppServer {
  origin: string;
  appId: string;
  slug: string;
  /** The app's private key as GitHub lets its owner download it (PKCS#1 PEM). */
  privateKeyPem: string;
  /** Where the installation page sends the browser (the app's Setup URL). */
  setupUrl: string;
  /** The installation the next visit to the installation page creates, and what GitHub says of it. */
  nextInstallation: { id: string; setupAction: 'install' | 'update' | 'request' };
  installations: Set<string>;
  /** How long minted tokens live (GitHub: one hour). */
  tokenLifetimeMs: number;
  /** Tokens minted, per installation id. */
  mints: Map<string, number>;
  /** Why each refused token request was refused, in order. */
  refusals: string[];
  /** The claims of every JWT accepted, for assertions on iat and exp. */
  acceptedClaims: { iss: string; iat: number; exp: number; receivedAt: number }[];
  /** Tokens issued and when each stops working. */
  tokens: Map<string, number>;
  close(): Promise<void>;
}

export async function startGitHubAppServer(options: { appId?: string; slug?: string } = {}): Promise<GitHubAppServer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stand: GitHubAppServer = {
    origin: '',
    appId: options.appId ?? '424242',
    slug: options.slug ?? 'custody-test-app',
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    setupUrl: '',
    nextInstallation: { id: '1001', setupAction: 'install' },
    installations: new Set(),
    tokenLifetimeMs: 60 * 60 * 1000,
    mints: new Map(),
    refusals: [],
    acceptedClaims: [],
    tokens: new Map(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      handle(stand, publicKey, req, res).catch((error: unknown) => json(res, 500, { message: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stand.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stand;
}

async function handle(stand: GitHubAppServer, publicKey: KeyObject, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', stand.origin);
  if (req.method === 'GET' && url.pathname === `/apps/${stand.slug}/installations/new`) {
    const { id, setupAction } = stand.nextInstallation;
    if (setupAction !== 'request') stand.installations.add(id);
    const back = new URL(stand.setupUrl);
    if (setupAction !== 'request') back.searchParams.set('installation_id', id);
    back.searchParams.set('setup_action', setupAction);
    const state = url.searchParams.get('state');
    if (state) back.searchParams.set('state', state);
    res.writeHead(302, { location: back.toString() }).end();
    return;
  }
  const tokenPath = /^\/app\/installations\/([^/]+)\/access_tokens$/.exec(url.pathname);
  if (req.method === 'POST' && tokenPath) return mint(stand, publicKey, tokenPath[1] ?? '', req, res);
  if (req.method === 'GET' && url.pathname === '/installation/repositories') {
    const token = /^(?:Bearer|token) (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiresAt = token ? stand.tokens.get(token) : undefined;
    if (expiresAt === undefined || expiresAt <= Date.now()) return json(res, 401, { message: 'Bad credentials' });
    return json(res, 200, { total_count: 1, repositories: [{ full_name: 'octo-org/hello' }] });
  }
  json(res, 404, { message: 'Not Found' });
}

async function mint(stand: GitHubAppServer, publicKey: KeyObject, installationId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const refuse = (status: number, reason: string, message: string) => {
    stand.refusals.push(reason);
    json(res, status, { message, documentation_url: 'https://docs.github.com/rest' });
  };
  if (!req.headers['user-agent']) return refuse(403, 'no user agent', 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.');
  if (!String(req.headers.accept ?? '').includes('application/vnd.github+json')) return refuse(415, 'accept', 'Unsupported Accept header');
  const jwt = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!jwt) return refuse(401, 'no jwt', 'A JSON web token could not be decoded');
  let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
  try {
    if (decodeProtectedHeader(jwt).alg !== 'RS256') return refuse(401, 'alg', 'A JSON web token could not be decoded');
    // jose checks the signature and that `exp` has not passed; GitHub's other rules follow.
    ({ payload: claims } = await jwtVerify(jwt, publicKey, { algorithms: ['RS256'], clockTolerance: 0 }));
  } catch (error) {
    const reason = (error as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'signature';
    return refuse(401, reason, reason === 'expired' ? "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires" : 'A JSON web token could not be decoded');
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.iat !== 'number' || claims.iat > now) return refuse(401, 'iat', "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued");
  if (typeof claims.exp !== 'number' || claims.exp <= now) return refuse(401, 'expired', "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires");
  if (claims.exp > now + 600) return refuse(401, 'exp too far', "'Expiration time' claim ('exp') is too far in the future");
  if (String(claims.iss) !== stand.appId) return refuse(401, 'issuer', "'Issuer' claim ('iss') must be an Integer");
  if (!stand.installations.has(installationId)) return refuse(404, 'unknown installation', 'Not Found');
  stand.acceptedClaims.push({ iss: String(claims.iss), iat: claims.iat, exp: claims.exp, receivedAt: now });
  stand.mints.set(installationId, (stand.mints.get(installationId) ?? 0) + 1);
  const token = `ghs_${randomBytes(18).toString('hex')}`;
  const expiresAt = Date.now() + stand.tokenLifetimeMs;
  stand.tokens.set(token, expiresAt);
  json(res, 201, { token, expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'), permissions: { contents: 'read', metadata: 'read' }, repository_selection: 'all' });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
