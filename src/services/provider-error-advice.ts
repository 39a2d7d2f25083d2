import type { Logger } from '../logger.js';
import type { ProviderError } from '../oauth/provider-error.js';

export interface ProviderFailureContext {
  integration: string;
  provider: string;
  callbackUrl: string;
}

/**
 * Tells the operator why a provider refused: a warning with the advice, and the provider's answer (redacted)
 * at debug level. The end user only ever sees the error's public message.
 */
export function logProviderFailure(log: Logger, error: ProviderError, context: ProviderFailureContext): void {
  log.warn(adviceForProviderError(error, context));
  if (error.answer !== undefined || error.details.error_description !== undefined) {
    log.debug(
      { providerAnswer: error.answer, errorDescription: error.details.error_description },
      `What ${context.provider} answered for integration "${context.integration}" (token-looking fields blanked).`,
    );
  }
}

/**
 * One plain-English warning for the operator when a provider refuses a flow: the provider's error code, the
 * likely cause, and what to change. The provider's own words go to the debug log (`logProviderFailure`).
 */
export function adviceForProviderError(error: ProviderError, context: ProviderFailureContext): string {
  const code = (error.details.error ?? '').toLowerCase();
  const description = error.details.error_description ?? '';
  const said = error.code ?? (error.details.status !== undefined ? `HTTP ${error.details.status}` : 'no error code');
  const prefix = `${context.provider} refused the authorisation for integration "${context.integration}" (${said}).`;
  if (error.kind === 'timeout' || error.kind === 'unreachable') {
    return `${context.provider} could not be reached for integration "${context.integration}": ${error.message} Check the provider's URLs in the catalog and this server's outbound network.`;
  }
  if (error.kind === 'garbage') {
    return `${context.provider} answered something that is not a token response for integration "${context.integration}": ${error.message} Check the token_url of the provider template.`;
  }
  if (code.includes('redirect') || /redirect/i.test(description)) {
    return `${prefix} The redirect URL does not match what is registered with ${context.provider}: register exactly ${context.callbackUrl} as the OAuth callback (redirect URI) of the app, or set NANGO_CALLBACK_URL to the one registered.`;
  }
  if (code === 'invalid_client' || code === 'unauthorized_client' || error.details.status === 401) {
    return `${prefix} The client id or client secret of integration "${context.integration}" is wrong or the app is not allowed this grant: copy them again from the provider's developer console and update the integration.`;
  }
  if (code === 'access_denied') {
    return `${prefix} The user declined the consent screen, or the app is not allowed for this account; nothing to fix unless every user sees this.`;
  }
  if (code === 'invalid_scope') {
    return `${prefix} A scope of integration "${context.integration}" is unknown to ${context.provider} or not enabled for the app: check the scopes.`;
  }
  if (code === 'invalid_grant') {
    return `${prefix} The authorization code or refresh token is expired, already used or revoked, or the redirect URL differs from the one used to get it; the user has to connect again.`;
  }
  return `${prefix} See ${context.provider}'s OAuth documentation for this error.`;
}
