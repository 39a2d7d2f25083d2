import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, LogFn } from 'pino';
import type { Logger } from '../logger.js';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Fastify's `childLoggerFactory`: every request gets its logger (`request.log`, with its request id), but the
 * pino child behind it is made only when the request logs a line its level lets through. Making one per request
 * (bindings serialised, redaction set up) was a visible share of a credential read's work, and at the default
 * level most requests never log. A request with a log level of its own gets its child at once.
 */
export function deferredRequestLogger(this: unknown, parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  if (Object.keys(options).length > 0) return parent.child(bindings, options);
  return new DeferredChildLogger(parent as Logger, bindings) as unknown as FastifyBaseLogger;
}

class DeferredChildLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
  ) {}

  // Methods, not closures made per instance: every request makes one of these. pino's LogFn is overloaded
  // (object or message first); the arguments go to the child unchanged.
  fatal(...args: Parameters<LogFn>): void {
    this.write('fatal', args);
  }
  error(...args: Parameters<LogFn>): void {
    this.write('error', args);
  }
  warn(...args: Parameters<LogFn>): void {
    this.write('warn', args);
  }
  info(...args: Parameters<LogFn>): void {
    this.write('info', args);
  }
  debug(...args: Parameters<LogFn>): void {
    this.write('debug', args);
  }
  trace(...args: Parameters<LogFn>): void {
    this.write('trace', args);
  }

  get level(): LevelWithSilentOrString {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.child_().level = level;
  }

  silent(): void {}

  isLevelEnabled(level: LevelWithSilentOrString): boolean {
    return this.made ? (this.made as Logger).isLevelEnabled(level) : this.parent.isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.child_().child(bindings, options);
  }

  /** A line at `level`, written through the child (made now) only if the level lets it through. */
  private write(level: Level, args: Parameters<LogFn>): void {
    if (!this.isLevelEnabled(level)) return;
    (this.child_()[level] as (...rest: Parameters<LogFn>) => void)(...args);
  }

  /** The pino child itself, made on first need. */
  private child_(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings));
  }
}
