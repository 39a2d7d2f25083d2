import type { AuthOutcome, ServerSignals } from '../services/server-signals.js';
import type { AuthWebhookEvent, WebhookSender } from './webhook-sender.js';

/**
 * The listener that turns what services announce into auth webhooks, with Nango's choice of events:
 * a connection created or re-authorised (success), a refresh that failed (success: false). A successful
 * refresh sends nothing, as with Nango. Wire it with `fanOut([telemetry, authWebhookSignals(sender)])`.
 */
export function authWebhookSignals(sender: Pick<WebhookSender, 'send'>): Partial<ServerSignals> {
  return {
    authSucceeded: (outcome) => {
      if (outcome.operation === 'refresh') return;
      sender.send(toEvent(outcome, true));
    },
    authFailed: (outcome, error) => {
      sender.send({ ...toEvent(outcome, false), error: { type: error.type, description: error.description } });
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
