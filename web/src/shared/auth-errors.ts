/** What a person should do about an error the SDK or the server reported, in plain words. */
export interface Advice {
  title: string;
  action: string;
  /** The session cannot be used any more: only the application can give a new one. */
  fatal: boolean;
}

export function adviceFor(type: string | undefined, message: string, provider: string): Advice {
  const text = `${type ?? ''} ${message}`.toLowerCase();
  switch (type) {
    case 'blocked_by_browser':
      return { title: 'Your browser blocked the sign-in window', action: 'Allow pop-up windows for this site, then try again.', fatal: false };
    case 'window_closed':
      return { title: 'The sign-in window was closed', action: `The window closed before ${provider} finished. Try again when you are ready.`, fatal: false };
    case 'expired_connect_session_token':
    case 'unknown_connect_session_token':
    case 'invalid_connect_session_token_format':
    case 'missing_connect_session_token':
      return { title: 'This link has expired', action: 'Go back to the application and start connecting again: it gives you a new link.', fatal: true };
    case 'integration_not_allowed':
      return { title: `${provider} cannot be connected from this link`, action: 'Go back to the application and start again from the integration you want.', fatal: true };
    case 'connection_test_failed':
    case 'invalid_credentials':
      return { title: `${provider} refused these credentials`, action: 'Check them (no extra spaces, the right account), then try again.', fatal: false };
    case 'missing_connection_config':
    case 'invalid_connection_config':
    case 'url_param_err':
    case 'invalid_body':
    case 'invalid_query_params':
      return { title: 'Some details are missing or wrong', action: 'Check the fields above, then try again.', fatal: false };
  }
  if (text.includes('access_denied') || text.includes('declined')) {
    return { title: 'Access was not granted', action: `You declined at ${provider}. To connect, try again and approve the access it asks for.`, fatal: false };
  }
  if (type === 'callback_err' || type === 'token_err') {
    return { title: `${provider} did not complete the sign-in`, action: 'Try again. If it keeps failing, the application’s support can check its setup with the details below.', fatal: false };
  }
  if (type === 'provider_config_err' || type === 'unknown_config_key' || type === 'unknown_provider_config' || type === 'auth_mode_err') {
    return { title: `${provider} is not set up correctly`, action: 'This is not something you can fix: tell the application’s support, with the details below.', fatal: true };
  }
  return { title: 'The connection could not be made', action: 'Try again. If it keeps failing, contact the application’s support with the details below.', fatal: false };
}

export function errorParts(error: unknown): { type: string | undefined; message: string } {
  const candidate = error as { type?: unknown; message?: unknown };
  return {
    type: typeof candidate?.type === 'string' ? candidate.type : undefined,
    message: typeof candidate?.message === 'string' && candidate.message ? candidate.message : String(error),
  };
}
