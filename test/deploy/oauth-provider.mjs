#!/usr/bin/env node
// A small, strict OAuth 2.0 authorization server for the deployment test (deploy.test.sh). It runs as an
// extra compose service from the node base image, so it has no dependencies: the server container reaches
// its token endpoint by service name, and the test (on the host) follows its authorize redirect through the
// published port. Strict on purpose: a successful flow then proves that the server sent the right client
// id and secret, the registered redirect_uri and a PKCE S256 verifier, and used each code and refresh token
// once.
//
//   GET  /authorize   auto-approves (there is no user to ask) and redirects to redirect_uri with code and state
//   POST /token       authorization_code and refresh_token grants; rotating refresh tokens
//   GET  /test/state  what it issued and what it refused, so the test can compare tokens (test-only)
//   GET  /health      readiness
//
// Token requests must be form-encoded POSTs (RFC 6749 §3.2) and authenticate the client by exactly one method,
// the one the provider template declares (§2.3): CLIENT_AUTH=body (client_id and client_secret fields, the
// default, as the deploy template declares no authorization_method) or basic. Refresh tokens rotate; presenting
// a spent one is refused and also revokes the live token of its grant (reuse detection, as rotating providers do).
//
// Settings (environment): CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (exact match), CLIENT_AUTH, PORT (default 8080).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oauth-provider: ${name} is not set`);
    process.exit(2);
  }
  return value;
}
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const REDIRECT_URI = required('REDIRECT_URI');
const PORT = Number(process.env.PORT || 8080);
const CLIENT_AUTH = process.env.CLIENT_AUTH || 'body';
if (CLIENT_AUTH !== 'body' && CLIENT_AUTH !== 'basic') {
  console.error('oauth-provider: CLIENT_AUTH must be body or basic');
  process.exit(2);
}
const CODE_LIFETIME_MS = 60_000;
const TOKEN_LIFETIME_S = 3600;

/** code → what the authorize request bound it to. Kept after use, so a replay is recognised as one. */
const codes = new Map();
/** Live refresh tokens only: a rotated-out one is deleted, so presenting it again is refused. */
const refreshTokens = new Map();
/** Rotated-out refresh token → its grant, to recognise a reuse. */
const spentRefreshTokens = new Map();
const issued = [];
const refused = [];

const token = (prefix) => `${prefix}-${randomBytes(18).toString('base64url')}`;
const sameText = (a, b) => {
  const [x, y] = [Buffer.from(String(a)), Buffer.from(String(b))];
  return x.length === y.length && timingSafeEqual(x, y);
};

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function refuse(res, endpoint, status, error, description, extraHeaders) {
  refused.push({ endpoint, error, error_description: description });
  console.log(`refused ${endpoint}: ${error}: ${description}`);
  send(res, status, { error, error_description: description }, extraHeaders);
}

function authorize(res, query) {
  // RFC 6749 §4.1.2.1: a wrong client or redirect_uri must not redirect (it could be an attacker's address).
  if (query.get('client_id') !== CLIENT_ID) return refuse(res, 'authorize', 400, 'invalid_client', `unknown client_id "${query.get('client_id')}"`);
  if (query.get('redirect_uri') !== REDIRECT_URI) {
    return refuse(res, 'authorize', 400, 'invalid_request', `redirect_uri "${query.get('redirect_uri')}" is not the registered ${REDIRECT_URI}`);
  }
  const back = new URL(REDIRECT_URI);
  const state = query.get('state');
  if (state) back.searchParams.set('state', state);
  const problem =
    query.get('response_type') !== 'code' ? ['unsupported_response_type', 'response_type must be code']
    : !state ? ['invalid_request', 'state is required']
    : query.get('code_challenge_method') !== 'S256' ? ['invalid_request', 'PKCE with code_challenge_method=S256 is required']
    : !/^[A-Za-z0-9_-]{43}$/.test(query.get('code_challenge') ?? '') ? ['invalid_request', 'code_challenge must be a base64url SHA-256 digest']
    : undefined;
  if (problem) {
    refused.push({ endpoint: 'authorize', error: problem[0], error_description: problem[1] });
    back.searchParams.set('error', problem[0]);
    back.searchParams.set('error_description', problem[1]);
    return send(res, 302, '', { location: back.toString() });
  }
  const code = token('code');
  codes.set(code, {
    challenge: query.get('code_challenge'),
    redirectUri: query.get('redirect_uri'),
    scope: query.get('scope') ?? '',
    expiresAt: Date.now() + CODE_LIFETIME_MS,
    used: false,
  });
  back.searchParams.set('code', code);
  send(res, 302, '', { location: back.toString() });
}

function issue(grant, scope, family = token('grant')) {
  const pair = { grant, access_token: token('at'), refresh_token: token('rt') };
  refreshTokens.set(pair.refresh_token, { scope, family });
  issued.push(pair);
  return { access_token: pair.access_token, token_type: 'Bearer', expires_in: TOKEN_LIFETIME_S, refresh_token: pair.refresh_token, scope };
}

/** RFC 6749 §2.3.1: the parts of HTTP Basic are form-encoded before they are joined; undefined when malformed. */
function basicCredentials(header) {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString();
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const formDecode = (text) => decodeURIComponent(text.replace(/\+/g, ' '));
    return [formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1))];
  } catch {
    return undefined;
  }
}

function tokenRequest(req, res, params) {
  // Client authentication: exactly one method (RFC 6749 §2.3), the one the template declares.
  const challenge = { 'www-authenticate': 'Basic realm="deploy-test"' };
  const hasBasic = /^Basic /i.test(req.headers.authorization ?? '');
  if (hasBasic && params.has('client_secret')) return refuse(res, 'token', 400, 'invalid_request', 'the client used more than one authentication method');
  if (CLIENT_AUTH === 'basic' ? !hasBasic : hasBasic) {
    return refuse(res, 'token', 401, 'invalid_client', `this client authenticates with ${CLIENT_AUTH === 'basic' ? 'HTTP Basic' : 'client_id and client_secret in the body'}`, challenge);
  }
  const [id, secret] = CLIENT_AUTH === 'basic' ? (basicCredentials(req.headers.authorization) ?? []) : [params.get('client_id'), params.get('client_secret')];
  if (id !== CLIENT_ID || !sameText(secret ?? '', CLIENT_SECRET) || (params.has('client_id') && params.get('client_id') !== CLIENT_ID)) {
    return refuse(res, 'token', 401, 'invalid_client', 'client authentication failed', challenge);
  }
  const grantType = params.get('grant_type');
  if (grantType === 'authorization_code') {
    const code = params.get('code') ?? '';
    const entry = codes.get(code);
    if (!entry) return refuse(res, 'token', 400, 'invalid_grant', 'unknown authorization code');
    if (entry.used) {
      // RFC 6749 §4.1.2: a code used twice is refused, and what it issued is revoked.
      for (const [live, issuedEntry] of refreshTokens) if (issuedEntry.family === entry.family) refreshTokens.delete(live);
      return refuse(res, 'token', 400, 'invalid_grant', 'authorization code already used; its tokens are revoked');
    }
    if (Date.now() > entry.expiresAt) return refuse(res, 'token', 400, 'invalid_grant', 'authorization code expired');
    if (params.get('redirect_uri') !== entry.redirectUri) return refuse(res, 'token', 400, 'invalid_grant', 'redirect_uri differs from the authorize request');
    const verifier = params.get('code_verifier') ?? '';
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || createHash('sha256').update(verifier).digest('base64url') !== entry.challenge) {
      return refuse(res, 'token', 400, 'invalid_grant', 'PKCE verification failed');
    }
    entry.used = true;
    entry.family = token('grant');
    return send(res, 200, issue('authorization_code', entry.scope, entry.family));
  }
  if (grantType === 'refresh_token') {
    const presented = params.get('refresh_token') ?? '';
    if (!presented) return refuse(res, 'token', 400, 'invalid_request', 'refresh_token is missing');
    const spentBy = spentRefreshTokens.get(presented);
    if (spentBy) {
      for (const [live, entry] of refreshTokens) if (entry.family === spentBy) refreshTokens.delete(live);
      return refuse(res, 'token', 400, 'invalid_grant', 'refresh token already used; the grant is revoked');
    }
    const entry = refreshTokens.get(presented);
    if (!entry) return refuse(res, 'token', 400, 'invalid_grant', 'unknown refresh token');
    const scope = params.get('scope');
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    if (scope && !scope.split(' ').every((one) => entry.scope.split(' ').includes(one))) return refuse(res, 'token', 400, 'invalid_scope', `scope "${scope}" exceeds the grant's "${entry.scope}"`);
    refreshTokens.delete(presented);
    spentRefreshTokens.set(presented, entry.family);
    return send(res, 200, issue('refresh_token', scope || entry.scope, entry.family));
  }
  refuse(res, 'token', 400, 'unsupported_grant_type', `grant_type "${grantType}" is not supported`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > 64 * 1024) reject(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://provider');
  console.log(`${req.method} ${url.pathname}`);
  try {
    if (req.method === 'GET' && url.pathname === '/health') return send(res, 200, { ok: true });
    if (req.method === 'GET' && url.pathname === '/test/state') return send(res, 200, { issued, refused });
    if (req.method === 'GET' && url.pathname === '/authorize') return authorize(res, url.searchParams);
    if (url.pathname === '/token') {
      if (req.method !== 'POST') return refuse(res, 'token', 405, 'invalid_request', 'the token endpoint takes POST only');
      const text = await readBody(req);
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return refuse(res, 'token', 400, 'invalid_request', `the token request must be application/x-www-form-urlencoded, not "${type}"`);
      return tokenRequest(req, res, new URLSearchParams(text));
    }
    send(res, 404, { error: 'not_found' });
  } catch (error) {
    refuse(res, url.pathname, 400, 'invalid_request', error.message);
  }
});
server.listen(PORT, '0.0.0.0', () => console.log(`oauth-provider listening on ${PORT}, client ${CLIENT_ID}, redirect_uri ${REDIRECT_URI}`));
// Node as PID 1 has no default SIGTERM handling; without this every `down` waits for the kill.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
