import { isRenewable, type StoredCredentials } from '../credentials/registry.js';
import { renewalDueAt } from '../services/token-refresher.js';
import type { ConnectionRecord, RefreshPlanner } from '../store/connections-store.js';
import type { KeeperSettings } from './keeper-settings.js';

/** The longest wait between two retries of a failing refresh, however many have failed. */
const MAX_RETRY_WAIT_MS = 6 * 60 * 60 * 1000;
/** Backoff step when the keeper is off (reads still retry; the due time still says when the keeper would). */
const DEFAULT_RETRY_STEP_MS = 10 * 60 * 1000;

/**
 * When the token keeper looks at a connection. Renewable credentials fall due at the refresh margin before they
 * expire, or NANGO_REFRESH_MAX_AGE_HOURS after they were obtained, whichever comes first; credentials that cannot
 * be renewed never do. A failed refresh is retried after one sweep interval, then two, four… (at most six hours),
 * until its failures have lasted NANGO_REFRESH_GIVE_UP_DAYS: then the keeper gives up on it.
 */
export class RefreshSchedule implements RefreshPlanner {
  constructor(
    private readonly settings: Pick<KeeperSettings, 'sweepMs' | 'maxAgeMs' | 'giveUpMs'>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  dueAfterRenewal(credentials: StoredCredentials, now: Date = this.clock()): Date | null {
    if (!isRenewable(credentials)) return null;
    const byAge = now.getTime() + this.settings.maxAgeMs;
    const byExpiry = renewalDueAt(credentials)?.getTime() ?? Infinity;
    return new Date(Math.min(byAge, byExpiry));
  }

  afterFailure(previous: Pick<ConnectionRecord, 'refresh_failing_since' | 'refresh_attempts'>, now: Date, restart: boolean) {
    const failingSince = restart || !previous.refresh_failing_since ? now : previous.refresh_failing_since;
    const attempts = restart ? 1 : previous.refresh_attempts + 1;
    const giveUpAt = failingSince.getTime() + this.settings.giveUpMs;
    if (now.getTime() >= giveUpAt) {
      return { refresh_due_at: null, refresh_failing_since: failingSince, refresh_given_up_at: now, refresh_attempts: attempts };
    }
    const step = this.settings.sweepMs > 0 ? this.settings.sweepMs : DEFAULT_RETRY_STEP_MS;
    const wait = Math.min(step * 2 ** Math.min(attempts - 1, 30), MAX_RETRY_WAIT_MS);
    // The last retry falls on the give-up time, so the keeper gives up when the setting says, not a backoff later.
    return { refresh_due_at: new Date(Math.min(now.getTime() + wait, giveUpAt)), refresh_failing_since: failingSince, refresh_given_up_at: null, refresh_attempts: attempts };
  }
}
