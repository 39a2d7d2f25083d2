import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { getFrom, NGINX_BINARY, startNginx, type Nginx } from './support/nginx.js';
import { startServerProcess } from './support/server-process.js';
import { appsOn, basicAuth, bearerAuth, type TestApp } from './support/test-app.js';
import { dashboardAuth } from './support/web-app.js';

/**
 * An attacker guesses credentials from the address the real backend uses (a shared NAT, a proxy that is not
 * trusted), or forges X-Forwarded-For to pose as it. The auth-failure limit slows and refuses the guesses; it
 * never refuses the right credentials, and behind the shipped nginx.conf with the documented trust setting a
 * forged address counts against the attacker's own.
 */
const KEY = 'sk-guessing-3f9a1c7e5b2d4a60';
const DEFAULT_LIMIT = 20;

let database: TestDatabase;
const { appWith, closeAll } = appsOn(() => database, { NANGO_SECRET_KEY: KEY, NANGO_AUTH_FAILURE_LIMIT: String(DEFAULT_LIMIT) });

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await closeAll();
  await database?.drop();
});

async function get(app: TestApp, url: string, remoteAddress: string, authorization: string): Promise<number> {
  return (await app.app.inject({ method: 'GET', url, remoteAddress, headers: { authorization } })).statusCode;
}

describe('25 wrong secret keys from one address', () => {
  it('are answered 401, then 429, and the right key from that same address is still served (seed API)', async () => {
    const app = await appWith();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 25; attempt++) statuses.push(await get(app, '/config', '10.9.0.1', bearerAuth(`wrong-${attempt}`)));
    expect(statuses).toEqual([...Array<number>(DEFAULT_LIMIT).fill(401), ...Array<number>(5).fill(429)]);
    expect(await get(app, '/config', '10.9.0.1', bearerAuth(KEY))).toBe(200);
    expect(await get(app, '/config', '10.9.0.1', basicAuth(KEY))).toBe(200);
    // And the lockout still holds for the next wrong key.
    expect(await get(app, '/config', '10.9.0.1', bearerAuth('wrong-after'))).toBe(429);
  });

  it('do not stop the right key on the modern API or the proxy either', async () => {
    const app = await appWith();
    for (let attempt = 0; attempt < 25; attempt++) await get(app, '/connections', '10.9.0.2', bearerAuth(`wrong-${attempt}`));
    expect(await get(app, '/connections', '10.9.0.2', bearerAuth(KEY))).toBe(200);
    expect(await get(app, '/integrations', '10.9.0.2', bearerAuth(KEY))).toBe(200);
    // The proxy answers the right key with its own 400 (no connection named), not the limiter's 429.
    expect(await get(app, '/proxy/user', '10.9.0.2', bearerAuth(KEY))).toBe(400);
  });

  it('sent in the backend\'s name (a forged X-Forwarded-For trusted with NANGO_TRUST_PROXY=true) cannot stop the backend\'s right key', async () => {
    const app = await appWith({ NANGO_TRUST_PROXY: 'true' });
    const asBackend = (key: string) => app.app.inject({ method: 'GET', url: '/config', remoteAddress: '172.18.0.5', headers: { authorization: bearerAuth(key), 'x-forwarded-for': '198.51.100.20' } });
    for (let attempt = 0; attempt < 25; attempt++) await asBackend(`wrong-${attempt}`);
    expect((await asBackend(KEY)).statusCode).toBe(200);
  });

  it('count per address: an IPv6 attacker cannot start a fresh count by moving within its /64', async () => {
    const app = await appWith();
    for (let attempt = 0; attempt < DEFAULT_LIMIT; attempt++) await get(app, '/config', `2001:db8:5:7::${(attempt + 1).toString(16)}`, bearerAuth('wrong'));
    expect(await get(app, '/config', '2001:db8:5:7:ffff::1', bearerAuth('wrong'))).toBe(429);
    expect(await get(app, '/config', '2001:db8:5:8::1', bearerAuth('wrong'))).toBe(401);
  });
});

describe('guessing the dashboard password from a locked-out address', () => {
  // Limit 5 per 5 s: a locked-out address gets one password check per second.
  const env = { NANGO_AUTH_FAILURE_LIMIT: '5', NANGO_AUTH_FAILURE_WINDOW_SECONDS: '5', NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'correct horse battery' };
  const guess = (app: TestApp, password: string, remoteAddress: string): Promise<number> => get(app, '/api/v1/integration', remoteAddress, dashboardAuth('admin', password));

  it('gets one answer per window/limit however many guesses it sends at once, and the right password is still served', async () => {
    const app = await appWith(env);
    for (let attempt = 0; attempt < 5; attempt++) expect(await guess(app, `guess-${attempt}`, '10.9.1.1')).toBe(401);
    const started = Date.now();
    const statuses = await Promise.all([1, 2, 3].map((n) => guess(app, `burst-${n}`, '10.9.1.1')));
    const elapsed = Date.now() - started;
    expect(statuses).toEqual([429, 429, 429]);
    // Three checks, one second apart, the first one second after the lockout began.
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(await guess(app, 'correct horse battery', '10.9.1.1')).toBe(200);
  });

  it('does not slow the backend: the right secret key from that address is served while the guesses wait', async () => {
    const app = await appWith(env);
    for (let attempt = 0; attempt < 5; attempt++) await guess(app, `guess-${attempt}`, '10.9.1.2');
    const finished: string[] = [];
    const guesses = Promise.all([1, 2, 3].map((n) => guess(app, `burst-${n}`, '10.9.1.2').then((status) => finished.push(`guess ${status}`))));
    const backend = get(app, '/config', '10.9.1.2', bearerAuth(KEY)).then((status) => finished.push(`backend ${status}`));
    await Promise.all([guesses, backend]);
    expect(finished[0]).toBe('backend 200');
    expect(finished.slice(1)).toEqual(['guess 429', 'guess 429', 'guess 429']);
  });

  it('cannot queue more checks than the limit: the rest are refused at once, unchecked', async () => {
    const app = await appWith(env);
    for (let attempt = 0; attempt < 5; attempt++) await guess(app, `guess-${attempt}`, '10.9.1.3');
    const finished: number[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, n) => guess(app, `flood-${n}`, '10.9.1.3').then(() => finished.push(n))));
    // The three over the limit of five waiting answered first, before the first paced check (one second away).
    expect(finished.slice(0, 3).sort()).toEqual([5, 6, 7]);
  });
});

describe.skipIf(!NGINX_BINARY)('behind the shipped nginx.conf with NANGO_TRUST_PROXY=1 (as docker-compose.yml sets it)', () => {
  let app: TestApp;
  let nginx: Nginx;
  const LIMIT = 5;

  beforeAll(async () => {
    app = await appWith({ NANGO_AUTH_FAILURE_LIMIT: String(LIMIT), NANGO_TRUST_PROXY: '1' });
    await app.app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.app.server.address();
    nginx = await startNginx(typeof address === 'object' && address ? address.port : 0);
  });

  afterAll(async () => {
    await nginx?.stop();
  });

  const config = (from: string, key: string, forwardedFor?: string) =>
    getFrom(from, `${nginx.baseUrl}/config`, { authorization: bearerAuth(key), ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) });

  it('an attacker forging X-Forwarded-For cannot lock out the address it names', async () => {
    // The attacker at 127.0.0.2 poses as the backend at 127.0.0.3.
    for (let attempt = 0; attempt < 25; attempt++) await config('127.0.0.2', `wrong-${attempt}`, '127.0.0.3');
    expect((await config('127.0.0.3', 'wrong-once')).status).toBe(401);
    expect((await config('127.0.0.3', KEY)).status).toBe(200);
    // The failures were the attacker's own.
    expect((await config('127.0.0.2', 'wrong-again', '127.0.0.3')).status).toBe(429);
  });

  it('an attacker rotating a forged X-Forwarded-For is still counted under its own address', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt <= LIMIT; attempt++) statuses.push((await config('127.0.0.4', `wrong-${attempt}`, `198.51.100.${attempt}, 203.0.113.${attempt}`)).status);
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(401), 429]);
  });
});

describe('NANGO_TRUST_PROXY=true', () => {
  it('is warned about at start, with the settings that cannot be forged', async () => {
    const server = await startServerProcess({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: KEY, NANGO_TRUST_PROXY: 'true', TELEMETRY: 'false' });
    try {
      expect(server.output()).toMatch(/NANGO_TRUST_PROXY=true believes every address in X-Forwarded-For.*number of proxies in front of the server/);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
