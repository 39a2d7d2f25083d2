import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';
import { dashboardAuth } from './support/web-app.js';

/**
 * Issue 18, finding 7: what a page on another site can make a browser do. It cannot change anything through the
 * dashboard's API (POST/PUT/PATCH/DELETE on `/api/v1/*` are refused unless they come from the dashboard's own
 * origin); a percent-encoded spelling of a dashboard path gets no `*` CORS answer; the popup's WebSocket refuses
 * foreign origins once NANGO_ALLOWED_ORIGINS lists the allowed ones, and each client address may hold only so
 * many sockets. And new integration keys may not contain ":", which would make the connect HMAC ambiguous.
 */
const KEY = 'sk-cross-site-0123456789';
const SIGN_IN = dashboardAuth('admin', KEY);
const APP_ORIGIN = 'https://app.example.com';

let database: TestDatabase;
let keyed: TestApp;
let keyedUrl: string;
let open: TestApp;
let openUrl: string;
let guarded: TestApp;
let guardedUrl: string;
let capped: TestApp;
let cappedUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  keyed = await buildTestApp(database, { NANGO_SECRET_KEY: KEY });
  keyedUrl = await listenOnLoopback(keyed);
  open = await buildTestApp(database, {});
  openUrl = await listenOnLoopback(open);
  guarded = await buildTestApp(database, { NANGO_SECRET_KEY: KEY, NANGO_SERVER_URL: 'https://custody.example.com', NANGO_PUBLIC_CONNECT_URL: 'https://connect.example.com/connect', NANGO_ALLOWED_ORIGINS: `${APP_ORIGIN}, http://localhost:5173` });
  guardedUrl = await listenOnLoopback(guarded);
  capped = await buildTestApp(database, { NANGO_WEBSOCKETS_PER_ADDRESS: '3', NANGO_TRUST_PROXY: 'loopback' });
  cappedUrl = await listenOnLoopback(capped);
  const created = await keyed.app.inject({ method: 'POST', url: '/config', headers: { authorization: `Bearer ${KEY}` }, payload: { provider_config_key: 'github', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' } });
  expect(created.statusCode).toBe(200);
});

afterAll(async () => {
  for (const app of [keyed, open, guarded, capped]) await app?.close();
  await database?.drop();
});

const integrationCount = async () => Number((await database.knex('_nango_configs').count<{ n: string }[]>({ n: '*' }))[0]?.n);
const newIntegration = (key: string) => ({ provider_config_key: key, provider: 'github', client_id: 'cid', client_secret: 'csecret' });

describe('a page on another site that makes a signed-in browser change the dashboard', () => {
  it('is refused 403 for POST, PUT and DELETE by Sec-Fetch-Site, and nothing changes', async () => {
    const before = await integrationCount();
    for (const site of ['cross-site', 'same-site']) {
      const headers = { authorization: SIGN_IN, 'sec-fetch-site': site, origin: 'https://evil.example' };
      const requests = [
        { method: 'POST' as const, url: '/api/v1/integration', payload: newIntegration('planted') },
        { method: 'PUT' as const, url: '/api/v1/integration', payload: { ...newIntegration('github'), client_secret: 'attacker' } },
        { method: 'DELETE' as const, url: '/api/v1/integration/github' },
        { method: 'POST' as const, url: '/api/v1/connect-session', payload: { integration: 'github' } },
      ];
      for (const request of requests) {
        const response = await keyed.app.inject({ ...request, headers });
        expect(response.statusCode, `${request.method} ${request.url} (${site})`).toBe(403);
        expect(response.json()).toMatchObject({ type: 'forbidden', error: expect.stringContaining('Refused a dashboard change sent from another site') });
      }
    }
    expect(await integrationCount()).toBe(before);
    const github = await keyed.app.inject({ method: 'GET', url: '/api/v1/integration/github', headers: { authorization: SIGN_IN } });
    expect(github.json().integration.clientSecret).toBe('csecret');
  });

  it('is refused 403 by its Origin when the browser sends no Sec-Fetch-Site', async () => {
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:1`]) {
      const response = await keyed.app.inject({ method: 'POST', url: '/api/v1/integration', headers: { authorization: SIGN_IN, origin }, payload: newIntegration('planted') });
      expect(response.statusCode, origin).toBe(403);
    }
    expect(await database.knex('_nango_configs').where({ unique_key: 'planted' }).first()).toBeUndefined();
  });

  it('is refused on an open dashboard too (a server without a secret key, reached from a page the developer visits)', async () => {
    const response = await fetch(`${openUrl}/api/v1/integration`, { method: 'POST', headers: { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, body: JSON.stringify(newIntegration('planted')) });
    expect(response.status).toBe(403);
  });

  it('leaves the dashboard`s own pages, and clients that send no Origin (curl, scripts), free to change things', async () => {
    const host = new URL(keyedUrl).host;
    const sameOrigin = await keyed.app.inject({ method: 'POST', url: '/api/v1/integration', headers: { authorization: SIGN_IN, 'sec-fetch-site': 'same-origin', origin: keyedUrl, host }, payload: newIntegration('from-the-dashboard') });
    expect(sameOrigin.statusCode, sameOrigin.body).toBe(200);
    const olderBrowser = await keyed.app.inject({ method: 'DELETE', url: '/api/v1/integration/from-the-dashboard', headers: { authorization: SIGN_IN, origin: keyedUrl, host } });
    expect(olderBrowser.statusCode).toBe(200);
    const curl = await fetch(`${keyedUrl}/api/v1/integration`, { method: 'POST', headers: { authorization: SIGN_IN, 'content-type': 'application/json' }, body: JSON.stringify(newIntegration('from-curl')) });
    expect(curl.status).toBe(200);
    // Reads are not changes: a cross-site GET is still answered (the browser keeps the answer from the page without CORS).
    expect((await keyed.app.inject({ method: 'GET', url: '/api/v1/integration', headers: { authorization: SIGN_IN, 'sec-fetch-site': 'cross-site' } })).statusCode).toBe(200);
  });
});

describe('a page on another site that spells a dashboard path with percent-encoding', () => {
  it('gets no CORS answer for /%61pi/v1/*, which the router serves as /api/v1/*', async () => {
    const connection = await fetch(`${openUrl}/%61pi/v1/integration`, { headers: { origin: 'https://evil.example' } });
    expect(connection.status).toBe(200);
    expect(connection.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${keyedUrl}/%61pi/v1/integration`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    for (const path of ['/%64ashboard/connections', '/api%2Fv1/integration']) {
      const response = await fetch(`${openUrl}${path}`, { headers: { origin: 'https://evil.example' } });
      expect(response.headers.get('access-control-allow-origin'), path).toBeNull();
    }
  });

  it('still gets `*` on the APIs meant for other origins', async () => {
    const response = await fetch(`${keyedUrl}/integrations`, { headers: { origin: 'https://evil.example', authorization: `Bearer ${KEY}` } });
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });
});

type SocketOutcome = { kind: 'acknowledged'; socket: WebSocket } | { kind: 'refused'; status: number; body: string } | { kind: 'closed'; code: number; reason: string };

/** Opens the popup's WebSocket as a browser on `origin` would, and says how the server answered. */
function openSocket(url: string, headers: Record<string, string> = {}): Promise<SocketOutcome> {
  return new Promise((resolve, reject) => {
    const { origin, ...rest } = headers;
    const socket = new WebSocket(url.replace(/^http/, 'ws'), { headers: rest, ...(origin ? { origin } : {}) });
    socket.once('message', () => resolve({ kind: 'acknowledged', socket }));
    socket.once('close', (code, reason) => resolve({ kind: 'closed', code, reason: reason.toString() }));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ kind: 'refused', status: response.statusCode ?? 0, body }));
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

function closeAll(outcomes: SocketOutcome[]): void {
  for (const outcome of outcomes) if (outcome.kind === 'acknowledged') outcome.socket.terminate();
}

describe('a page on another origin that opens the popup`s WebSocket', () => {
  it('is refused 403 before the upgrade when NANGO_ALLOWED_ORIGINS does not list it, with the setting`s name', async () => {
    for (const origin of ['https://evil.example', 'null', 'https://app.example.com.evil.example']) {
      const outcome = await openSocket(guardedUrl, { origin });
      expect(outcome, origin).toMatchObject({ kind: 'refused', status: 403, body: expect.stringContaining('NANGO_ALLOWED_ORIGINS') });
    }
  });

  it('is acknowledged from a listed origin, the server`s own, the Connect UI`s, the host it came to, and without Origin (no browser)', async () => {
    const origins = [APP_ORIGIN, 'http://localhost:5173', 'https://custody.example.com', 'https://connect.example.com', guardedUrl, undefined];
    const outcomes = await Promise.all(origins.map((origin) => openSocket(guardedUrl, origin ? { origin } : {})));
    closeAll(outcomes);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(origins.map(() => 'acknowledged'));
  });

  it('is acknowledged from any origin while NANGO_ALLOWED_ORIGINS is unset (the frontend SDK runs on the operator`s own pages)', async () => {
    const outcome = await openSocket(keyedUrl, { origin: 'https://evil.example' });
    closeAll([outcome]);
    expect(outcome.kind).toBe('acknowledged');
  });

  it('refuses NANGO_ALLOWED_ORIGINS entries that are not origins, naming the variable', () => {
    expect(() => loadConfig({ NANGO_ALLOWED_ORIGINS: 'https://app.example.com/path' })).toThrow(/^NANGO_ALLOWED_ORIGINS must list origins/);
    expect(loadConfig({ NANGO_ALLOWED_ORIGINS: 'https://APP.example.com:443/, http://localhost:5173' }).browsers.allowedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });
});

describe('a client that opens WebSockets by the hundred', () => {
  it('gets its sockets over NANGO_WEBSOCKETS_PER_ADDRESS closed with 1008 and a reason; other addresses are not affected', async () => {
    const proxied = (address: string) => ({ 'x-forwarded-for': address });
    const held = await Promise.all([1, 2, 3].map(() => openSocket(cappedUrl, proxied('10.0.0.1'))));
    expect(held.map((outcome) => outcome.kind)).toEqual(['acknowledged', 'acknowledged', 'acknowledged']);
    const over = await openSocket(cappedUrl, proxied('10.0.0.1'));
    expect(over).toEqual({ kind: 'closed', code: 1008, reason: 'Too many WebSockets from this address (limit 3, NANGO_WEBSOCKETS_PER_ADDRESS).' });
    const neighbour = await openSocket(cappedUrl, proxied('10.0.0.2'));
    expect(neighbour.kind).toBe('acknowledged');
    expect(capped.logs.join('').match(/Refused WebSockets from 10\.0\.0\.1/g)).toHaveLength(1);

    // A socket that closes makes room for another.
    closeAll(held.slice(0, 1));
    await expect.poll(async () => {
      const next = await openSocket(cappedUrl, proxied('10.0.0.1'));
      closeAll([next]);
      return next.kind;
    }).toBe('acknowledged');
    closeAll([...held.slice(1), neighbour]);
  });
});

describe('an integration key with ":" in it', () => {
  it('is refused 400 when created, through the seed, the modern and the dashboard API, naming the rule', async () => {
    const seed = await keyed.app.inject({ method: 'POST', url: '/config', headers: { authorization: `Bearer ${KEY}` }, payload: { provider_config_key: 'github:prod', provider: 'github', oauth_client_id: 'c', oauth_client_secret: 's', oauth_scopes: 'repo' } });
    expect(seed.statusCode).toBe(400);
    expect(seed.json()).toMatchObject({ type: 'invalid_provider_config_key', error: expect.stringContaining('contains ":", which new keys may not') });
    const modern = await keyed.app.inject({ method: 'POST', url: '/integrations', headers: { authorization: `Bearer ${KEY}` }, payload: { unique_key: 'github:prod', provider: 'github' } });
    expect(modern.statusCode).toBe(400);
    expect(modern.json()).toEqual({ error: { code: 'invalid_provider_config_key', message: expect.stringContaining('HMAC') } });
    const dashboard = await keyed.app.inject({ method: 'POST', url: '/api/v1/integration', headers: { authorization: SIGN_IN }, payload: newIntegration('github:prod') });
    expect(dashboard.statusCode).toBe(400);
    const renamed = await keyed.app.inject({ method: 'PATCH', url: '/integrations/github', headers: { authorization: `Bearer ${KEY}` }, payload: { unique_key: 'github:renamed' } });
    expect(renamed.statusCode).toBe(400);
    expect(await database.knex('_nango_configs').where('unique_key', 'like', '%:%').count<{ n: string }[]>({ n: '*' }).then((rows) => Number(rows[0]?.n))).toBe(0);
  });

  it('keeps working where it already exists (created before this rule)', async () => {
    const row = await database.knex('_nango_configs').where({ unique_key: 'github' }).first();
    await database.knex('_nango_configs').insert({ ...row, id: undefined, unique_key: 'legacy:key' });
    const read = await keyed.app.inject({ method: 'GET', url: '/config/legacy:key', headers: { authorization: `Bearer ${KEY}` } });
    expect(read.statusCode).toBe(200);
    const updated = await keyed.app.inject({ method: 'PUT', url: '/config', headers: { authorization: `Bearer ${KEY}` }, payload: { provider_config_key: 'legacy:key', provider: 'github', oauth_client_id: 'c2', oauth_client_secret: 's2', oauth_scopes: 'repo' } });
    expect(updated.statusCode).toBe(200);
  });
});
