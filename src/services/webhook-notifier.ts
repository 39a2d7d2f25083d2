import type { EndUser } from '../store/connections-store.js';

/** What the operator's app hears about connections (auth webhooks); delivery is fire-and-forget. */
export interface AuthOutcome {
  operation: 'creation' | 'override' | 'refresh';
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  authMode: string;
  endUser?: EndUser | null;
  tags?: Record<string, string> | null;
}

export interface WebhookNotifier {
  authSucceeded(outcome: AuthOutcome): void;
  authFailed(outcome: AuthOutcome, error: { type: string; description: string }): void;
}

/** Used when no webhook URL is configured. */
export const NO_WEBHOOKS: WebhookNotifier = {
  authSucceeded: () => undefined,
  authFailed: () => undefined,
};
