import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { appsOn, bearerAuth, type TestApp } from './support/test-app.js';
import { dashboardAuth } from './support/web-app.js';

/**
 * Online guessing of the secret key, an HMAC digest or the dashboard password is cut off: after
 * NANGO_AUTH_FAILURE_LIMIT failed attempts from one client address within the window, that address gets 429
 * for every wrong attempt, while the right credentials are still served (test/guessing-keys-never-locks-out-the-backend.test.ts).
 */
const KEY = 'sk-limit-test-5c1d9e';
const LIMIT = 5;

let database: TestDatabase;
const { appWith, closeAll } = appsOn(() => database, { NANGO_SECRET_KEY: KEY, NANGO_AUTH_FAILURE_LIMIT: String(LIMIT) });

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await closeAll();
  await database?.drop();
});

async function failTimes(app: TestApp, times: number, remoteAddress: string, url = '/config'): Promise<number[]> {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < times; attempt += 1) {
    const response = await app.app.inject({ method: 'GET', url, remoteAddress, headers: { authorization: bearerAuth(`wrong-${attempt}`) } });
    statuses.push(response.statusCode);
  }
  return statuses;
}

describe('wrong secret keys', () => {
  it('are answered 401 up to the limit, then 429 with Retry-After in the seed error shape', async () => {
    const app = await appWith();
    expect(await failTimes(app, LIMIT, '10.1.0.1')).toEqual(Array(LIMIT).fill(401));
    const refused = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.1', headers: { authorization: bearerAuth('wrong-again') } });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.json()).toMatchObject({ type: 'too_many_requests', error: expect.stringMatching(/too many failed authentication attempts/i) });
  });

  it('keep the address locked out for wrong keys, and the 429 says nothing about why the key was wrong', async () => {
    const app = await appWith();
    await failTimes(app, LIMIT, '10.1.0.2');
    const malformed = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.2', headers: { authorization: 'Bearer' } });
    const wrongKey = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.2', headers: { authorization: bearerAuth('wrong-again') } });
    expect([malformed.statusCode, wrongKey.statusCode]).toEqual([429, 429]);
    expect(malformed.json()).toMatchObject({ type: 'too_many_requests' });
    expect(wrongKey.json()).toMatchObject({ type: 'too_many_requests' });
  });

  it('get the modern error shape on the modern API', async () => {
    const app = await appWith();
    await failTimes(app, LIMIT, '10.1.0.3', '/connections');
    const refused = await app.app.inject({ method: 'GET', url: '/connections', remoteAddress: '10.1.0.3', headers: { authorization: bearerAuth('wrong-again') } });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'too_many_requests' } });
  });

  it('do not affect other client addresses', async () => {
    const app = await appWith();
    await failTimes(app, LIMIT + 2, '10.1.0.4');
    const other = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.5', headers: { authorization: bearerAuth(KEY) } });
    expect(other.statusCode).toBe(200);
  });

  it('leave health checks and requests without credentials alone', async () => {
    const app = await appWith();
    await failTimes(app, LIMIT, '10.1.0.6');
    expect((await app.app.inject({ method: 'GET', url: '/health', remoteAddress: '10.1.0.6' })).statusCode).toBe(200);
    expect((await app.app.inject({ method: 'GET', url: '/providers/github', remoteAddress: '10.1.0.6' })).statusCode).toBe(401);
  });

  it('are forgiven once the window has passed', async () => {
    const app = await appWith({ NANGO_AUTH_FAILURE_WINDOW_SECONDS: '1' });
    await failTimes(app, LIMIT, '10.1.0.7');
    expect((await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.7', headers: { authorization: bearerAuth('wrong-again') } })).statusCode).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.7', headers: { authorization: bearerAuth('wrong-again') } })).statusCode).toBe(401);
    expect((await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.1.0.7', headers: { authorization: bearerAuth(KEY) } })).statusCode).toBe(200);
  });

  it('are never limited when NANGO_AUTH_FAILURE_LIMIT is 0', async () => {
    const app = await appWith({ NANGO_AUTH_FAILURE_LIMIT: '0' });
    expect(await failTimes(app, 30, '10.1.0.8')).toEqual(Array(30).fill(401));
  });
});

describe('other credentials', () => {
  it('wrong dashboard passwords count too', async () => {
    // A short window, so the locked-out address's paced password checks (window / limit apart) come quickly.
    const app = await appWith({ NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'dashboard-password-1', NANGO_AUTH_FAILURE_WINDOW_SECONDS: '5' });
    for (let attempt = 0; attempt < LIMIT; attempt += 1) {
      const response = await app.app.inject({ method: 'GET', url: '/api/v1/integration', remoteAddress: '10.2.0.1', headers: { authorization: dashboardAuth('admin', `guess-${attempt}`) } });
      expect(response.statusCode).toBe(401);
    }
    const wrong = await app.app.inject({ method: 'GET', url: '/api/v1/integration', remoteAddress: '10.2.0.1', headers: { authorization: dashboardAuth('admin', 'guess-again') } });
    expect(wrong.statusCode).toBe(429);
    expect(wrong.headers['www-authenticate']).toBeUndefined();
    const right = await app.app.inject({ method: 'GET', url: '/api/v1/integration', remoteAddress: '10.2.0.1', headers: { authorization: dashboardAuth('admin', 'dashboard-password-1') } });
    expect(right.statusCode).toBe(200);
  });

  it('wrong HMAC digests on the connect route count too', async () => {
    const app = await appWith({ NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hmac-key-for-limit-test' });
    const statuses: number[] = [];
    for (let attempt = 0; attempt <= LIMIT; attempt += 1) {
      const response = await app.app.inject({ method: 'GET', url: `/oauth/connect/github?connection_id=u1&hmac=${'0'.repeat(63)}${attempt}`, remoteAddress: '10.2.0.2' });
      statuses.push(response.statusCode);
    }
    expect(statuses.slice(0, LIMIT).every((status) => status !== 429)).toBe(true);
    expect(statuses[LIMIT]).toBe(429);
  });
});

describe('behind a reverse proxy', () => {
  it('with NANGO_TRUST_PROXY the address that counts is the client in X-Forwarded-For, not the proxy', async () => {
    const app = await appWith({ NANGO_TRUST_PROXY: 'true' });
    for (let attempt = 0; attempt < LIMIT; attempt += 1) {
      await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '172.18.0.5', headers: { authorization: bearerAuth('wrong'), 'x-forwarded-for': '203.0.113.9' } });
    }
    const attacker = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '172.18.0.5', headers: { authorization: bearerAuth('wrong-again'), 'x-forwarded-for': '203.0.113.9' } });
    const backend = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '172.18.0.5', headers: { authorization: bearerAuth(KEY), 'x-forwarded-for': '198.51.100.20' } });
    expect(attacker.statusCode).toBe(429);
    expect(backend.statusCode).toBe(200);
  });

  it('without NANGO_TRUST_PROXY a forged X-Forwarded-For does not escape the limit', async () => {
    const app = await appWith();
    for (let attempt = 0; attempt < LIMIT; attempt += 1) {
      await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.3.0.1', headers: { authorization: bearerAuth('wrong'), 'x-forwarded-for': `198.51.100.${attempt}` } });
    }
    const next = await app.app.inject({ method: 'GET', url: '/config', remoteAddress: '10.3.0.1', headers: { authorization: bearerAuth('wrong-again'), 'x-forwarded-for': '198.51.100.200' } });
    expect(next.statusCode).toBe(429);
  });

  it('NANGO_TRUST_PROXY accepts true, a hop count or addresses, and names itself when it is anything else', () => {
    expect(loadConfig({ NANGO_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ NANGO_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ NANGO_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(loadConfig({ NANGO_TRUST_PROXY: 'uniquelocal' }).trustProxy).toEqual(['uniquelocal']);
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(() => loadConfig({ NANGO_TRUST_PROXY: 'nginx' })).toThrow(ConfigError);
    expect(() => loadConfig({ NANGO_TRUST_PROXY: 'nginx' })).toThrow(/NANGO_TRUST_PROXY/);
  });
});
