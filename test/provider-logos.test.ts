import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderLogoFile } from '../scripts/generate-provider-logos.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { LogoRenderer, PROVIDER_LOGOS_FILE, type BrandLogo } from '../src/routes/logo.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

const catalog = loadProviderCatalog();
const brands = JSON.parse(readFileSync(PROVIDER_LOGOS_FILE, 'utf8')) as Record<string, BrandLogo>;
let database: TestDatabase;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk' });
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

describe('provider logos', () => {
  it('serves a brand logo as SVG from the server itself, cacheable for a day', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/logos/github.svg' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/svg+xml');
    expect(response.headers['cache-control']).toBe('public, max-age=86400');
    expect(response.body).toContain(`fill="#${brands['github']?.hex}"`);
    expect(response.body).toContain(`d="${brands['github']?.path}"`);
    expect(response.body).toContain('aria-label="GitHub"');
  });

  it('links nothing outside the server: no CDN, no provider site', () => {
    const renderer = new LogoRenderer(catalog);
    for (const { name } of catalog.list()) {
      const svg = renderer.render(name);
      expect(svg.replace('http://www.w3.org/2000/svg', ''), name).not.toMatch(/https?:|\/\/|href/);
    }
  });

  it('draws a lettered tile for a provider the icon set does not have, and for a name not in the catalog', async () => {
    expect(brands['customer-io']).toBeUndefined();
    const tile = new LogoRenderer(catalog).render('customer-io');
    expect(tile).toContain('>C</text>');
    const unknown = await test.app.inject({ method: 'GET', url: '/logos/%3Cscript%3E.svg' });
    expect(unknown.statusCode).toBe(200);
    expect(unknown.body).toContain('aria-label="&lt;script&gt;"');
    expect(unknown.body).not.toContain('<script>');
  });

  it('has brand logos for the best-known providers', () => {
    for (const name of ['github', 'gitlab', 'google-calendar', 'google-mail', 'hubspot', 'notion', 'stripe', 'shopify', 'zendesk', 'figma', 'dropbox', 'asana', 'jira']) {
      expect(brands[name], name).toBeDefined();
    }
  });

  it('matches what scripts/generate-provider-logos.ts writes from the catalog and the icon set (run `npm run logos` after adding providers)', () => {
    expect(readFileSync(PROVIDER_LOGOS_FILE, 'utf8')).toBe(renderLogoFile(catalog));
  });
});
