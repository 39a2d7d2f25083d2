/**
 * Exit codes scripts can rely on, and the one error type of the CLI: every failure ends as a CliError
 * whose message is the single line printed on stderr.
 */
export const ExitCode = {
  ok: 0,
  /** The server answered an error (or the command could not do its work, e.g. `init` would overwrite files). */
  failed: 1,
  /** Unknown command or option, missing or extra argument, bad option value or NANGO_HOSTPORT. */
  usage: 2,
  /** No answer from the server: connection refused, unknown host, TLS failure, timeout. */
  unreachable: 3,
  /** The server refused the secret key (HTTP 401). */
  unauthenticated: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** A command line that cannot be run; the message is completed with a pointer to the right `--help`. */
export class UsageError extends CliError {
  override name = 'UsageError';

  constructor(
    message: string,
    /** The command whose help to point at; the general help when absent. */
    readonly command?: string,
  ) {
    super(message, ExitCode.usage);
  }
}
