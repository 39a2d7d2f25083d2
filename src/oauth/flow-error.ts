import { ApiError } from '../errors.js';
import type { ProviderError } from './provider-error.js';

/**
 * What kind of failure stopped a flow; the route that answers turns it into a status (src/routes/oauth/).
 * `invalid`: the request or the integration is not fit for the flow; `unauthenticated`: no valid session
 * token, HMAC or public key; `refused`: a rule of this server forbids it; `not_found`: no such integration;
 * `provider_failed`: the provider refused or failed; `unexpected`: a fault of this server.
 */
export type FlowFailureKind = 'invalid' | 'unauthenticated' | 'refused' | 'not_found' | 'provider_failed' | 'unexpected';

/**
 * A connection flow that cannot go on (popup OAuth, or a non-popup credential connect). `type` is what the
 * frontend SDKs receive as the error type; the message says which rule failed and what to do.
 */
export class FlowError extends Error {
  override name = 'FlowError';

  constructor(
    readonly type: string,
    message: string,
    readonly kind: FlowFailureKind = 'invalid',
    /** The provider's refusal behind this failure: the operator's log gets its advice, the end user only `message`. */
    readonly providerError?: ProviderError,
  ) {
    super(message);
  }
}

/** A refused host, in the flow's terms (the page and the WebSocket name the rule and the setting); anything else as it is. */
export function asFlowRefusal(error: unknown): never {
  if (error instanceof ApiError && error.code === 'connection_host_not_allowed') {
    throw new FlowError(error.code, error.message, 'refused');
  }
  throw error;
}
