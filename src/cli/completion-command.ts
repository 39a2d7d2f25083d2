import { OPTIONS, optionsOf, type CommandSpec, type OptionName } from './command.js';
import { UsageError } from './errors.js';

/**
 * `completion bash|zsh|fish`: a completion script for the name the CLI was called by (`custody`, or `nango`
 * for whoever kept the alias), made from the command table itself, so a new command or option completes at once.
 * Completes command names, each command's options, the shells of `completion`, the commands of `help` and
 * the folder of `init`; never a value from the server.
 */
const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

export function completionCommand(commands: () => readonly CommandSpec[]): CommandSpec {
  return {
    name: 'completion',
    group: 'Setup',
    summary: 'Print a shell completion script (bash, zsh or fish)',
    description:
      'bash: source <(custody completion bash), e.g. in ~/.bashrc. zsh (after compinit): source <(custody completion zsh), or save it as ' +
      '_custody in a folder of $fpath. fish: custody completion fish > ~/.config/fish/completions/custody.fish.',
    args: [{ name: 'shell', description: 'bash, zsh or fish' }],
    options: [],
    usesServer: false,
    examples: ['source <(nango completion bash)', 'nango completion fish > ~/.config/fish/completions/nango.fish'],
    async run(context) {
      const shell = context.args[0] as Shell;
      if (!SHELLS.includes(shell)) {
        throw new UsageError(`completion takes bash, zsh or fish (got "${context.args[0] ?? ''}").`, context.commandName);
      }
      const all = [...commands(), helpPseudoCommand()];
      context.out.line(SCRIPTS[shell](context.programName, all));
    },
  };
}

/** `help [command]` is handled before the command table; it completes like a command. */
function helpPseudoCommand(): CommandSpec {
  return { name: 'help', group: 'Setup', summary: 'Show the help of all commands, or of one', args: [{ name: 'command', description: '', optional: true }], options: [], usesServer: false, examples: [], run: async () => undefined };
}

const SCRIPTS: Record<Shell, (program: string, commands: readonly CommandSpec[]) => string> = { bash: bashScript, zsh: zshScript, fish: fishScript };

/** What the first argument of a command completes to, beyond nothing. */
function firstArgument(command: CommandSpec, commands: readonly CommandSpec[]): { words: string[] } | { directories: true } | undefined {
  if (command.name === 'completion') return { words: [...SHELLS] };
  if (command.name === 'help') return { words: commands.map((other) => other.name) };
  if (command.name === 'init') return { directories: true };
  return undefined;
}

const takesValue = (name: OptionName): boolean => OPTIONS[name].type === 'string';
const optionWords = (command: CommandSpec): string[] => optionsOf(command).map((name) => `--${name}`);
const valueOptions = (commands: readonly CommandSpec[]): string[] => [...new Set(commands.flatMap((command) => optionsOf(command).filter(takesValue)))].map((name) => `--${name}`);

function bashScript(program: string, commands: readonly CommandSpec[]): string {
  const fn = `_${program}_complete`;
  const values = valueOptions(commands).join('|');
  const optionCases = commands.map((command) => `      ${command.name}) candidates='${optionWords(command).join(' ')}' ;;`);
  const argumentCases = commands.flatMap((command) => {
    const first = firstArgument(command, commands);
    if (!first) return [];
    return ['words' in first ? `      ${command.name}) candidates='${first.words.join(' ')}' ;;` : `      ${command.name}) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;`];
  });
  return `# bash completion for ${program}, printed by "${program} completion bash". Load it with
#   source <(${program} completion bash)
# (in ~/.bashrc for every shell), or save it as ~/.local/share/bash-completion/completions/${program}.
${fn}() {
  # The word under the cursor from the line itself: bash splits words at ":", which command names contain.
  local line=\${COMP_LINE:0:COMP_POINT}
  local cur=\${line##*[[:space:]]}
  local -a words
  read -r -a words <<< "\${line%"$cur"}"
  local command= positionals=0 i=1
  while (( i < \${#words[@]} )); do
    case \${words[i]} in
      ${values}) (( i += 2 )); continue ;;
      -*) ;;
      *) if [[ -z $command ]]; then command=\${words[i]}; else (( positionals++ )); fi ;;
    esac
    (( i++ ))
  done
  case \${words[\${#words[@]}-1]} in
    ${values}) return 0 ;;
  esac
  local candidates=
  if [[ $cur == -* ]]; then
    case $command in
${optionCases.join('\n')}
      *) candidates='--help --version' ;;
    esac
  elif [[ -z $command ]]; then
    candidates='${commands.map((command) => command.name).join(' ')}'
  elif (( positionals == 0 )); then
    case $command in
${argumentCases.join('\n')}
      *) return 0 ;;
    esac
  else
    return 0
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
  # What bash replaces is the part after the last ":"; the candidates must be cut the same way.
  if [[ $cur == *:* ]]; then
    local prefix=\${cur%"\${cur##*:}"}
    COMPREPLY=("\${COMPREPLY[@]#"$prefix"}")
  fi
}
complete -F ${fn} ${program}`;
}

function zshScript(program: string, commands: readonly CommandSpec[]): string {
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const bracketed = (text: string): string => text.replace(/([[\]:\\])/g, '\\$1');
  const optionSpec = (name: OptionName): string => quote(`--${name}[${bracketed(OPTIONS[name].description)}]${takesValue(name) ? `:${'value' in OPTIONS[name] ? OPTIONS[name].value : 'value'}: ` : ''}`);
  const describe = commands.map((command) => `    ${quote(`${command.name.replace(/:/g, '\\:')}:${command.summary}`)}`);
  const cases = commands.map((command) => {
    const first = firstArgument(command, commands);
    const argument = !first ? [] : 'words' in first ? [quote(`1:${command.args[0]?.name ?? 'argument'}:(${first.words.join(' ')})`)] : [quote(`1:${command.args[0]?.name ?? 'folder'}:_directories`)];
    return `    (${command.name.replace(/:/g, '\\:')}) _arguments -s ${[...optionsOf(command).map(optionSpec), ...argument].join(' ')} ;;`;
  });
  return `#compdef ${program}
# zsh completion for ${program}, printed by "${program} completion zsh". Load it (after compinit) with
#   source <(${program} completion zsh)
# or save it as _${program} in a folder of $fpath.
_${program}() {
  local -a commands
  commands=(
${describe.join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands '${program} command' commands
    return
  fi
  local command=\${words[2]}
  shift words
  (( CURRENT-- ))
  case $command in
${cases.join('\n')}
  esac
}
if [[ \${funcstack[1]} == _${program} ]]; then _${program} "$@"; else compdef _${program} ${program}; fi`;
}

function fishScript(program: string, commands: readonly CommandSpec[]): string {
  const quote = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = [
    `# fish completion for ${program}, printed by "${program} completion fish". Load it with`,
    `#   ${program} completion fish | source`,
    `# or save it as ~/.config/fish/completions/${program}.fish.`,
    `complete -c ${program} -f`,
    `complete -c ${program} -s h -l help -d ${quote(OPTIONS.help.description)}`,
    `complete -c ${program} -n __fish_use_subcommand -s v -l version -d ${quote(OPTIONS.version.description)}`,
  ];
  for (const command of commands) lines.push(`complete -c ${program} -n __fish_use_subcommand -a ${quote(command.name)} -d ${quote(command.summary)}`);
  for (const command of commands) {
    const when = `-n ${quote(`__fish_seen_subcommand_from ${command.name}`)}`;
    for (const name of optionsOf(command).filter((option) => option !== 'help' && option !== 'version')) {
      lines.push(`complete -c ${program} ${when} -l ${name}${takesValue(name) ? ' -r' : ''} -d ${quote(OPTIONS[name].description)}`);
    }
    const first = firstArgument(command, commands);
    if (first) lines.push(`complete -c ${program} ${when} -a ${'words' in first ? quote(first.words.join(' ')) : "'(__fish_complete_directories)'"}`);
  }
  return lines.join('\n');
}
