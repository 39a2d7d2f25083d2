import { z } from 'zod';

/** A bad setting: its message is the one line the server prints before it exits, naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

export function readBoolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const word = raw.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new ConfigError(`${name} must be "true" or "false" (got "${raw}").`);
}

export function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const parsed = z.coerce.number().int().min(min).max(max).safeParse(raw);
  if (!/^\d+$/.test(raw) || !parsed.success) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got "${raw}").`);
  }
  return parsed.data;
}

export function readUrl(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const parsed = z.url({ protocol: /^https?$/ }).safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${name} must be an absolute http:// or https:// URL (got "${raw}").`);
  }
  return raw.replace(/\/+$/, '');
}

/** An endpoint this server posts to: checked like the others, but not rewritten. */
export function readOptionalUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  readUrl(env, name, raw);
  return raw;
}

export function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
