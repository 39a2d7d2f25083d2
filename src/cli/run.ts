import path from 'node:path';
import { VERSION } from '../version.js';
import { ApiClient, parseHostport } from './api-client.js';
import { parseCommandLine } from './arguments.js';
import type { CommandContext, CommandSpec } from './command.js';
import { completionCommand } from './completion-command.js';
import { configCommands } from './config-commands.js';
import { connectSessionCommands } from './connect-session-commands.js';
import { connectionImportCommand } from './connection-import-command.js';
import { connectionCommands } from './connection-commands.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { commandHelp, generalHelp } from './help.js';
import { initCommand } from './init-command.js';
import { integrationCommands } from './integration-commands.js';
import { tokenCommands } from './token-commands.js';

export const COMMANDS: readonly CommandSpec[] = [
  ...configCommands,
  ...integrationCommands,
  ...connectionCommands,
  connectionImportCommand,
  ...connectSessionCommands,
  ...tokenCommands,
  initCommand,
  completionCommand(() => COMMANDS),
];

export interface CliEnvironment {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  /** How the CLI was called, for help and hints; `custody` by default. */
  programName?: string;
  /** Standard input, whole; without it an option given as "-" is refused. */
  readStdin?: () => Promise<string>;
}

/** Runs one command line and answers its exit code; output goes through `io`, nothing else is touched. */
export async function runCli(argv: readonly string[], io: CliEnvironment): Promise<number> {
  const program = io.programName ?? DEFAULT_PROGRAM;
  const out = { line: (text: string) => io.stdout(`${text}\n`) };
  try {
    const invocation = parseCommandLine(argv, COMMANDS);
    switch (invocation.kind) {
      case 'version':
        out.line(VERSION);
        return ExitCode.ok;
      case 'help':
        out.line(invocation.command ? commandHelp(program, invocation.command) : generalHelp(program, COMMANDS));
        return ExitCode.ok;
      case 'no-command':
        io.stderr(`${generalHelp(program, COMMANDS)}\n`);
        return ExitCode.usage;
      case 'run': {
        let api: ApiClient | undefined;
        const context: CommandContext = {
          commandName: invocation.command.name,
          args: invocation.args,
          flags: invocation.flags,
          out,
          env: io.env,
          cwd: io.cwd,
          programName: program,
          readStdin: io.readStdin ?? (() => Promise.reject(new CliError('Error: standard input cannot be read here; give the value itself.', ExitCode.usage))),
          api: () =>
            (api ??= new ApiClient({
              baseUrl: parseHostport(io.env['NANGO_HOSTPORT']),
              secretKey: io.env['NANGO_SECRET_KEY'] || undefined,
              timeoutMs: invocation.flags.timeoutMs,
              userAgent: `custody-cli/${VERSION} (node ${process.version})`,
            })),
        };
        await invocation.command.run(context);
        return ExitCode.ok;
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const help = error.command ? `${program} ${error.command} --help` : `${program} --help`;
      io.stderr(`${program}: ${error.message} Run "${help}" for usage.\n`);
      return error.exitCode;
    }
    if (error instanceof CliError) {
      io.stderr(`${error.message}\n`);
      return error.exitCode;
    }
    // A bug of the CLI itself: one line, the details only on request.
    io.stderr(`${program}: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (io.env['NANGO_CLI_DEBUG']) io.stderr(`${error instanceof Error ? error.stack : ''}\n`);
    return ExitCode.failed;
  }
}

/**
 * The CLI's own name. `nango` is kept as an alias for scripts written for the seed-era Nango CLI; it names
 * NangoHQ's own package on npm, so outside this clone `npx nango` runs theirs, not this one.
 */
export const DEFAULT_PROGRAM = 'custody';

/** `custody` or `nango`, from the path the CLI was started with (a link of either name); `custody` when run as main.js/main.ts. */
export function programNameFrom(scriptPath: string | undefined): string {
  const name = scriptPath ? path.basename(scriptPath).replace(/\.(?:[cm]?js|ts)$/, '') : '';
  return name === 'custody' || name === 'nango' ? name : DEFAULT_PROGRAM;
}
