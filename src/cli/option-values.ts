import type { CommandContext, OptionName } from './command.js';
import { UsageError } from './errors.js';

/**
 * String option values as commands use them. A secret given as "-" is read from standard input, so it never
 * appears in the shell's history or in the process list; one option per command line may do so.
 */
export async function optionText(context: CommandContext, name: OptionName): Promise<string | undefined> {
  const value = context.flags.values[name];
  const text = Array.isArray(value) ? value[value.length - 1] : value;
  if (text !== '-') return text;
  const fromStdin = Object.values(context.flags.values).filter((other) => other === '-');
  if (fromStdin.length > 1) throw new UsageError('only one option can be read from standard input ("-").', currentCommand(context));
  return (await context.readStdin()).replace(/\r?\n$/, '');
}

/** Every value of a repeatable option, in order. */
export function optionList(context: CommandContext, name: OptionName): string[] {
  const value = context.flags.values[name];
  return value === undefined ? [] : [value].flat();
}

/** A JSON-object option such as `--metadata '{"plan":"pro"}'`. */
export function optionObject(context: CommandContext, name: OptionName): Record<string, unknown> | undefined {
  const text = context.flags.values[name];
  if (typeof text !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--${name} must be a JSON object such as '{"subdomain":"acme"}' (got ${JSON.stringify(text)}).`, currentCommand(context));
  }
  return parsed as Record<string, unknown>;
}

/** The options given that `allowed` does not list: a mode that does not read them must say so, not drop them. */
export function givenOptionsOutside(context: CommandContext, candidates: readonly OptionName[], allowed: readonly OptionName[]): OptionName[] {
  return candidates.filter((name) => context.flags.values[name] !== undefined && !allowed.includes(name));
}

/** `--a, --b and --c`. */
export function describeOptions(names: readonly OptionName[]): string {
  const shown = names.map((name) => `--${name}`);
  return shown.length <= 1 ? (shown[0] ?? '') : `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

function currentCommand(context: CommandContext): string {
  return context.commandName;
}
