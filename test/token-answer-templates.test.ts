import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkAnsweredUrl } from '../src/providers/answered-base-url.js';
import { checkCatalogFile } from '../src/providers/catalog-check.js';
import { ProviderTemplateSchema } from '../src/providers/provider-schema.js';

/**
 * The template keys that follow a token answer (`post_token_request`, `api_base_url`): what the catalog accepts,
 * what `npm run catalog:check` reports, and which base URLs a provider's answer may name.
 */
const OAUTH = {
  display_name: 'Acme',
  categories: ['other'],
  auth_mode: 'OAUTH2',
  authorization_url: 'https://auth.acme.example/authorize',
  token_url: 'https://auth.acme.example/token',
  docs: 'https://docs.acme.example/auth',
};
const LOGIN = { url: 'https://rest.acme.example/login', query: { token: '${accessToken}' }, keep: ['SessionToken'] };

function checkEntry(entry: Record<string, unknown>): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'token-answer-templates-'));
  try {
    const file = path.join(dir, 'providers.yaml');
    writeFileSync(file, stringify({ acme: entry }));
    return checkCatalogFile(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('templates that follow a token answer', () => {
  it('pass the catalog check with a login whose kept session and answered base URL the proxy uses', () => {
    const problems = checkEntry({ ...OAUTH, post_token_request: LOGIN, api_base_url: { from: 'post_token_request', field: 'restUrl', hosts: ['*.acme.example'] }, proxy: { base_url: '${apiBaseUrl}', headers: { 'x-session': '${SessionToken}' } } });
    expect(problems).toEqual([]);
  });

  it('are refused for modes without a token answer, naming the key', () => {
    const parsed = ProviderTemplateSchema.safeParse({ display_name: 'Keys', auth_mode: 'API_KEY', post_token_request: LOGIN });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['post_token_request'], message: expect.stringContaining('only OAUTH2 and OAUTH2_CC') });
  });

  it('refuse an answered base URL taken from a post-token request the template does not have', () => {
    const parsed = ProviderTemplateSchema.safeParse({ ...OAUTH, api_base_url: { from: 'post_token_request', field: 'restUrl', hosts: ['*.acme.example'] } });
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['api_base_url', 'from'] });
  });

  it('refuse a host entry that is not a host, host:port or *.domain', () => {
    const parsed = ProviderTemplateSchema.safeParse({ ...OAUTH, api_base_url: { field: 'geolocation', hosts: ['https://api.acme.example/v1'] } });
    expect(parsed.error?.issues[0]?.path).toEqual(['api_base_url', 'hosts', 0]);
  });

  it('are reported by the catalog check when the proxy uses a field the login does not keep, or a host allows plain HTTP', () => {
    const problems = checkEntry({ ...OAUTH, post_token_request: LOGIN, api_base_url: { field: 'geolocation', hosts: ['http://*.acme.example'] }, proxy: { base_url: '${apiBaseUrl}', headers: { 'x-session': '${OtherToken}' } } });
    expect(problems).toEqual([
      expect.stringContaining('acme: proxy.headers.x-session uses ${OtherToken}, which is declared under neither'),
      expect.stringContaining('acme: api_base_url.hosts "http://*.acme.example" allows plain HTTP'),
      expect.stringContaining('acme: proxy.base_url "${apiBaseUrl}" is not an https:// URL'),
    ]);
  });
});

describe('a base URL a provider\'s answer names', () => {
  const hosts = ['*.api.concursolutions.com', 'rest.acme.example:8443'];

  it('is taken on a listed host, over https, with its path', () => {
    expect(checkAnsweredUrl('https://eu2.api.concursolutions.com', hosts)).toMatchObject({ ok: true, byWildcard: true });
    expect(checkAnsweredUrl('https://rest.acme.example:8443/rest-services/e999/', hosts)).toMatchObject({ ok: true, byWildcard: false });
  });

  it('is refused on any other host, the bare domain of a *. entry, or another port', () => {
    for (const text of ['https://api.concursolutions.com.attacker.example', 'https://api.concursolutions.com', 'https://rest.acme.example/x', 'https://169.254.169.254']) {
      expect(checkAnsweredUrl(text, hosts), text).toMatchObject({ ok: false, problem: expect.stringContaining('is not one the provider template allows') });
    }
  });

  it('is refused over plain HTTP, with credentials, a query or a fragment, or when it is no URL', () => {
    expect(checkAnsweredUrl('http://eu.api.concursolutions.com', hosts)).toEqual({ ok: false, problem: 'it is not https' });
    for (const text of ['https://user:pass@eu.api.concursolutions.com', 'https://eu.api.concursolutions.com/?x=1', 'https://eu.api.concursolutions.com/#x', 'eu.api.concursolutions.com', 'javascript:alert(1)']) {
      expect(checkAnsweredUrl(text, hosts).ok, text).toBe(false);
    }
  });
});
