import type { Knex } from 'knex';

/**
 * Ten catalog entries took Nango's names for their connection parameters (issue 21), so a connection stored
 * under the old name would no longer fill its template. Each stored connection of those providers gets the
 * new name beside the old one, with the value in the form the new template expects. The old name stays, so a
 * replica still running the previous release during a rolling upgrade reads the row as before.
 */
const SCHEMA = 'nango';

interface Rename {
  providers: string[];
  from: string;
  to: string;
  /** SQL computing the new value from the old one (an SQL text expression); the old value itself when absent. */
  value?: (old: string) => string;
}

export const RENAMED_CONNECTION_PARAMETERS: Rename[] = [
  { providers: ['metabase'], from: 'host', to: 'hostname' },
  { providers: ['mattermost'], from: 'host', to: 'hostname' },
  { providers: ['woocommerce'], from: 'host', to: 'storeURL' },
  { providers: ['nextcloud'], from: 'host', to: 'domain' },
  { providers: ['posthog'], from: 'region', to: 'subdomain' },
  { providers: ['copper'], from: 'email', to: 'userEmail' },
  { providers: ['bamboohr'], from: 'companyDomain', to: 'subdomain' },
  { providers: ['chargebee'], from: 'site', to: 'subdomain' },
  // The account name was the first label of its API host; the new parameter is the whole host.
  { providers: ['activecampaign'], from: 'account', to: 'hostname', value: (old) => `${old} || '.api-us1.com'` },
  { providers: ['datadog'], from: 'site', to: 'siteParameter' },
  // The web app of the three older sites is on app.<site>; the newer sites serve it on their own host.
  {
    providers: ['datadog'],
    from: 'site',
    to: 'authorizeHost',
    value: (old) => `CASE WHEN ${old} IN ('datadoghq.com', 'datadoghq.eu', 'ddog-gov.com') THEN 'app.' || ${old} ELSE ${old} END`,
  },
];

export async function up(knex: Knex): Promise<void> {
  for (const rename of RENAMED_CONNECTION_PARAMETERS) {
    const old = `(connection.connection_config ->> '${rename.from}')`;
    const value = rename.value ? rename.value(old) : old;
    await knex.raw(
      `UPDATE ??._nango_connections AS connection
          SET connection_config = connection.connection_config || jsonb_build_object(?::text, ${value})
         FROM ??._nango_configs AS integration
        WHERE integration.unique_key = connection.provider_config_key
          AND integration.account_id = connection.account_id
          AND integration.provider = ANY(?)
          AND jsonb_typeof(connection.connection_config -> ?) = 'string'
          AND NOT connection.connection_config \\? ?`,
      [SCHEMA, rename.to, SCHEMA, rename.providers, rename.from, rename.to],
    );
  }
}

/** The old names were never removed, so going back needs nothing. */
export async function down(): Promise<void> {}
