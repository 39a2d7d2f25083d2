import { CONNECTION_OPTIONS } from './auth-modes.js';
import { argument, type CommandContext, type CommandSpec } from './command.js';
import { CONNECTION_ARGS } from './connection-commands.js';
import { UsageError } from './errors.js';
import { authModeFields, providerAuthMode } from './integration-commands.js';
import { describeOptions, givenOptionsOutside, optionObject, optionText } from './option-values.js';
import { formatJson } from './output.js';

/** `connection:import`: a connection whose credentials were obtained elsewhere, through the modern `POST /connections`. */
export const connectionImportCommand: CommandSpec = {
  name: 'connection:import',
  group: 'Connections',
  summary: 'Import a connection with credentials obtained elsewhere (any auth mode)',
  description:
    "The integration's auth mode decides the credentials: OAuth 2 --access-token [--refresh-token] [--expires-at]; OAuth 1 --oauth-token " +
    '--oauth-token-secret; API key --api-key; basic --username [--password]; client credentials --token --client-id --client-secret ' +
    '[--expires-at]; unauthenticated: none. A secret given as "-" is read from standard input. A connection with this id is replaced.',
  args: CONNECTION_ARGS,
  options: [...CONNECTION_OPTIONS, 'connection-config', 'metadata'],
  usesServer: true,
  examples: [
    'nango connection:import openai user-42 --api-key - < api-key.txt',
    'nango connection:import github-prod user-42 --access-token "$ACCESS" --refresh-token "$REFRESH" --expires-at 2030-01-31T12:00:00Z',
    'nango connection:import zendesk user-42 --username agent@example.com --password - --connection-config \'{"subdomain":"acme"}\'',
  ],
  async run(context) {
    const key = argument(context, 0);
    const connectionId = argument(context, 1);
    const mode = await providerAuthMode(context, await integrationProvider(context, key));
    const fields = authModeFields(mode, `the integration "${key}"`).connection;
    const accepted = [...fields.required, ...fields.optional].map((field) => field.option);
    const unused = givenOptionsOutside(context, CONNECTION_OPTIONS, accepted);
    if (unused.length > 0) throw new UsageError(`the integration "${key}" uses the ${mode} auth mode: its connections take no ${describeOptions(unused)}.`, context.commandName);
    const missing = fields.required.filter((field) => context.flags.values[field.option] === undefined).map((field) => field.option);
    if (missing.length > 0) throw new UsageError(`the integration "${key}" uses the ${mode} auth mode: connection:import needs ${describeOptions(missing)}.`, context.commandName);

    const credentials: Record<string, string> = { type: fields.type };
    for (const field of [...fields.required, ...fields.optional]) {
      const value = (await optionText(context, field.option)) ?? field.fallback;
      if (value !== undefined) credentials[field.field] = value;
    }
    const connectionConfig = optionObject(context, 'connection-config');
    const metadata = optionObject(context, 'metadata');
    const body = {
      provider_config_key: key,
      connection_id: connectionId,
      credentials,
      ...(connectionConfig ? { connection_config: connectionConfig } : {}),
      ...(metadata ? { metadata } : {}),
    };
    const response = await context.api().request('POST', '/connections', { body });
    const imported = context.api().expectObject(response, 'POST', '/connections', 'connection_id');
    if (context.flags.json) return context.out.line(formatJson(imported));
    context.out.line(`Imported connection "${connectionId}" of integration "${key}" (${mode}).`);
  },
};

/** The provider of an integration (`GET /integrations/:key`). */
async function integrationProvider(context: CommandContext, key: string): Promise<string> {
  const path = `/integrations/${encodeURIComponent(key)}`;
  const body = context.api().expectObject(await context.api().request('GET', path), 'GET', path, 'data');
  const provider = (body['data'] as Record<string, unknown> | null)?.['provider'];
  if (typeof provider !== 'string') throw context.api().unexpectedAnswer('GET', path);
  return provider;
}
