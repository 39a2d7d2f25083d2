import { DEFAULT_HOSTPORT } from './api-client.js';
import { OPTIONS, optionsOf, synopsis, type CommandSpec, type OptionName } from './command.js';
import { ExitCode } from './errors.js';

/** `nango --help`: every command by group, the global options, the environment and the exit codes. */
export function generalHelp(program: string, commands: readonly CommandSpec[]): string {
  const lines = [`${program}: command-line client for a Custody (Nango-compatible) OAuth credential server`, '', `Usage: ${program} <command> [arguments] [options]`];
  for (const group of ['Integrations', 'Connections', 'Setup'] as const) {
    lines.push('', `${group}:`);
    for (const command of commands.filter((candidate) => candidate.group === group)) lines.push(`  ${synopsis(command)}`, `      ${command.summary}`);
  }
  lines.push(`  help [command]`, `      Show this help, or the help of one command`);
  lines.push('', 'Options:', ...optionLines(['json', 'timeout', 'help', 'version']));
  lines.push('', ...environmentAndExitCodes(), '', `Run "${program} <command> --help" for the arguments and options of a command.`);
  return lines.join('\n');
}

/** `nango <command> --help`. */
export function commandHelp(program: string, command: CommandSpec): string {
  const options = optionsOf(command).filter((name) => name !== 'version');
  const lines = [`Usage: ${program} ${synopsis(command)} [options]`, '', command.summary + '.'];
  if (command.description) lines.push('', command.description);
  if (command.args.length > 0) {
    lines.push('', 'Arguments:');
    const width = Math.max(...command.args.map((arg) => arg.name.length + 2));
    for (const arg of command.args) lines.push(`  ${(arg.optional ? `[${arg.name}]` : `<${arg.name}>`).padEnd(width)}  ${arg.description}`);
  }
  lines.push('', 'Options:', ...optionLines(options));
  if (command.examples.length > 0) lines.push('', 'Examples:', ...command.examples.map((example) => `  ${example.replace(/^nango\b/, program)}`));
  if (command.usesServer) lines.push('', ...environmentAndExitCodes());
  return lines.join('\n');
}

function optionLines(names: readonly OptionName[]): string[] {
  const labels = names.map((name) => {
    const option = OPTIONS[name] as { short?: string; value?: string };
    return `${option.short ? `-${option.short}, ` : '    '}--${name}${option.value ? ` <${option.value}>` : ''}`;
  });
  const width = Math.max(...labels.map((label) => label.length));
  return names.map((name, index) => `  ${(labels[index] ?? '').padEnd(width)}  ${OPTIONS[name].description}`);
}

function environmentAndExitCodes(): string[] {
  return [
    'Environment:',
    `  NANGO_HOSTPORT    The server's URL (default ${DEFAULT_HOSTPORT})`,
    '  NANGO_SECRET_KEY  The server\'s secret key, sent as "Authorization: Bearer <key>"',
    '',
    'Exit codes:',
    `  ${ExitCode.ok}  success`,
    `  ${ExitCode.failed}  the server answered an error (or the command failed)`,
    `  ${ExitCode.usage}  usage error: unknown command or option, missing argument`,
    `  ${ExitCode.unreachable}  the server cannot be reached or did not answer in time`,
    `  ${ExitCode.unauthenticated}  the server refused the secret key (NANGO_SECRET_KEY wrong or missing)`,
  ];
}
