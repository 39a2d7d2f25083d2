import { AUTH_MODES, INTEGRATION_OPTIONS, type AuthModeFields } from './auth-modes.js';
import { argument, type CommandContext, type CommandSpec } from './command.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { describeOptions, givenOptionsOutside, optionText } from './option-values.js';
import { formatJson } from './output.js';

/** `integration:create`: an integration of any auth mode through the modern `POST /integrations`. */
export const integrationCommands: readonly CommandSpec[] = [
  {
    name: 'integration:create',
    group: 'Integrations',
    summary: 'Create an integration of any auth mode (the provider decides what it needs)',
    description:
      "The provider's auth mode decides what the integration holds. OAuth 2 and OAuth 1 providers need the app you registered with the provider " +
      '(--client-id, --client-secret, and --scopes to ask for); register the server\'s OAuth callback URL there as its redirect URI. API key, basic, ' +
      'client credentials and unauthenticated providers take none of these: each connection brings its own credentials. ' +
      'Give the client secret as "-" to read it from standard input.',
    args: [
      { name: 'key', description: 'The unique key you choose for the integration, e.g. "github-prod"' },
      { name: 'provider', description: 'The provider of the catalog, e.g. "github" (GET /providers lists them)' },
    ],
    options: [...INTEGRATION_OPTIONS, 'display-name'],
    usesServer: true,
    examples: [
      'nango integration:create github-prod github --client-id Iv1.0123 --client-secret - --scopes "repo,user" < client-secret.txt',
      'nango integration:create openai openai',
    ],
    async run(context) {
      const key = argument(context, 0);
      const provider = argument(context, 1);
      const mode = await providerAuthMode(context, provider);
      const fields = authModeFields(mode, `the provider "${provider}"`);
      const credentials = await appCredentials(context, provider, mode, fields);
      const displayName = await optionText(context, 'display-name');
      const body = { unique_key: key, provider, ...(displayName !== undefined ? { display_name: displayName } : {}), ...(credentials ? { credentials } : {}) };
      const response = await context.api().request('POST', '/integrations', { body });
      const created = context.api().expectObject(response, 'POST', '/integrations', 'data');
      if (context.flags.json) return context.out.line(formatJson(created));
      const lines = [`Created integration "${key}" (${provider}, ${mode}).`];
      if (fields.integration) {
        lines.push(
          `Register the server's OAuth callback URL as the redirect URI of your ${provider} app: the one it names at start ("Register this OAuth callback URL …"; by default its NANGO_SERVER_URL followed by /oauth/callback).`,
        );
      }
      lines.push(`End users connect ${fields.connects}; start one with: ${context.programName} connect-session:create <end user id> --integration ${key}`);
      context.out.line(lines.join('\n'));
    },
  },
];

/** The auth mode of a provider of the server's catalog (`GET /providers/:provider`). */
export async function providerAuthMode(context: CommandContext, provider: string): Promise<string> {
  const path = `/providers/${encodeURIComponent(provider)}`;
  const body = context.api().expectObject(await context.api().request('GET', path), 'GET', path, 'data');
  const mode = (body['data'] as Record<string, unknown> | null)?.['auth_mode'];
  if (typeof mode !== 'string') throw context.api().unexpectedAnswer('GET', path);
  return mode;
}

export function authModeFields(mode: string, what: string): AuthModeFields {
  const fields = AUTH_MODES[mode];
  if (!fields) throw new CliError(`Error: ${what} uses the ${mode} auth mode, which this CLI does not handle yet; use the dashboard or the API.`, ExitCode.failed);
  return fields;
}

async function appCredentials(context: CommandContext, provider: string, mode: string, fields: AuthModeFields): Promise<Record<string, string> | undefined> {
  const app = fields.integration;
  const unused = givenOptionsOutside(context, INTEGRATION_OPTIONS, app ? [...app.required, ...app.optional] : []);
  if (!app) {
    if (unused.length > 0) {
      throw new UsageError(`the provider "${provider}" uses the ${mode} auth mode: its integration holds no ${describeOptions(unused)}; each connection brings its own credentials.`, context.commandName);
    }
    return undefined;
  }
  const missing = app.required.filter((name) => context.flags.values[name] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`the provider "${provider}" uses the ${mode} auth mode: integration:create needs ${describeOptions(missing)} (the app you registered with ${provider}).`, context.commandName);
  }
  const clientId = (await optionText(context, 'client-id')) ?? '';
  const clientSecret = (await optionText(context, 'client-secret')) ?? '';
  const scopes = await optionText(context, 'scopes');
  return { type: app.type, client_id: clientId, client_secret: clientSecret, ...(scopes !== undefined ? { scopes } : {}) };
}
