import { z } from 'zod';
import { ApiError } from '../errors.js';
import { fillOAuthTemplate, filledParams } from '../oauth/flow-template.js';
import { assertRequestUrl, assertUserAuthorised, exchangeVerifier, oauth1AuthorizationUrl, oauth1Target, obtainRequestToken, type OAuth1Leg } from '../oauth/oauth1-authorization.js';
import { oauth1Consumer } from '../oauth/oauth1-client.js';
import { isProtocolParameter, oauth1Authorization } from '../oauth/oauth1-signature.js';
import type { BrowserFlow } from './browser-connect.js';
import { oauthAppInput, type CredentialMode } from './credential-mode.js';
import { dashboardView, modernView } from './credential-values.js';

/** OAuth 1.0a: a token and token secret from the popup flow (or imported); every proxied request is signed with them. */
const OAuth1Stored = z.looseObject({
  type: z.literal('OAUTH1'),
  oauth_token: z.string(),
  oauth_token_secret: z.string(),
  raw: z.record(z.string(), z.unknown()).nullish(),
});
export type OAuth1Credentials = z.infer<typeof OAuth1Stored>;

const ModernImport = z
  .object({ type: z.literal('OAUTH1'), oauth_token: z.string().min(1), oauth_token_secret: z.string().min(1), raw: z.record(z.string(), z.unknown()).optional() })
  .strict()
  .transform((input): OAuth1Credentials => ({ type: 'OAUTH1', oauth_token: input.oauth_token, oauth_token_secret: input.oauth_token_secret, raw: input.raw ?? {} }));

export const oauth1Mode: CredentialMode<'OAUTH1', OAuth1Credentials> = {
  mode: 'OAUTH1',
  stored: OAuth1Stored,
  modernImport: ModernImport,

  seedImport(body) {
    if (!body.oauth_token) throw new ApiError('missing_oauth_token', 'The field "oauth_token" is required for OAUTH1 connections.');
    if (!body.oauth_token_secret) throw new ApiError('missing_oauth_token_secret', 'The field "oauth_token_secret" is required for OAUTH1 connections.');
    return { type: 'OAUTH1', oauth_token: body.oauth_token, oauth_token_secret: body.oauth_token_secret, raw: body.raw };
  },

  browser: {
    acceptsClientOverride: false,
    prepare: (flow) => fillOAuthTemplate(flow.template, flow.connectionConfig),
    async start(flow, start) {
      const leg = legOf(flow);
      const target = oauth1Target(leg, assertRequestUrl(flow.template, flow.integration.provider), 'request_url');
      const session = await start.openSession({ codeVerifier: null });
      const callback = new URL(flow.callbackUrl);
      callback.searchParams.set('state', session.state);
      let pair;
      try {
        pair = await obtainRequestToken(leg, target, callback.toString());
      } catch (error) {
        await session.discard();
        throw error;
      }
      await session.keepRequestTokenSecret(pair.oauth_token_secret);
      const extraParams = { ...filledParams(flow.template, 'authorization_params', flow.connectionConfig), ...start.requestAuthorizationParams };
      return oauth1AuthorizationUrl(start.authorizationUrl, pair.oauth_token, start.integrationScopes, flow.template.scope_separator ?? ' ', extraParams);
    },
    async complete(flow, callback) {
      const authorised = assertUserAuthorised(callback.query);
      const pair = await exchangeVerifier(legOf(flow), authorised, callback.requestTokenSecret ?? '');
      return { credentials: { type: 'OAUTH1', oauth_token: pair.oauth_token, oauth_token_secret: pair.oauth_token_secret, raw: pair.raw }, raw: pair.raw };
    },
  },

  expiresAt: () => null,

  /**
   * An `Authorization: OAuth …` header over method, URL (query included) and form-encoded body parameters. The
   * protocol parameters go in that header only, so the caller's query and body must not carry any (RFC 5849 §3.5).
   */
  authorise(credentials, context) {
    const { integration, template, connectionId } = context;
    const key = credentials.oauth_token;
    const secret = credentials.oauth_token_secret;
    if (key === '') throw new ApiError('missing_oauth_token', `The connection "${connectionId}" has no OAuth 1.0a token pair to sign with.`);
    if (!integration.oauth_client_id) throw new ApiError('missing_client_id', `The integration "${integration.unique_key}" has no client id (consumer key) to sign with.`);
    if (!integration.oauth_client_secret) throw new ApiError('missing_client_secret', `The integration "${integration.unique_key}" has no client secret (consumer secret) to sign with.`);
    const consumer = oauth1Consumer({ clientId: integration.oauth_client_id, clientSecret: integration.oauth_client_secret, template });
    return {
      kind: 'signature',
      sign(method, url, formParams) {
        const reserved = [...url.searchParams.keys(), ...(formParams?.keys() ?? [])].find(isProtocolParameter);
        if (reserved !== undefined) {
          throw new ApiError(
            'bad_request',
            `The proxied request carries "${reserved}" in its query string or form body. OAuth 1.0a protocol parameters travel only in the Authorization header the proxy signs (RFC 5849 §3.5): leave oauth_* parameters out.`,
          );
        }
        return oauth1Authorization(consumer, { method, url, formParams, token: { key, secret } });
      },
    };
  },

  templateValues: (credentials) => ({ ...credentials, oauthToken: credentials.oauth_token, oauthTokenSecret: credentials.oauth_token_secret }),

  show: {
    modern: modernView,
    dashboard: (credentials) => dashboardView({ oauthToken: credentials.oauth_token, oauthTokenSecret: credentials.oauth_token_secret }),
  },

  integrationInput: oauthAppInput('OAUTH1'),
  integrationCredentials: (integration) => ({ type: 'OAUTH1', client_id: integration.oauth_client_id, client_secret: integration.oauth_client_secret, scopes: integration.oauth_scopes, webhook_secret: null }),
};

/** The flow's OAuth 1.0a client is always the integration's: an end user's own app is OAuth 2 only. */
function legOf(flow: BrowserFlow): OAuth1Leg {
  return {
    template: flow.template,
    integration: flow.integration,
    hosts: flow.hosts,
    connectionConfig: flow.connectionConfig,
    client: { clientId: flow.client.clientId, clientSecret: flow.client.clientSecret, template: flow.template, timeoutMs: flow.timeoutMs },
  };
}
