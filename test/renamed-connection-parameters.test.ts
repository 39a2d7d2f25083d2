import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RENAMED_CONNECTION_PARAMETERS, up } from '../migrations/20260202000000_renamed_connection_parameters.js';
import { connectionParameterProblem } from '../src/providers/connection-parameters.js';
import { interpolate } from '../src/providers/interpolation.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { templateUrls } from '../src/providers/template-urls.js';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';

/**
 * Ten providers took Nango's names for their connection parameters. A connection stored before that, under
 * the old name, must still reach its host after the upgrade: the migration adds the new name beside the old.
 */
let database: TestDatabase;
const catalog = loadProviderCatalog();

/** What a connection of each provider looked like when stored under the old names. */
const STORED_BEFORE: Record<string, Record<string, string>> = {
  metabase: { host: 'metabase.example.com' },
  mattermost: { host: 'chat.example.com' },
  woocommerce: { host: 'shop.example.com' },
  nextcloud: { host: 'cloud.example.com' },
  posthog: { region: 'eu' },
  copper: { email: 'jane@example.com' },
  bamboohr: { companyDomain: 'acme' },
  chargebee: { site: 'acme-test' },
  activecampaign: { account: 'acme' },
  datadog: { site: 'datadoghq.eu' },
};

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
});

async function storeConnection(provider: string, connectionConfig: Record<string, unknown>): Promise<void> {
  await database.knex('_nango_configs').insert({ unique_key: `${provider}-key`, provider, account_id: 0 });
  await database.knex('_nango_connections').insert({
    provider_config_key: `${provider}-key`,
    connection_id: 'stored-before',
    account_id: 0,
    credentials: JSON.stringify({ type: 'API_KEY', apiKey: 'k' }),
    connection_config: JSON.stringify(connectionConfig),
  });
}

async function storedConfig(provider: string): Promise<Record<string, unknown>> {
  const row = await database.knex('_nango_connections').where({ provider_config_key: `${provider}-key` }).first<{ connection_config: Record<string, unknown> }>();
  return row.connection_config;
}

describe('a connection stored under a connection parameter name the catalog has since renamed', () => {
  it.each(Object.keys(STORED_BEFORE))('of %s fills every URL of its current template after the upgrade, with a valid value', async (provider) => {
    await storeConnection(provider, STORED_BEFORE[provider]!);
    await up(database.knex);

    const config = await storedConfig(provider);
    const template = catalog.get(provider)!;
    for (const url of templateUrls(template)) {
      expect(interpolate(url.text, { connectionConfig: config }).missing, url.text).toEqual([]);
    }
    expect(connectionParameterProblem(template, config)).toBeUndefined();
  });

  it('keeps its old name too, so a replica of the previous release reads it during a rolling upgrade', async () => {
    await storeConnection('metabase', { host: 'metabase.example.com' });
    await up(database.knex);
    expect(await storedConfig('metabase')).toEqual({ host: 'metabase.example.com', hostname: 'metabase.example.com' });
  });

  it('gets the value in the form the new name takes: an ActiveCampaign account becomes its API host, a Datadog site names its app host', async () => {
    await storeConnection('activecampaign', { account: 'acme' });
    await storeConnection('datadog', { site: 'us5.datadoghq.com' });
    await up(database.knex);
    expect(await storedConfig('activecampaign')).toMatchObject({ hostname: 'acme.api-us1.com' });
    expect(await storedConfig('datadog')).toMatchObject({ siteParameter: 'us5.datadoghq.com', authorizeHost: 'us5.datadoghq.com' });
  });

  it('is left as it is when it already has the new name, and so is a connection of another provider', async () => {
    await storeConnection('metabase', { host: 'old.example.com', hostname: 'new.example.com' });
    await storeConnection('gitlab', { host: 'gitlab.example.com' });
    await up(database.knex);
    expect(await storedConfig('metabase')).toEqual({ host: 'old.example.com', hostname: 'new.example.com' });
    expect(await storedConfig('gitlab')).toEqual({ host: 'gitlab.example.com' });
  });
});

describe('the list of renamed parameters', () => {
  it('names, for each provider, a parameter its current template declares and one it no longer does', () => {
    for (const rename of RENAMED_CONNECTION_PARAMETERS) {
      for (const provider of rename.providers) {
        const declared = Object.keys(catalog.get(provider)?.connection_config ?? {});
        expect(declared, provider).toContain(rename.to);
        expect(declared, provider).not.toContain(rename.from);
      }
    }
  });
});
