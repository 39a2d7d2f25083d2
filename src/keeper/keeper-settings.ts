import { z } from 'zod';

/** The token keeper's settings (NANGO_REFRESH_*), in milliseconds. */
export interface KeeperSettings {
  /** Time between sweeps (NANGO_REFRESH_SWEEP_SECONDS, default 600); 0 turns the keeper off. */
  sweepMs: number;
  /** A renewable credential not refreshed for this long is refreshed anyway (NANGO_REFRESH_MAX_AGE_HOURS, default 24). */
  maxAgeMs: number;
  /** After failing for this long the keeper stops retrying a connection (NANGO_REFRESH_GIVE_UP_DAYS, default 7). */
  giveUpMs: number;
  /** Refreshes one process runs at once (NANGO_REFRESH_CONCURRENCY, default 10). */
  concurrency: number;
}

/** A setting's value, or a sentence naming the variable and what it takes. */
function readNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, rule: { min: number; max: number; integer: boolean; unit: string }, refuse: (message: string) => Error): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const shape = rule.integer ? /^\d+$/ : /^\d+(\.\d+)?$/;
  const parsed = z.coerce.number().min(rule.min).max(rule.max).safeParse(raw);
  if (!shape.test(raw) || !parsed.success) {
    const kind = rule.integer ? 'a whole number' : 'a number (decimals allowed)';
    throw refuse(`${name} must be ${kind} of ${rule.unit} from ${rule.min} to ${rule.max} (got "${raw}").`);
  }
  return parsed.data;
}

/** Reads the NANGO_REFRESH_* variables; a bad value throws `refuse(the one line to show)`. */
export function readKeeperSettings(env: NodeJS.ProcessEnv, refuse: (message: string) => Error): KeeperSettings {
  const sweepSeconds = readNumber(env, 'NANGO_REFRESH_SWEEP_SECONDS', 600, { min: 0, max: 86_400, integer: true, unit: 'seconds' }, refuse);
  const maxAgeHours = readNumber(env, 'NANGO_REFRESH_MAX_AGE_HOURS', 24, { min: 0.0001, max: 8_760, integer: false, unit: 'hours' }, refuse);
  const giveUpDays = readNumber(env, 'NANGO_REFRESH_GIVE_UP_DAYS', 7, { min: 0.00001, max: 3_650, integer: false, unit: 'days' }, refuse);
  return {
    sweepMs: sweepSeconds * 1000,
    maxAgeMs: Math.round(maxAgeHours * 60 * 60 * 1000),
    giveUpMs: Math.round(giveUpDays * 24 * 60 * 60 * 1000),
    concurrency: readNumber(env, 'NANGO_REFRESH_CONCURRENCY', 10, { min: 1, max: 1_000, integer: true, unit: 'refreshes' }, refuse),
  };
}
