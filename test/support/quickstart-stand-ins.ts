import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * GitHub and OpenAI on 127.0.0.1, for the quickstart: what the reader registers and connects, enforcing what
 * each documents for that path. GitHub: an OAuth app's web flow (a registered callback URL, one-time codes
 * bound to the client and redirect URI, PKCE when a challenge was sent, the client secret at the token
 * endpoint, a JSON answer only when asked for with Accept) and `GET /user` with that token. OpenAI:
 * `GET /v1/models` with `Authorization: Bearer <key>`, and 401 for any other key.
 */
export interface StandIn {
  origin: string;
  close(): Promise<void>;
}

export interface GitHubStandIn extends StandIn {
  clientId: string;
  clientSecret: string;
  login: string;
  /** Access tokens issued, in order. */
  issuedTokens: string[];
}

export interface OpenAiStandIn extends StandIn {
  apiKey: string;
}

interface PendingCode {
  redirectUri: string;
  codeChallenge: string | undefined;
  scope: string;
}

export async function startGitHubStandIn(callbackUrl: string): Promise<GitHubStandIn> {
  const clientId = `Ov23li${randomBytes(7).toString('hex')}`;
  const clientSecret = randomBytes(20).toString('hex');
  const codes = new Map<string, PendingCode>();
  const tokens = new Set<string>();
  const issuedTokens: string[] = [];
  const login = 'alice-on-github';
  const listening = await listen(async (req, res, url) => {
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const query = url.searchParams;
      if (query.get('client_id') !== clientId) return sendJson(res, 404, { message: 'Not Found' });
      // An OAuth app's redirect_uri must be its callback URL (or below it); anything else is refused, never followed.
      const redirectUri = query.get('redirect_uri') ?? callbackUrl;
      if (!redirectUri.startsWith(callbackUrl)) return sendText(res, 400, 'The redirect_uri MUST match the registered callback URL for this application.');
      const challenge = query.get('code_challenge') ?? undefined;
      if (challenge && query.get('code_challenge_method') !== 'S256') return sendText(res, 400, 'code_challenge_method must be S256.');
      const code = randomBytes(10).toString('hex');
      codes.set(code, { redirectUri, codeChallenge: challenge, scope: query.get('scope') ?? '' });
      // The reader clicks "Authorize" on GitHub's page; the stand-in grants at once.
      const back = new URL(redirectUri);
      back.searchParams.set('code', code);
      const state = query.get('state');
      if (state !== null) back.searchParams.set('state', state);
      res.writeHead(302, { location: back.toString() }).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const params = await readParams(req);
      const basic = basicCredentials(req.headers.authorization);
      const givenId = basic?.id ?? params['client_id'];
      const givenSecret = basic?.secret ?? params['client_secret'];
      const pending = codes.get(params['code'] ?? '');
      let answer: Record<string, string>;
      if (givenId !== clientId || givenSecret !== clientSecret) {
        answer = { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' };
      } else if (!pending || (params['redirect_uri'] !== undefined && params['redirect_uri'] !== pending.redirectUri)) {
        answer = { error: pending ? 'redirect_uri_mismatch' : 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' };
      } else if (pending.codeChallenge && pkceChallenge(params['code_verifier'] ?? '') !== pending.codeChallenge) {
        answer = { error: 'bad_verification_code', error_description: 'The code_verifier does not match the code_challenge.' };
      } else {
        const token = `gho_${randomBytes(18).toString('hex')}`;
        tokens.add(token);
        issuedTokens.push(token);
        answer = { access_token: token, token_type: 'bearer', scope: pending.scope };
      }
      codes.delete(params['code'] ?? '');
      // GitHub answers 200 even for errors, as a form unless JSON is asked for.
      if ((req.headers.accept ?? '').includes('application/json')) return sendJson(res, 200, answer);
      return sendText(res, 200, new URLSearchParams(answer).toString(), 'application/x-www-form-urlencoded');
    }
    if (req.method === 'GET' && url.pathname === '/user') {
      const token = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !tokens.has(token)) return sendJson(res, 401, { message: 'Requires authentication', status: '401' });
      return sendJson(res, 200, { login, id: 1, type: 'User' });
    }
    sendJson(res, 404, { message: 'Not Found' });
  });
  return { ...standInBase(listening), clientId, clientSecret, login, issuedTokens };
}

export async function startOpenAiStandIn(): Promise<OpenAiStandIn> {
  const apiKey = `sk-proj-${randomBytes(16).toString('hex')}`;
  const listening = await listen(async (req, res, url) => {
    const key = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (key !== apiKey) {
      return sendJson(res, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-quickstart', object: 'model', owned_by: 'openai' }] });
    }
    sendJson(res, 404, { error: { message: `Invalid URL (${req.method ?? ''} ${url.pathname})`, type: 'invalid_request_error' } });
  });
  return { ...standInBase(listening), apiKey };
}

interface Listening {
  server: http.Server;
  origin: string;
}

async function listen(handle: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>): Promise<Listening> {
  const server = http.createServer((req, res) => {
    handle(req, res, new URL(req.url ?? '/', 'http://127.0.0.1')).catch((error: unknown) => sendText(res, 500, String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function standInBase(listening: Listening): StandIn {
  return {
    origin: listening.origin,
    close: async () => {
      listening.server.closeAllConnections();
      await new Promise<void>((resolve) => listening.server.close(() => resolve()));
    },
  };
}

async function readParams(req: IncomingMessage): Promise<Record<string, string>> {
  let body = '';
  for await (const chunk of req) body += (chunk as Buffer).toString();
  if ((req.headers['content-type'] ?? '').startsWith('application/json')) return JSON.parse(body) as Record<string, string>;
  return Object.fromEntries(new URLSearchParams(body));
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!encoded) return undefined;
  const [id = '', ...rest] = Buffer.from(encoded, 'base64').toString('utf8').split(':');
  return { id: decodeURIComponent(id), secret: decodeURIComponent(rest.join(':')) };
}

function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType }).end(body);
}
