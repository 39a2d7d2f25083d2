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

  readonly fatal = this.at('fatal');
  readonly error = this.at('error');
  readonly warn = this.at('warn');
  readonly info = this.at('info');
  readonly debug = this.at('debug');
  readonly trace = this.at('trace');

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
  ) {}

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

  /** The pino child itself, made on first need. */
  private child_(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  private at(level: Level): LogFn {
    // pino's LogFn is overloaded (object or message first); the arguments go to the child unchanged.
    return ((...args: Parameters<LogFn>) => {
      if (!this.isLevelEnabled(level)) return;
      (this.child_()[level] as (...rest: Parameters<LogFn>) => void)(...args);
    }) as LogFn;
  }
}
