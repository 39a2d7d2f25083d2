import { parseArgs } from 'node:util';
import { DEFAULT_TIMEOUT_MS } from './api-client.js';
import { OPTIONS, optionsOf, type CommandSpec, type Flags, type OptionName } from './command.js';
import { UsageError } from './errors.js';

/** What the command line asks for. */
export type Invocation =
  | { kind: 'help'; command?: CommandSpec }
  /** No command at all: the general help, as a usage error. */
  | { kind: 'no-command' }
  | { kind: 'version' }
  | { kind: 'run'; command: CommandSpec; args: string[]; flags: Flags };

type ParseArgsOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/**
 * Reads argv (without the node and script paths). Options may come before or after the command name;
 * `--` ends the options, for arguments that start with a dash. Throws UsageError for anything it cannot run.
 */
export function parseCommandLine(argv: readonly string[], commands: readonly CommandSpec[]): Invocation {
  // First pass, lenient, with every option declared so that option values are not mistaken for the command name.
  const loose = parseArgs({ args: [...argv], options: parseArgsOptions(Object.keys(OPTIONS) as OptionName[]), strict: false, allowPositionals: true });
  const [name, ...rest] = loose.positionals;

  if (name === undefined) {
    if (loose.values['version'] === true) return { kind: 'version' };
    if (loose.values['help'] === true) return { kind: 'help' };
    return { kind: 'no-command' };
  }
  if (name === 'help') {
    if (rest.length > 1) throw new UsageError(`help takes at most one command name (got ${rest.length}).`);
    return { kind: 'help', ...(rest[0] !== undefined ? { command: findCommand(rest[0], commands) } : {}) };
  }
  const command = findCommand(name, commands);

  // Second pass, strict, with the options of this command only.
  const allowed = optionsOf(command);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: parseArgsOptions(allowed), strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(describeParseError(error, command), command.name);
  }
  const values = parsed.values as Partial<Record<OptionName, string | string[] | boolean>>;
  if (values.help === true) return { kind: 'help', command };
  if (values.version === true) return { kind: 'version' };

  const args = parsed.positionals.slice(1);
  const required = command.args.filter((arg) => !arg.optional);
  const missing = command.args.slice(args.length).filter((arg) => !arg.optional);
  if (missing.length > 0) {
    throw new UsageError(`${command.name} needs ${describeList(missing.map((arg) => `<${arg.name}>`))}.`, command.name);
  }
  if (args.length > command.args.length) {
    const expected = command.args.length === 0 ? 'no arguments' : `${required.length === command.args.length ? '' : 'at most '}${command.args.length} argument${command.args.length === 1 ? '' : 's'}`;
    throw new UsageError(`${command.name} takes ${expected}, got ${args.length}.`, command.name);
  }

  return {
    kind: 'run',
    command,
    args,
    flags: {
      json: values.json === true,
      showSecret: values['show-secret'] === true,
      forceRefresh: values['force-refresh'] === true,
      force: values.force === true,
      timeoutMs: typeof values.timeout === 'string' ? parseTimeout(values.timeout, command.name) : DEFAULT_TIMEOUT_MS,
      values: Object.fromEntries(Object.entries(values).filter(([, value]) => typeof value === 'string' || Array.isArray(value))),
    },
  };
}

function findCommand(name: string, commands: readonly CommandSpec[]): CommandSpec {
  const command = commands.find((candidate) => candidate.name === name);
  if (command) return command;
  const suggestion = closest(name, commands.map((candidate) => candidate.name));
  throw new UsageError(`unknown command "${name}"${suggestion ? `; did you mean "${suggestion}"?` : '.'}`);
}

/** `--timeout 30`, `2.5`, `500ms` or `10s`; the longest wait a timer allows is about 24 days. */
export function parseTimeout(text: string, command: string): number {
  const match = /^(\d+(?:\.\d+)?|\.\d+)(ms|s)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2] === 'ms' ? 1 : 1000) : Number.NaN;
  if (!(ms >= 1 && ms <= 2_147_483_647)) {
    throw new UsageError(`--timeout must be a number of seconds such as 30 or 2.5 (got "${text}").`, command);
  }
  return Math.round(ms);
}

function parseArgsOptions(names: readonly OptionName[]): ParseArgsOptions {
  const options: NonNullable<ParseArgsOptions> = {};
  for (const name of names) {
    const option = OPTIONS[name];
    options[name] = { type: option.type, ...('short' in option ? { short: option.short } : {}), ...('multiple' in option ? { multiple: option.multiple } : {}) };
  }
  return options;
}

/** Node's parseArgs messages mention `--` tricks and internals; one short sentence serves better. */
function describeParseError(error: unknown, command: CommandSpec): string {
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option ${option} for ${command.name}.`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    const name = option.replace(/^-+/, '') as OptionName;
    const spec = OPTIONS[name] as { type: string; value?: string } | undefined;
    return spec?.type === 'string' ? `${option} needs a value (${option} <${spec.value ?? 'value'}>).` : `${option} takes no value.`;
  }
  return message.split('\n')[0] ?? message;
}

function describeList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** The known name nearest to a typo (edit distance at most 3), or a known name it is the prefix of. */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of names) {
    const distance = candidate.startsWith(name) && name.length >= 3 ? 1 : editDistance(name, candidate);
    if (distance <= 3 && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
