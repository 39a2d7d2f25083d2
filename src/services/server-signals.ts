import type { EndUser } from '../store/connections-store.js';

/** A connection was authorised (or re-authorised, or refreshed). */
export interface AuthOutcome {
  operation: 'creation' | 'override' | 'refresh';
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  authMode: string;
  endUser?: EndUser | null;
  tags?: Record<string, string> | null;
  /** A refresh that succeeded after one or more failed ones (the auth webhook then says `success: true`). */
  recovered?: boolean;
}

/**
 * What services announce as they work; listeners (webhooks to the operator's app, Prometheus metrics,
 * anonymous telemetry) react without the services knowing them. Every method is fire-and-forget: a listener
 * never blocks or fails the work that announced it.
 */
export interface ServerSignals {
  authSucceeded(outcome: AuthOutcome): void;
  authFailed(outcome: AuthOutcome, error: { type: string; description: string }): void;
  oauthFlowStarted(provider: string): void;
  oauthFlowFinished(provider: string, success: boolean): void;
  integrationCreated(provider: string): void;
}

export const NO_SIGNALS: ServerSignals = {
  authSucceeded: () => undefined,
  authFailed: () => undefined,
  oauthFlowStarted: () => undefined,
  oauthFlowFinished: () => undefined,
  integrationCreated: () => undefined,
};

/** Sends every signal to each listener; a listener that throws is isolated from the others and the caller. */
export function fanOut(listeners: Partial<ServerSignals>[]): ServerSignals {
  const call = <K extends keyof ServerSignals>(name: K, ...args: Parameters<ServerSignals[K]>): void => {
    for (const listener of listeners) {
      try {
        (listener[name] as ((...a: Parameters<ServerSignals[K]>) => void) | undefined)?.(...args);
      } catch {
        // a listener's failure is its own business
      }
    }
  };
  return {
    authSucceeded: (...args) => call('authSucceeded', ...args),
    authFailed: (...args) => call('authFailed', ...args),
    oauthFlowStarted: (...args) => call('oauthFlowStarted', ...args),
    oauthFlowFinished: (...args) => call('oauthFlowFinished', ...args),
    integrationCreated: (...args) => call('integrationCreated', ...args),
  };
}
