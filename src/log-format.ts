import type { DestinationStream } from 'pino';
import type { LogFormat } from './config.js';

/**
 * How the server writes its log: one readable line per event for a person at a terminal, pino's JSON lines
 * for everything else (files, pipes, container logs, collectors), unchanged. Redaction happens in pino before
 * either sees a line, so both hold the same (blanked) values.
 */

/** LOG_FORMAT when set; otherwise pretty when stdout is a terminal. */
export function chooseLogFormat(setting: LogFormat | undefined, stdoutIsTerminal: boolean): LogFormat {
  return setting ?? (stdoutIsTerminal ? 'pretty' : 'json');
}

export interface LogOutput {
  format: LogFormat;
  /** Where pino writes; undefined: its own JSON to stdout. */
  destination: DestinationStream | undefined;
  /** A line to log once the logger exists, when the format asked for could not be had. */
  notice?: string;
}

/**
 * The destination for the chosen format. pino-pretty is a development dependency: a production install
 * (`npm ci --omit=dev`, the container image) has none, and then the log stays JSON.
 */
export async function openLogOutput(setting: LogFormat | undefined, stdoutIsTerminal: boolean): Promise<LogOutput> {
  const format = chooseLogFormat(setting, stdoutIsTerminal);
  if (format === 'json') return { format, destination: undefined };
  let pinoPretty: typeof import('pino-pretty');
  try {
    pinoPretty = (await import('pino-pretty')).default;
  } catch {
    return {
      format: 'json',
      destination: undefined,
      ...(setting === 'pretty' ? { notice: 'LOG_FORMAT=pretty needs the pino-pretty package, which this installation lacks (a production install leaves it out); logging JSON instead.' } : {}),
    };
  }
  const destination = pinoPretty({
    // Written as it happens, so the lines before an exit and stderr's "Cannot start" come in order.
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The rest of an event's fields follow its message as compact JSON, on the same line.
    ignore: 'pid,hostname,reqId',
    messageFormat: eventMessage,
  });
  return { format, destination };
}

/** The message, after the request id when the line belongs to a request: `[req-7] request completed`. */
export function eventMessage(log: Record<string, unknown>, messageKey: string): string {
  const message = String(log[messageKey] ?? '');
  const requestId = log['reqId'];
  return typeof requestId === 'string' || typeof requestId === 'number' ? `[${String(requestId)}] ${message}` : message;
}
