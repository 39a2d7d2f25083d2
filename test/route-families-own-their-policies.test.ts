import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { bearerAuth, buildTestApp, type TestApp } from './support/test-app.js';
import { ensureWebBuild } from './support/web-build.js';
import { dashboardAuth } from './support/web-app.js';

/**
 * Each route family (seed API, modern API, dashboard API, popup pages, proxy, web UI, probes) answers in its own
 * error shape with its own CORS policy, also where no route serves a request yet: a preflight, an unknown path or
 * a malformed URL is judged by the family mounted at its path.
 */
const KEY = 'sk-families-51d0e2a7';
const OTHER_SITE = 'https://app.example.com';
const MODERN_SDK = 'nango-node-client/0.71.10';

let database: TestDatabase;
let test: TestApp;
let limited: TestApp;

beforeAll(async () => {
  ensureWebBuild();
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: KEY });
  limited = await buildTestApp(database, { NANGO_SECRET_KEY: KEY, NANGO_AUTH_FAILURE_LIMIT: '2' });
});

afterAll(async () => {
  await test?.close();
  await limited?.close();
  await database?.drop();
});

const preflight = (url: string) => test.app.inject({ method: 'OPTIONS', url, headers: { origin: OTHER_SITE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } });

describe('a browser on another site', () => {
  it('gets its preflight for the modern API answered 204 with `*`, without credentials', async () => {
    for (const url of ['/integrations', '/connect/sessions', '/api-auth/api-key/github', '/config']) {
      const response = await preflight(url);
      expect(response.statusCode, url).toBe(204);
      expect(response.headers['access-control-allow-origin'], url).toBe('*');
      expect(response.headers['access-control-allow-headers'], url).toBe('authorization');
    }
  });

  it('gets no CORS answer to a preflight for the dashboard`s API, however the path is spelt', async () => {
    for (const url of ['/api/v1/integration', '/%61pi/v1/integration', '/api/v1/nothing']) {
      const response = await preflight(url);
      expect(response.statusCode, url).toBe(404);
      expect(response.headers['access-control-allow-origin'], url).toBeUndefined();
    }
  });

  it('can read a 404 from an unknown path below an API it may call, in the seed shape', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/connections/a/b/c', headers: { origin: OTHER_SITE } });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ type: 'not_found' });
    expect(response.headers['access-control-allow-origin']).toBe('*');
  });

  it('cannot read the dashboard`s pages or files: the web UI allows no other origin', async () => {
    for (const url of ['/', '/dashboard/integrations', '/favicon.svg']) {
      const response = await test.app.inject({ method: 'GET', url, headers: { origin: OTHER_SITE, authorization: dashboardAuth('admin', KEY) } });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['access-control-allow-origin'], url).toBeUndefined();
    }
  });

  it('can read the probes and the logos', async () => {
    for (const url of ['/health', '/logos/github.svg']) {
      const response = await test.app.inject({ method: 'GET', url, headers: { origin: OTHER_SITE } });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['access-control-allow-origin'], url).toBe('*');
    }
  });
});

describe('a malformed URL, refused before any route runs', () => {
  it('is answered in the modern shape below the modern API', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/integrations/%zz', headers: { authorization: bearerAuth(KEY) } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: { code: 'invalid_uri_params', message: expect.stringContaining('not valid') } });
  });

  it('is answered in the seed shape below the seed and the dashboard APIs, whatever client sends it', async () => {
    for (const url of ['/config/%zz', '/connection/%zz', '/api/v1/integration/%zz']) {
      const response = await test.app.inject({ method: 'GET', url, headers: { authorization: bearerAuth(KEY), 'user-agent': MODERN_SDK } });
      expect(response.statusCode, url).toBe(400);
      expect(response.json(), url).toEqual({ error: expect.stringContaining('not valid'), type: 'invalid_uri_params', payload: {} });
    }
  });
});

describe('the auth-failure limit', () => {
  it('answers its 429 in the shape of the route`s family, not of the client`s SDK', async () => {
    const wrong = (url: string) => limited.app.inject({ method: 'GET', url, remoteAddress: '10.7.0.1', headers: { authorization: bearerAuth('wrong'), 'user-agent': MODERN_SDK } });
    for (let attempt = 0; attempt < 2; attempt += 1) expect((await wrong('/config')).statusCode).toBe(401);
    const seed = await wrong('/config');
    expect(seed.statusCode).toBe(429);
    expect(seed.json()).toMatchObject({ type: 'too_many_requests', payload: {} });
    const modern = await wrong('/integrations');
    expect(modern.statusCode).toBe(429);
    expect(modern.json()).toMatchObject({ error: { code: 'too_many_requests' } });
    const proxy = await wrong('/proxy/anything');
    expect(proxy.statusCode).toBe(429);
    expect(proxy.json()).toMatchObject({ error: { code: 'too_many_requests' } });
  });
});

describe('the audit trail', () => {
  it('names the principal each family`s guard established', async () => {
    const created = await test.app.inject({ method: 'POST', url: '/config', headers: { authorization: bearerAuth(KEY) }, payload: { provider_config_key: 'github', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' } });
    expect(created.statusCode).toBe(200);
    const dashboard = await test.app.inject({ method: 'GET', url: '/api/v1/integration/github', headers: { authorization: dashboardAuth('admin', KEY) } });
    expect(dashboard.statusCode).toBe(200);
    const modern = await test.app.inject({ method: 'GET', url: '/integrations/github?include=credentials', headers: { authorization: bearerAuth(KEY) } });
    expect(modern.statusCode).toBe(200);
    const entries = await database.knex('_custody_audit_log').where({ provider_config_key: 'github' }).orderBy('id').select('route', 'principal');
    expect(entries).toEqual([
      { route: 'POST /config', principal: 'secret_key' },
      { route: 'GET /api/v1/integration/:providerConfigKey', principal: 'dashboard:(secret key)' },
      { route: 'GET /integrations/:uniqueKey', principal: 'secret_key' },
    ]);
  });
});
