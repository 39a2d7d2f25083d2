import { argument, printJsonIfAny, type ArgumentSpec, type CommandContext, type CommandSpec } from './command.js';
import { formatBlock, formatDate, formatJson, formatTable, maskSecret, type Column } from './output.js';

/** `connection:*`: end users' connections through `/connection`. */

export const CONNECTION_ARGS: readonly ArgumentSpec[] = [
  { name: 'key', description: 'The integration\'s unique key (provider_config_key)' },
  { name: 'connection_id', description: 'The connection id your application chose for the end user' },
];

type Row = Record<string, unknown>;

const LIST_COLUMNS: readonly Column<Row>[] = [
  { header: 'Id', value: (row) => row['id'] },
  { header: 'Connection id', value: (row) => row['connection_id'] },
  // The seed list calls the provider config key "provider".
  { header: 'Provider config key', value: (row) => row['provider'] },
  { header: 'Created', value: (row) => formatDate(row['created']) },
];

/** How `connection:get` shows each credential field; fields not listed here are masked. */
const CREDENTIAL_FIELDS: Record<string, { label: string; secret: boolean }> = {
  access_token: { label: 'Access token', secret: true },
  refresh_token: { label: 'Refresh token', secret: true },
  expires_at: { label: 'Expires at', secret: false },
  oauth_token: { label: 'Token', secret: true },
  oauth_token_secret: { label: 'Token secret', secret: true },
  token: { label: 'Token', secret: true },
  apiKey: { label: 'API key', secret: true },
  username: { label: 'Username', secret: false },
  password: { label: 'Password', secret: true },
  client_id: { label: 'Client id', secret: false },
  client_secret: { label: 'Client secret', secret: true },
};

export const connectionCommands: readonly CommandSpec[] = [
  {
    name: 'connection:list',
    group: 'Connections',
    summary: 'List the connections of every integration',
    args: [],
    options: [],
    usesServer: true,
    examples: ['nango connection:list', 'nango connection:list --json'],
    async run(context) {
      const response = await context.api().request('GET', '/connection');
      const body = context.api().expectObject(response, 'GET', '/connection', 'connections');
      if (context.flags.json) return context.out.line(formatJson(body));
      const connections = Array.isArray(body['connections']) ? (body['connections'] as Row[]) : [];
      if (connections.length === 0) return context.out.line('No connections yet.');
      context.out.line(formatTable(LIST_COLUMNS, connections));
    },
  },
  {
    name: 'connection:get',
    group: 'Connections',
    summary: 'Show one connection (its tokens masked)',
    description: 'Tokens are masked; "token:get" prints them. An expired access token is refreshed first, as for any client.',
    args: CONNECTION_ARGS,
    options: ['force-refresh'],
    usesServer: true,
    examples: ['nango connection:get github-prod user-42', 'nango connection:get github-prod user-42 --json'],
    async run(context) {
      const connection = await fetchConnection(context);
      if (context.flags.json) return context.out.line(formatJson(connection));
      const credentials = isObject(connection['credentials']) ? connection['credentials'] : {};
      const credentialEntries = Object.entries(credentials)
        .filter(([field]) => field !== 'type' && field !== 'raw')
        .map(([field, value]): [string, unknown] => {
          const known = CREDENTIAL_FIELDS[field];
          const secret = known?.secret ?? true;
          return [known?.label ?? field, secret ? maskSecret(value) : field === 'expires_at' ? formatDate(value) : value];
        });
      context.out.line(
        formatBlock([
          ['Connection id', connection['connection_id']],
          ['Provider config key', connection['provider_config_key']],
          ['Id', connection['id']],
          ['Type', credentials['type']],
          ...credentialEntries,
          ['Connection config', nonEmpty(connection['connection_config'])],
          ['Metadata', nonEmpty(connection['metadata'])],
          ['Last refresh failure', connection['last_refresh_failure'] ? `${formatDate(connection['last_refresh_failure'])}: ${String(connection['last_refresh_error'] ?? '')}` : undefined],
          ['Created', formatDate(connection['created_at'])],
          ['Updated', formatDate(connection['updated_at'])],
        ]),
      );
    },
  },
  {
    name: 'connection:delete',
    group: 'Connections',
    summary: 'Delete one connection',
    args: CONNECTION_ARGS,
    options: [],
    usesServer: true,
    examples: ['nango connection:delete github-prod user-42'],
    async run(context) {
      const key = argument(context, 0);
      const connectionId = argument(context, 1);
      const response = await context.api().request('DELETE', `/connection/${encodeURIComponent(connectionId)}`, { query: { provider_config_key: key } });
      if (context.flags.json) return printJsonIfAny(context, response.body);
      context.out.line(`Deleted connection "${connectionId}" of integration "${key}".`);
    },
  },
];

/** `GET /connection/:id?provider_config_key=`: the stored connection with its credentials (refreshed by the server if due). */
export async function fetchConnection(context: CommandContext): Promise<Record<string, unknown>> {
  const key = argument(context, 0);
  const path = `/connection/${encodeURIComponent(argument(context, 1))}`;
  const response = await context.api().request('GET', path, { query: { provider_config_key: key, ...(context.flags.forceRefresh ? { force_refresh: 'true' } : {}) } });
  return context.api().expectObject(response, 'GET', path, 'credentials');
}

function nonEmpty(value: unknown): unknown {
  return isObject(value) && Object.keys(value).length === 0 ? undefined : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
