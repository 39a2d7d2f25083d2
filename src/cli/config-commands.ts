import { argument, printJsonIfAny, type ArgumentSpec, type CommandContext, type CommandSpec } from './command.js';
import { formatBlock, formatDate, formatJson, formatTable, maskSecret, type Column } from './output.js';

/** `config:*`: integrations ("provider configs") through `/config`. */

const KEY: ArgumentSpec = { name: 'key', description: 'The integration\'s unique key (provider_config_key), e.g. "github-prod"' };
const SETTINGS: readonly ArgumentSpec[] = [
  KEY,
  { name: 'provider', description: 'The provider template, e.g. "github" (see providers.yaml)' },
  { name: 'client_id', description: 'The OAuth client id registered with the provider' },
  { name: 'client_secret', description: 'The OAuth client secret registered with the provider' },
  { name: 'scopes', description: 'Scopes, comma- or space-separated (quote them), e.g. "repo,user"' },
];

type ConfigRow = Record<string, unknown>;

const LIST_COLUMNS: readonly Column<ConfigRow>[] = [
  { header: 'Unique key', value: (row) => row['unique_key'] },
  { header: 'Provider', value: (row) => row['provider'] },
  { header: 'Client id', value: (row) => row['oauth_client_id'] },
  { header: 'Scopes', value: (row) => row['oauth_scopes'] },
  { header: 'Created', value: (row) => formatDate(row['created_at']) },
];

export const configCommands: readonly CommandSpec[] = [
  {
    name: 'config:list',
    group: 'Integrations',
    summary: 'List the integrations',
    description: 'Client secrets are not shown; use "config:get <key> --show-secret" for one integration.',
    args: [],
    options: [],
    usesServer: true,
    examples: ['nango config:list', 'nango config:list --json'],
    async run(context) {
      const response = await context.api().request('GET', '/config');
      const body = context.api().expectObject(response, 'GET', '/config', 'configs');
      if (context.flags.json) return context.out.line(formatJson(body));
      const configs = Array.isArray(body['configs']) ? (body['configs'] as ConfigRow[]) : [];
      if (configs.length === 0) {
        return context.out.line(`No integrations yet. Create one with: ${context.programName} integration:create <key> <provider>`);
      }
      context.out.line(formatTable(LIST_COLUMNS, configs));
    },
  },
  {
    name: 'config:get',
    group: 'Integrations',
    summary: 'Show one integration (the client secret masked)',
    args: [KEY],
    options: ['show-secret'],
    usesServer: true,
    examples: ['nango config:get github-prod', 'nango config:get github-prod --show-secret'],
    async run(context) {
      const key = argument(context, 0);
      const path = `/config/${encodeURIComponent(key)}`;
      const response = await context.api().request('GET', path);
      const body = context.api().expectObject(response, 'GET', path, 'config');
      if (context.flags.json) return context.out.line(formatJson(body));
      const config = (body['config'] ?? {}) as ConfigRow;
      const secret = config['oauth_client_secret'];
      context.out.line(
        formatBlock([
          ['Unique key', config['unique_key']],
          ['Provider', config['provider']],
          ['Client id', config['oauth_client_id']],
          ['Client secret', context.flags.showSecret || secret === null || secret === undefined ? secret : `${maskSecret(secret)}  (--show-secret to reveal)`],
          ['Scopes', config['oauth_scopes']],
          ['Id', config['id']],
          ['Created', formatDate(config['created_at'])],
          ['Updated', formatDate(config['updated_at'])],
        ]),
      );
    },
  },
  {
    name: 'config:create',
    group: 'Integrations',
    summary: 'Create an integration',
    args: SETTINGS,
    options: [],
    usesServer: true,
    examples: ['nango config:create github-prod github my-client-id my-client-secret "repo,user"'],
    async run(context) {
      const [key] = context.args;
      const response = await context.api().request('POST', '/config', { body: settingsBody(context) });
      const body = context.api().expectObject(response, 'POST', '/config', 'config_id');
      if (context.flags.json) return context.out.line(formatJson(body));
      context.out.line(`Created integration "${key}" (id ${String(body['config_id'])}).`);
    },
  },
  {
    name: 'config:edit',
    group: 'Integrations',
    summary: 'Replace the settings of an integration',
    description: 'Every setting is required and replaces the stored one (PUT /config).',
    args: SETTINGS,
    options: [],
    usesServer: true,
    examples: ['nango config:edit github-prod github my-client-id new-client-secret "repo,user,read:org"'],
    async run(context) {
      const [key] = context.args;
      const response = await context.api().request('PUT', '/config', { body: settingsBody(context) });
      if (context.flags.json) return printJsonIfAny(context, response.body);
      context.out.line(`Updated integration "${key}".`);
    },
  },
  {
    name: 'config:delete',
    group: 'Integrations',
    summary: 'Delete an integration and all its connections',
    description: 'Succeeds also when no integration has this key (the server answers the same).',
    args: [KEY],
    options: [],
    usesServer: true,
    examples: ['nango config:delete github-prod'],
    async run(context) {
      const key = argument(context, 0);
      const response = await context.api().request('DELETE', `/config/${encodeURIComponent(key)}`);
      if (context.flags.json) return printJsonIfAny(context, response.body);
      context.out.line(`Deleted integration "${key}" and its connections.`);
    },
  },
];

function settingsBody(context: CommandContext): Record<string, string> {
  const [key, provider, clientId, clientSecret, scopes] = context.args;
  return { provider_config_key: key ?? '', provider: provider ?? '', oauth_client_id: clientId ?? '', oauth_client_secret: clientSecret ?? '', oauth_scopes: scopes ?? '' };
}
