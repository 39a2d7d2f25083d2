import { z } from 'zod';
import { ApiError } from '../errors.js';
import { FlowError } from '../oauth/flow-error.js';
import { filledParams, fillOAuthTemplate } from '../oauth/flow-template.js';
import { assertAuthorizationCodeGrant, assertCodePresent, assertNoAuthorizationError, exchangeAuthorizationCode, oauth2AuthorizationUrl } from '../oauth/oauth2-authorization.js';
import { tokenObjectAt } from '../oauth/flow-metadata.js';
import { createPkcePair } from '../oauth/pkce.js';
import { ProviderError, requestToken } from '../oauth/token-endpoint.js';
import { oauthAppInput, type CredentialMode, type ProxyAuthorisation } from './credential-mode.js';
import { followTokenAnswer } from '../oauth/token-answer-follow-up.js';
import { dashboardView, expiresAfter, expiryOf, KEPT_FROM_ANSWERS, modernView, stringField } from './credential-values.js';
import { renewalParams, renewalTarget } from './provider-calls.js';

/** OAuth 2: an access token, usually a refresh token, from the popup flow (authorization code with PKCE) or imported. */
const OAuth2Stored = z.looseObject({
  type: z.literal('OAUTH2'),
  access_token: z.string(),
  refresh_token: z.string().nullish(),
  expires_at: z.string().nullish(),
  raw: z.record(z.string(), z.unknown()).nullish(),
  /** The end user's own OAuth app, when the connection was made with one: refreshes must use it too. */
  oauth_client_id_override: z.string().optional(),
  oauth_client_secret_override: z.string().optional(),
  ...KEPT_FROM_ANSWERS,
});
export type OAuth2Credentials = z.infer<typeof OAuth2Stored>;

const ModernImport = z
  .object({ type: z.literal('OAUTH2'), access_token: z.string().min(1), refresh_token: z.string().min(1).optional(), expires_at: z.iso.datetime({ offset: true }).optional(), raw: z.record(z.string(), z.unknown()).optional() })
  .strict()
  .transform(
    (input): OAuth2Credentials => ({
      type: 'OAUTH2',
      access_token: input.access_token,
      ...(input.refresh_token ? { refresh_token: input.refresh_token } : {}),
      ...(input.expires_at ? { expires_at: new Date(input.expires_at).toISOString() } : {}),
      raw: input.raw ?? {},
    }),
  );

export const oauth2Mode: CredentialMode<'OAUTH2', OAuth2Credentials> = {
  mode: 'OAUTH2',
  stored: OAuth2Stored,
  modernImport: ModernImport,

  seedImport(body, now) {
    if (!body.access_token) throw new ApiError('missing_access_token', 'The field "access_token" is required for OAUTH2 connections.');
    const expiresAt = body.expires_at ? new Date(body.expires_at).toISOString() : body.expires_in ? expiresAfter(now, body.expires_in) : undefined;
    return { type: 'OAUTH2', access_token: body.access_token, ...(body.refresh_token ? { refresh_token: body.refresh_token } : {}), ...(expiresAt ? { expires_at: expiresAt } : {}), raw: body.raw };
  },

  browser: {
    acceptsClientOverride: true,
    prepare: (flow) => fillOAuthTemplate(flow.template, flow.connectionConfig),
    async start(flow, start) {
      assertAuthorizationCodeGrant(flow.template);
      const pkce = flow.template.disable_pkce ? undefined : createPkcePair();
      const session = await start.openSession({ codeVerifier: pkce?.verifier ?? null });
      return oauth2AuthorizationUrl({
        authorizationUrl: start.authorizationUrl,
        clientId: flow.client.clientId,
        callbackUrl: flow.callbackUrl,
        state: session.state,
        scopes: start.scopesOverride ?? start.integrationScopes,
        userScopes: start.userScopes,
        scopeSeparator: flow.template.scope_separator ?? ' ',
        extraParams: [filledParams(flow.template, 'authorization_params', flow.connectionConfig), start.sessionAuthorizationParams, start.requestAuthorizationParams],
        codeChallenge: pkce?.challenge,
        paramNames: flow.template.authorization_param_names,
      });
    },
    async complete(flow, callback) {
      assertNoAuthorizationError(callback.query);
      const code = assertCodePresent(callback.query, flow.template.authorization_code_param_in_callback);
      const raw = await exchangeAuthorizationCode({ ...flow, code, codeVerifier: callback.codeVerifier });
      let credentials: OAuth2Credentials;
      try {
        credentials = oauth2CredentialsFrom(raw, flow.now, flow.template.token_response_path);
        credentials = { ...credentials, ...(await followTokenAnswer(raw, credentials.access_token, flow)) };
      } catch (error) {
        if (error instanceof ProviderError) throw new FlowError('token_err', error.publicMessage, 'provider_failed', error);
        throw error;
      }
      // Kept with the (encrypted) credentials: refreshing this connection needs the same app.
      return {
        credentials: flow.clientOverridden ? { ...credentials, oauth_client_id_override: flow.client.clientId, oauth_client_secret_override: flow.client.clientSecret } : credentials,
        raw,
      };
    },
  },

  renewal: {
    isRenewable: (credentials) => Boolean(credentials.refresh_token),
    async renew(previous, context) {
      const { template, integration } = context;
      const { url, agent } = renewalTarget(context, template.refresh_url ?? template.token_url ?? '', previous.api_base_url);
      // Refresh parameters, or the token parameters without an authorization-code grant (which would break refresh).
      const { grant_type: _ignored, ...tokenParams } = renewalParams(template, template.refresh_params ? 'refresh_params' : 'token_params', context.connectionConfig);
      const raw = await requestToken({
        url,
        agent,
        params: { grant_type: 'refresh_token', refresh_token: previous.refresh_token ?? '', ...tokenParams },
        // A connection made with the end user's own OAuth app is refreshed with that app.
        clientId: previous.oauth_client_id_override ?? integration.oauth_client_id ?? '',
        clientSecret: previous.oauth_client_id_override ? previous.oauth_client_secret_override ?? '' : integration.oauth_client_secret ?? '',
        template,
        timeoutMs: context.timeoutMs,
      });
      const renewed = oauth2CredentialsFrom(raw, context.now, template.token_response_path, previous);
      // A new token opens a new session (Bullhorn's REST login): the previous one ends with the old token.
      return { ...renewed, ...(await followTokenAnswer(raw, renewed.access_token, context, previous)) };
    },
  },

  expiresAt: (credentials) => expiryOf(credentials.expires_at ?? undefined),

  authorise(credentials, context): ProxyAuthorisation {
    const token = credentials.access_token;
    if (token === '') throw new ApiError('missing_access_token', `The connection "${context.connectionId}" has no access token to send.`);
    // The post-token request's session authorises API calls (the template's headers carry it), not the token.
    if (context.template.post_token_request) return { kind: 'headers', headers: {} };
    return { kind: 'headers', headers: { authorization: `Bearer ${token}` } };
  },

  templateValues: (credentials) => ({ ...credentials, ...credentials.post_token_values, accessToken: credentials.access_token }),

  show: {
    modern: modernView,
    dashboard: (credentials) => dashboardView({ accessToken: credentials.access_token, refreshToken: credentials.refresh_token ?? null, expiresAt: credentials.expires_at ?? null }),
  },

  integrationInput: oauthAppInput('OAUTH2'),
  integrationCredentials: (integration) => ({ type: 'OAUTH2', client_id: integration.oauth_client_id, client_secret: integration.oauth_client_secret, scopes: integration.oauth_scopes, webhook_secret: null }),
};

/**
 * The stored credentials of a token response. A refresh response without a refresh token keeps the previous
 * one (most providers only send it once, or only when they rotate it), and the previous client override.
 */
function oauth2CredentialsFrom(raw: Record<string, unknown>, now: Date, path: string | undefined, previous?: OAuth2Credentials): OAuth2Credentials {
  const source = path ? tokenObjectAt(raw, path) : tokenHolder(raw);
  const accessToken = stringField(source['access_token']);
  if (!accessToken) throw new ProviderError('garbage', `The provider answered without an access_token${path ? ` in "${path}"` : ''}.`);
  const refreshToken = stringField(source['refresh_token']) ?? previous?.refresh_token ?? undefined;
  const expiresAt = expiresAfter(now, source['expires_in'] ?? raw['expires_in'] ?? source['expires'] ?? NaN);
  return {
    type: 'OAUTH2',
    access_token: accessToken,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    ...(expiresAt ? { expires_at: expiresAt } : {}),
    raw,
    ...(previous?.oauth_client_id_override ? { oauth_client_id_override: previous.oauth_client_id_override, oauth_client_secret_override: previous.oauth_client_secret_override ?? '' } : {}),
  };
}

/** Where the token is: at the top, or (Slack user tokens, Withings' `body`, a few others) inside one nested object. */
function tokenHolder(raw: Record<string, unknown>): Record<string, unknown> {
  if (stringField(raw['access_token'])) return raw;
  for (const key of ['authed_user', 'data', 'token', 'result', 'body']) {
    const nested = raw[key];
    if (typeof nested === 'object' && nested !== null && stringField((nested as Record<string, unknown>)['access_token'])) {
      return nested as Record<string, unknown>;
    }
  }
  return raw;
}
