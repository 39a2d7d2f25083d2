import type { AuthOutcome, ServerSignals } from '../services/server-signals.js';
import type { AuthWebhookEvent, WebhookSender } from './webhook-sender.js';

/** Reads a connection's own webhook URL (`webhook_url_override`), null when it has none. */
export type WebhookUrlOverrideLookup = (providerConfigKey: string, connectionId: string) => Promise<string | null>;

/**
 * The listener that turns what services announce into auth webhooks, with Nango's choice of events:
 * a connection created or re-authorised (success), a refresh that failed (success: false), the first successful
 * refresh after failures (success: true). A refresh that simply succeeds sends nothing, as with Nango. With `overrideOf`, a connection that has its own webhook URL gets
 * its webhooks there instead of NANGO_WEBHOOK_URL; the lookup runs inside the sender's fire-and-forget delivery.
 */
export function authWebhookSignals(sender: Pick<WebhookSender, 'send'>, overrideOf?: WebhookUrlOverrideLookup): Partial<ServerSignals> {
  const send = (outcome: AuthOutcome, event: AuthWebhookEvent): void => sender.send(event, overrideOf?.(outcome.providerConfigKey, outcome.connectionId));
  return {
    authSucceeded: (outcome) => {
      // A refresh that simply works says nothing; the first one after failures tells the app it recovered.
      if (outcome.operation === 'refresh' && !outcome.recovered) return;
      send(outcome, toEvent(outcome, true));
    },
    authFailed: (outcome, error) => {
      send(outcome, { ...toEvent(outcome, false), error: { type: error.type, description: error.description } });
    },
  };
}

export function toEvent(outcome: AuthOutcome, success: boolean): AuthWebhookEvent {
  const endUser = outcome.endUser;
  return {
    operation: outcome.operation,
    success,
    connectionId: outcome.connectionId,
    providerConfigKey: outcome.providerConfigKey,
    provider: outcome.provider,
    authMode: outcome.authMode,
    ...(endUser
      ? {
          endUser: {
            endUserId: endUser.id,
            ...(endUser.organization?.id ? { organizationId: endUser.organization.id } : {}),
            ...(endUser.email ? { endUserEmail: endUser.email } : {}),
            tags: endUser.tags ?? {},
          },
        }
      : {}),
    ...(outcome.tags ? { tags: outcome.tags } : {}),
  };
}
