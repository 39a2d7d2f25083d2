/**
 * A connection's health, as every surface shows it (modern API, dashboard, metrics):
 * - `healthy`: its credentials work, or are renewed before they stop working;
 * - `refresh_failed`: its refreshes have failed `since` then; the keeper keeps retrying with backoff;
 * - `given_up`: they failed for NANGO_REFRESH_GIVE_UP_DAYS; the keeper stopped `since` then (reconnect, or refresh by hand);
 * - `expired`: its credentials expired `since` then and cannot be renewed: the end user must connect again.
 */
type HealthState = 'healthy' | 'refresh_failed' | 'given_up' | 'expired';

export interface ConnectionHealth {
  state: HealthState;
  since: Date | null;
}

interface HealthFacts {
  refresh_failing_since: Date | null;
  refresh_given_up_at: Date | null;
  expiresAt: Date | null;
  renewable: boolean;
}

export function healthOf(facts: HealthFacts, now: Date): ConnectionHealth {
  if (facts.refresh_given_up_at) return { state: 'given_up', since: facts.refresh_given_up_at };
  if (facts.refresh_failing_since) return { state: 'refresh_failed', since: facts.refresh_failing_since };
  if (facts.expiresAt && !facts.renewable && facts.expiresAt.getTime() <= now.getTime()) return { state: 'expired', since: facts.expiresAt };
  return { state: 'healthy', since: null };
}

/** For list rows, which do not open credentials: a connection on the keeper's schedule is renewable. */
interface ListedRow {
  refresh_failing_since: Date | null;
  refresh_given_up_at: Date | null;
  refresh_due_at: Date | null;
  credentials_expires_at: Date | null;
}

export function listedHealth(row: ListedRow, now: Date): ConnectionHealth {
  // The four facts, not a copy of the row: this runs for every connection of every listed page.
  const { refresh_given_up_at, refresh_failing_since, credentials_expires_at: expiresAt, refresh_due_at } = row;
  return healthOf({ refresh_given_up_at, refresh_failing_since, expiresAt, renewable: refresh_due_at !== null }, now);
}
