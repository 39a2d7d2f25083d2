import type { ApiClient } from './api-client.js';
import { formatJson, type Output } from './output.js';

/** Every option the CLI knows; each command accepts the global ones and those it lists. */
export const OPTIONS = {
  json: { type: 'boolean', description: "Print the server's JSON answer instead of text (for scripts)" },
  timeout: { type: 'string', value: 'seconds', description: 'How long to wait for the server (default 30)' },
  'show-secret': { type: 'boolean', description: 'Show the client secret in clear' },
  'force-refresh': { type: 'boolean', description: 'Refresh the access token first, even if it is still valid' },
  force: { type: 'boolean', description: 'Overwrite files that already exist' },
  // integration:create, connection:import and connect-session:create (src/cli/auth-modes.ts says which mode takes which).
  // A secret's value may be "-": it is then read from standard input, and stays out of the shell's history.
  'client-id': { type: 'string', value: 'id', description: 'The OAuth client id registered with the provider (OAuth 2, OAuth 1, client credentials)' },
  'client-secret': { type: 'string', value: 'secret|-', description: 'The OAuth client secret ("-": read it from standard input)' },
  scopes: { type: 'string', value: 'scopes', description: 'Scopes to ask for, comma- or space-separated' },
  'display-name': { type: 'string', value: 'name', description: 'A name shown instead of the key or the id' },
  'access-token': { type: 'string', value: 'token|-', description: 'OAuth 2 access token ("-": from standard input)' },
  'refresh-token': { type: 'string', value: 'token|-', description: 'OAuth 2 refresh token ("-": from standard input)' },
  'expires-at': { type: 'string', value: 'date', description: 'When the access token expires, ISO 8601 (2030-01-31T12:00:00Z)' },
  'oauth-token': { type: 'string', value: 'token', description: 'OAuth 1 token' },
  'oauth-token-secret': { type: 'string', value: 'secret|-', description: 'OAuth 1 token secret ("-": from standard input)' },
  'api-key': { type: 'string', value: 'key|-', description: 'The API key ("-": from standard input)' },
  username: { type: 'string', value: 'name', description: 'User name (basic auth)' },
  password: { type: 'string', value: 'password|-', description: 'Password (basic auth; "-": from standard input)' },
  token: { type: 'string', value: 'token|-', description: 'Client credentials access token ("-": from standard input)' },
  'connection-config': { type: 'string', value: 'json', description: 'The connection\'s parameters as a JSON object, e.g. \'{"subdomain":"acme"}\'' },
  metadata: { type: 'string', value: 'json', description: 'Metadata to store with the connection, a JSON object' },
  integration: { type: 'string', multiple: true, value: 'key', description: 'An integration the session may connect (repeat for more; default: all)' },
  email: { type: 'string', value: 'address', description: "The end user's email address" },
  help: { type: 'boolean', short: 'h', description: 'Show help' },
  version: { type: 'boolean', short: 'v', description: 'Show the version' },
} as const satisfies Record<string, { type: 'boolean' | 'string'; short?: string; value?: string; multiple?: boolean; description: string }>;

export type OptionName = keyof typeof OPTIONS;

/** Options every command takes; `timeout` is added for the commands that talk to the server. */
export const GLOBAL_OPTIONS: readonly OptionName[] = ['json', 'help', 'version'];

export interface ArgumentSpec {
  name: string;
  description: string;
  optional?: true;
}

export interface Flags {
  json: boolean;
  showSecret: boolean;
  forceRefresh: boolean;
  force: boolean;
  timeoutMs: number;
  /** The values of the string options given (`--timeout` aside), by option name; repeatable ones as arrays. */
  values: Partial<Record<OptionName, string | string[]>>;
}

export interface CommandContext {
  /** The command being run, for usage errors' pointer to its help. */
  commandName: string;
  /** The positional arguments, in the order of the command's `args`. */
  args: string[];
  flags: Flags;
  out: Output;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** How the user called the CLI (`nango` or `custody`), for messages that suggest a command. */
  programName: string;
  /** The server client, built on first use from NANGO_HOSTPORT and NANGO_SECRET_KEY. */
  api(): ApiClient;
  /** Standard input, whole (for an option given as "-"). */
  readStdin(): Promise<string>;
}

export interface CommandSpec {
  name: string;
  group: 'Integrations' | 'Connections' | 'Setup';
  summary: string;
  /** Longer help text for `<command> --help`. */
  description?: string;
  args: readonly ArgumentSpec[];
  /** Options beyond the global ones. */
  options: readonly OptionName[];
  /** Whether the command talks to the server (and so takes `--timeout`). */
  usesServer: boolean;
  examples: readonly string[];
  run(context: CommandContext): Promise<void>;
}

/** The options a command accepts, global ones included. */
export function optionsOf(command: CommandSpec): OptionName[] {
  return [...(command.usesServer ? (['timeout'] as const) : []), ...command.options, ...GLOBAL_OPTIONS];
}

/** `config:get <key>` / `init [dir]`. */
export function synopsis(command: CommandSpec): string {
  return [command.name, ...command.args.map((arg) => (arg.optional ? `[${arg.name}]` : `<${arg.name}>`))].join(' ');
}

/** A positional argument the parser has already required. */
export function argument(context: CommandContext, index: number): string {
  return context.args[index] ?? '';
}

/** With `--json`, the server's answer as it is; the seed API answers some writes with an empty body, which prints nothing. */
export function printJsonIfAny(context: CommandContext, body: unknown): void {
  if (body !== undefined) context.out.line(formatJson(body));
}
