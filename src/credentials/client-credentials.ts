import type http from 'node:http';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { tokenObjectAt } from '../oauth/flow-metadata.js';
import { ProviderError, requestToken } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams } from '../providers/template-params.js';
import { formConnect, type CredentialMode } from './credential-mode.js';
import { dashboardView, expiresAfter, expiryOf, modernView } from './credential-values.js';
import { renewalParams, renewalTarget } from './provider-calls.js';

/**
 * OAuth 2 client credentials (RFC 6749 §4.4): the server exchanges a client id and secret (the end user's, or
 * the integration's) for a token, and renews it with the same client, which the credentials keep.
 */
const ClientCredentialsStored = z.looseObject({
  type: z.literal('OAUTH2_CC'),
  token: z.string(),
  expires_at: z.string().nullish(),
  client_id: z.string(),
  client_secret: z.string(),
  raw: z.record(z.string(), z.unknown()).nullish(),
});
export type ClientCredentials = z.infer<typeof ClientCredentialsStored>;

const ModernImport = z
  .object({ type: z.literal('OAUTH2_CC'), token: z.string().min(1), expires_at: z.iso.datetime({ offset: true }).optional(), client_id: z.string(), client_secret: z.string(), raw: z.record(z.string(), z.unknown()).optional() })
  .strict()
  .transform(
    (input): ClientCredentials => ({
      type: 'OAUTH2_CC',
      token: input.token,
      client_id: input.client_id,
      client_secret: input.client_secret,
      ...(input.expires_at ? { expires_at: new Date(input.expires_at).toISOString() } : {}),
      raw: input.raw ?? {},
    }),
  );

const ConnectBody = z.object({ client_id: z.string().min(1).optional(), client_secret: z.string().min(1).optional() }).strict();

export const clientCredentialsMode: CredentialMode<'OAUTH2_CC', ClientCredentials> = {
  mode: 'OAUTH2_CC',
  stored: ClientCredentialsStored,
  modernImport: ModernImport,

  form: formConnect('/oauth2/auth/:providerConfigKey', ConnectBody, async (body, context) => {
    const { template, integration, connectionConfig } = context;
    const clientId = body.client_id ?? integration.oauth_client_id;
    const clientSecret = body.client_secret ?? integration.oauth_client_secret;
    if (!clientId || !clientSecret) throw new ApiError('invalid_body', 'client_id and client_secret are required (in the body or on the integration).');
    const { value: url, missing } = interpolate(template.token_url ?? '', { connectionConfig });
    if (missing.length > 0) throw new ApiError('invalid_query_params', `The token URL needs the connection parameters ${missing.join(', ')}; pass them as params[...].`);
    const tokenParams = templateParams(template, 'token_params', connectionConfig);
    if (tokenParams.missing.length > 0) throw new ApiError('invalid_query_params', missingParamsMessage('token_params', tokenParams.missing));
    const agent = context.hosts.agentFor(template, template.token_url ?? '', parseTokenUrl(url), integration);
    return fetchClientCredentialsToken({
      url, agent, clientId, clientSecret, scopes: integration.oauth_scopes, extraParams: tokenParams.params, template, timeoutMs: context.timeoutMs, now: context.now,
    });
  }),

  renewal: {
    isRenewable: () => true,
    async renew(previous, context) {
      const { url, agent } = renewalTarget(context, context.template.token_url ?? '');
      return fetchClientCredentialsToken({
        url,
        agent,
        clientId: previous.client_id,
        clientSecret: previous.client_secret,
        scopes: context.integration.oauth_scopes,
        extraParams: renewalParams(context.template, 'token_params', context.connectionConfig),
        template: context.template,
        timeoutMs: context.timeoutMs,
        now: context.now,
      });
    },
  },

  expiresAt: (credentials) => expiryOf(credentials.expires_at ?? undefined),

  authorise(credentials, context) {
    if (credentials.token === '') throw new ApiError('missing_access_token', `The connection "${context.connectionId}" has no client-credentials token to send.`);
    return { kind: 'headers', headers: { authorization: `Bearer ${credentials.token}` } };
  },

  templateValues: (credentials) => ({ ...credentials, accessToken: credentials.token }),

  show: {
    modern: modernView,
    dashboard: (credentials) => dashboardView({ accessToken: credentials.token, expiresAt: credentials.expires_at ?? null }),
  },

  integrationCredentials: () => null,
};

/** The client credentials grant (RFC 6749 §4.4): when the connection is made, and to renew its token. */
async function fetchClientCredentialsToken(request: {
  url: string;
  /** The outbound host guard's agent when the connection chose the token URL's host. */
  agent?: http.Agent | undefined;
  clientId: string;
  clientSecret: string;
  scopes: string | null;
  /** The template's token_params (for example Auth0's `audience`). */
  extraParams?: Record<string, string>;
  template?: Pick<ProviderTemplate, 'authorization_method' | 'body_format' | 'token_request_auth_method' | 'token_param_names' | 'token_response_success' | 'token_response_path'>;
  timeoutMs: number;
  now: Date;
}): Promise<ClientCredentials> {
  const scope = (request.scopes ?? '').split(',').map((item) => item.trim()).filter(Boolean).join(' ');
  const raw = await requestToken({
    url: request.url,
    agent: request.agent,
    params: { ...(request.extraParams ?? {}), grant_type: 'client_credentials', ...(scope ? { scope } : {}) },
    clientId: request.clientId,
    clientSecret: request.clientSecret,
    template: request.template ?? {},
    timeoutMs: request.timeoutMs,
  });
  const path = request.template?.token_response_path;
  const answer = path ? tokenObjectAt(raw, path) : raw;
  const token = typeof answer['access_token'] === 'string' ? answer['access_token'] : undefined;
  if (!token) throw new ProviderError('garbage', `The provider answered the client credentials grant without an access_token${path ? ` in "${path}"` : ''}.`);
  const expiresAt = expiresAfter(request.now, answer['expires_in']);
  return { type: 'OAUTH2_CC', token, client_id: request.clientId, client_secret: request.clientSecret, ...(expiresAt ? { expires_at: expiresAt } : {}), raw };
}

function parseTokenUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ApiError('invalid_query_params', 'The provider\'s token_url is not a valid URL once the connection parameters are filled in.');
  }
}
