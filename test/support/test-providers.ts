import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadProviderCatalog, type ProviderCatalog } from '../../src/providers/provider-catalog.js';
import { scratchDir } from './scratch.js';

/** The built-in catalog with test providers laid over it (as an operator's NANGO_PROVIDERS_FILE would). */
export function catalogWith(entries: Record<string, Record<string, unknown>>): { catalog: ProviderCatalog; file: string } {
  const dir = scratchDir('providers');
  const file = path.join(dir, 'providers.yaml');
  writeFileSync(file, stringify(entries));
  return { catalog: loadProviderCatalog(file), file };
}

/** A template for the local oidc-provider authorization server. */
export function oidcTestProvider(issuer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    display_name: 'Local OIDC test provider',
    categories: ['other'],
    auth_mode: 'OAUTH2',
    authorization_url: `${issuer}/auth`,
    token_url: `${issuer}/token`,
    authorization_params: { prompt: 'consent' },
    scope_separator: ' ',
    proxy: { base_url: issuer },
    docs: 'https://example.com/docs',
    ...extra,
  };
}

/** A template for an API that takes an API key (no provider to run: the key is stored and sent as it is). */
export function apiKeyTestProvider(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    display_name: 'Key Test',
    categories: ['other'],
    auth_mode: 'API_KEY',
    docs: 'https://example.com/docs',
    credentials: { apiKey: { title: 'API key', secret: true } },
    ...extra,
  };
}
