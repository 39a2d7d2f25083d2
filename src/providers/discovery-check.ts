import type { ProviderCatalog } from './provider-catalog.js';

/**
 * Providers that publish OpenID discovery metadata, with the issuer whose `/.well-known/openid-configuration`
 * lists their endpoints. Only for the opt-in `catalog:check --discovery`: it reaches the providers' hosts.
 */
export const DISCOVERY_ISSUERS: Record<string, string> = {
  google: 'https://accounts.google.com',
  microsoft: 'https://login.microsoftonline.com/common/v2.0',
  salesforce: 'https://login.salesforce.com',
  gitlab: 'https://gitlab.com',
  linkedin: 'https://www.linkedin.com/oauth',
  twitch: 'https://id.twitch.tv/oauth2',
  slack: 'https://slack.com',
  paypal: 'https://www.paypal.com',
  atlassian: 'https://auth.atlassian.com',
};

/** Endpoints of the catalog that differ from what the provider's discovery metadata says (templated tenants left as written there). */
export async function compareWithDiscovery(catalog: ProviderCatalog, fetchJson: (url: string) => Promise<unknown> = defaultFetch): Promise<string[]> {
  const problems: string[] = [];
  for (const [provider, issuer] of Object.entries(DISCOVERY_ISSUERS)) {
    const template = catalog.get(provider);
    if (!template) continue;
    let metadata: Record<string, unknown>;
    try {
      metadata = (await fetchJson(`${issuer}/.well-known/openid-configuration`)) as Record<string, unknown>;
    } catch (error) {
      problems.push(`${provider}: the discovery metadata of ${issuer} could not be read (${(error as Error).message}).`);
      continue;
    }
    for (const [key, field] of [['authorization_url', 'authorization_endpoint'], ['token_url', 'token_endpoint']] as const) {
      const ours = template[key]?.split(/\s+\|\|\s+/).at(-1)?.replace(/\$\{connectionConfig\.(?:params\.)?tenant\}/, 'common');
      const theirs = metadata[field];
      if (typeof theirs === 'string' && ours && stripTenant(ours) !== stripTenant(theirs)) problems.push(`${provider}: ${key} is ${ours}, the discovery metadata says ${field} ${theirs}.`);
    }
  }
  return problems;
}

/** Microsoft's metadata for `common` names the `{tenantid}` form; compare the rest. */
function stripTenant(url: string): string {
  return url.replace('{tenantid}', 'common').replace(/\/$/, '');
}

async function defaultFetch(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'follow' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}
