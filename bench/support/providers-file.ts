import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';

/**
 * Provider templates for the benchmark (NANGO_PROVIDERS_FILE). Every URL in them is on 127.0.0.1:
 * no request of a benchmark may leave the machine.
 */
export function localOAuth2Provider(origin: string): Record<string, unknown> {
  if (new URL(origin).hostname !== '127.0.0.1') throw new Error(`Benchmark providers must live on 127.0.0.1, not ${origin}.`);
  return {
    display_name: 'Local benchmark API',
    categories: ['other'],
    auth_mode: 'OAUTH2',
    authorization_url: `${origin}/authorize`,
    token_url: `${origin}/token`,
    proxy: { base_url: `${origin}/api` },
    docs: 'https://example.com/docs',
  };
}

export function writeProvidersFile(dir: string, providers: Record<string, Record<string, unknown>>): string {
  const file = path.join(dir, 'providers.yaml');
  writeFileSync(file, stringify(providers));
  return file;
}
