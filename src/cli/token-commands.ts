import { authModeFacts } from '../credentials/auth-modes.js';
import type { CommandSpec } from './command.js';
import { CONNECTION_ARGS, fetchConnection } from './connection-commands.js';
import { CliError, ExitCode } from './errors.js';
import { formatBlock, formatJson, type Output } from './output.js';

/** `token:get`: the one command whose purpose is to print a connection's secret credentials. */
export const tokenCommands: readonly CommandSpec[] = [
  {
    name: 'token:get',
    group: 'Connections',
    summary: "Print a connection's access token (OAuth 1: token and token secret)",
    description:
      'OAUTH2 connections print the access token alone on one line, ready for $(...). OAUTH1 connections print the token and the token secret. ' +
      'With --json, the whole credentials object (refresh token, expiry, raw provider answer). An expired access token is refreshed first.',
    args: CONNECTION_ARGS,
    options: ['force-refresh'],
    usesServer: true,
    examples: ['TOKEN=$(nango token:get github-prod user-42)', 'nango token:get github-prod user-42 --json'],
    async run(context) {
      const connection = await fetchConnection(context);
      const credentials = connection['credentials'];
      if (context.flags.json) return context.out.line(formatJson(credentials));
      const fields = typeof credentials === 'object' && credentials !== null ? (credentials as Record<string, unknown>) : {};
      const text = (name: string): string | undefined => (typeof fields[name] === 'string' ? (fields[name] as string) : undefined);
      const type = text('type');
      // Each mode names the fields worth printing (src/credentials/auth-modes.ts): one alone on its line, several as a block.
      const printed = authModeFacts(type)?.printedFields ?? [];
      const [single] = printed;
      if (printed.length === 1 && single) return printSingle(context.out, text(single.field), type ?? '');
      if (printed.length > 1) return context.out.line(formatBlock(printed.map(({ label, field }) => [label, text(field)])));
      throw new CliError(`Error: the connection has no token to print (credentials of type ${type ?? 'unknown'}); see "connection:get".`, ExitCode.failed);
    },
  },
];

function printSingle(out: Output, value: string | undefined, type: string): void {
  if (value === undefined) throw new CliError(`Error: the server's ${type} credentials hold no token.`, ExitCode.failed);
  out.line(value);
}
