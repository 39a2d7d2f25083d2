import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { hasChromium, launchBrowser, openPage, SCREENSHOTS } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/** `/openapi.json` and the API reference at `/docs`: served by the server itself, behind the dashboard's sign-in when it has one. */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

async function withApp(env: Record<string, string>, run: (test: TestApp) => Promise<void>): Promise<void> {
  const test = await buildTestApp(database, env);
  try {
    await run(test);
  } finally {
    await test.close();
  }
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('without a secret key or dashboard login (a developer\'s machine)', () => {
  it('serves the document and the reference to anyone, like the dashboard', async () => {
    await withApp({}, async ({ app }) => {
      const document = await app.inject({ method: 'GET', url: '/openapi.json' });
      expect(document.statusCode).toBe(200);
      expect(document.headers['content-type']).toContain('application/json');
      expect(document.json()).toMatchObject({ openapi: '3.1.0', info: { title: 'Custody API' } });
      const page = await app.inject({ method: 'GET', url: '/docs' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.body).toContain('/docs/swagger-ui-bundle.js');
    });
  });

  it('serves Swagger UI\'s files itself, and a JSON 404 for any other file', async () => {
    await withApp({}, async ({ app }) => {
      for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'init.js']) expect((await app.inject({ method: 'GET', url: `/docs/${file}` })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/docs/init.js' })).body).toContain('validatorUrl: null');
      const missing = await app.inject({ method: 'GET', url: '/docs/package.json' });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ type: 'not_found' });
    });
  });
});

describe('with a secret key', () => {
  it('asks for the dashboard\'s sign-in and lets the key in, as Basic or Bearer', async () => {
    await withApp({ NANGO_SECRET_KEY: 'docs-secret' }, async ({ app }) => {
      for (const url of ['/openapi.json', '/docs']) {
        const refused = await app.inject({ method: 'GET', url });
        expect(refused.statusCode).toBe(401);
        expect(refused.headers['www-authenticate']).toContain('Basic');
        expect(refused.body).not.toContain('openapi');
      }
      expect((await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: basic('docs-secret', '') } })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: 'Bearer docs-secret' } })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    });
  });

  it('with a dashboard login, takes that login only', async () => {
    await withApp({ NANGO_SECRET_KEY: 'docs-secret', NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'a-long-dashboard-password' }, async ({ app }) => {
      expect((await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: basic('admin', 'a-long-dashboard-password') } })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: 'Bearer docs-secret' } })).statusCode).toBe(401);
    });
  });
});

describe.skipIf(!hasChromium)('the API reference in a browser', () => {
  it('lists the operations, loads nothing from another host and logs no error', async () => {
    await withApp({}, async (test) => {
      await test.app.listen({ port: 0, host: '127.0.0.1' });
      const origin = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
      const browser = await launchBrowser();
      try {
        const requested: string[] = [];
        browser.context.on('request', (request) => requested.push(request.url()));
        const { page, errors } = await openPage(browser, `${origin}/docs`);
        await page.waitForSelector('.opblock', { timeout: 15_000 });
        const operations = await page.locator('.opblock').count();
        expect(operations).toBeGreaterThan(40);
        expect(await page.locator('.opblock-summary-path').evaluateAll((elements) => elements.map((element) => element.getAttribute('data-path')))).toEqual(expect.arrayContaining(['/connections/{connectionId}', '/config/{providerConfigKey}', '/connect/sessions', '/proxy/{path}']));
        mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOTS, 'api-docs.png'), fullPage: true });
        expect(requested.filter((url) => !url.startsWith(origin) && !url.startsWith('data:'))).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    });
  }, 60_000);
});
