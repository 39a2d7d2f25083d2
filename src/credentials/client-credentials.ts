import type http from 'node:http';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { ClientCertificate, ClientTlsOptions } from '../net/client-tls.js';
import { tokenObjectAt } from '../oauth/flow-metadata.js';
import { ProviderError, requestToken } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams } from '../providers/template-params.js';
import { followTokenAnswer } from '../oauth/token-answer-follow-up.js';
import { clientCertificateInput, clientCertificateProblem, storedClientCertificate, withoutPrivateKey } from './client-certificate.js';
import { formConnect, type CredentialMode, type ProviderCallContext } from './credential-mode.js';
import { dashboardView, expiresAfter, expiryOf, KEPT_FROM_ANSWERS, modernView, stringField } from './credential-values.js';
import { renewalParams, renewalTarget } from './provider-calls.js';

/**
 * OAuth 2 client credentials (RFC 6749 §4.4): the server exchanges a client id and secret (the end user's, or
 * the integration's) for a token, and renews it with the same client, which the credentials keep. A template
 * may name another grant the server makes with the client alone plus what the connection supplies (SAP
 * Concur's password grant with a company's request token, `token_params.grant_type`): such a grant's refresh
 * token is kept, and renewals use it. A provider that requires mutual TLS (`require_client_certificate`) also
 * gets the connection's client certificate, kept with the client (client-certificate.ts), on the token request
 * and every proxied call.
 */
const ClientCredentialsStored = z.looseObject({
  type: z.literal('OAUTH2_CC'),
  token: z.string(),
  expires_at: z.string().nullish(),
  client_id: z.string(),
  client_secret: z.string(),
  client_certificate: z.string().optional(),
  client_private_key: z.string().optional(),
  raw: z.record(z.string(), z.unknown()).nullish(),
  /** Only from a grant the template names other than client_credentials. */
  refresh_token: z.string().nullish(),
  /** The template's own credential fields, as the connection supplied them (sealed with the rest). */
  connection_credentials: z.record(z.string(), z.string()).optional(),
  ...KEPT_FROM_ANSWERS,
});
export type ClientCredentials = z.infer<typeof ClientCredentialsStored>;

/** The certificate fields, for providers that require mutual TLS (`require_client_certificate`). */
const CERTIFICATE_FIELDS = {
  client_certificate: z.string().optional().meta({ description: 'The PEM client certificate the provider signed, for a provider that requires mutual TLS (ADP).' }),
  client_private_key: z.string().optional().meta({ description: 'The certificate\'s PEM private key: stored encrypted and never returned by any read.' }),
};

const ModernImport = z
  .object({
    type: z.literal('OAUTH2_CC'),
    token: z.string().min(1),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    client_id: z.string(),
    client_secret: z.string(),
    ...CERTIFICATE_FIELDS,
    raw: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.client_certificate === undefined && input.client_private_key === undefined) return;
    const problem = clientCertificateProblem({ certificate: input.client_certificate ?? '', privateKey: input.client_private_key ?? '' }, new Date());
    if (problem) ctx.addIssue({ code: 'custom', path: [input.client_certificate === undefined || problem.startsWith('client_certificate') ? 'client_certificate' : 'client_private_key'], message: problem });
  })
  .transform(
    (input): ClientCredentials => ({
      type: 'OAUTH2_CC',
      token: input.token,
      client_id: input.client_id,
      client_secret: input.client_secret,
      ...(input.client_certificate !== undefined && input.client_private_key !== undefined ? { client_certificate: input.client_certificate, client_private_key: input.client_private_key } : {}),
      ...(input.expires_at ? { expires_at: new Date(input.expires_at).toISOString() } : {}),
      raw: input.raw ?? {},
    }),
  );

const ConnectBody = z.object({ client_id: z.string().min(1).optional(), client_secret: z.string().min(1).optional(), ...CERTIFICATE_FIELDS }).strict();

export const clientCredentialsMode: CredentialMode<'OAUTH2_CC', ClientCredentials> = {
  mode: 'OAUTH2_CC',
  stored: ClientCredentialsStored,
  modernImport: ModernImport,

  form: formConnect('/oauth2/auth/:providerConfigKey', ConnectBody, async (body, context) => {
    const { template, integration, connectionConfig } = context;
    const clientId = body.client_id ?? integration.oauth_client_id;
    const clientSecret = body.client_secret ?? integration.oauth_client_secret;
    if (!clientId || !clientSecret) throw new ApiError('invalid_body', 'client_id and client_secret are required (in the body or on the integration).');
    const certificate = clientCertificateInput(template, body, integration.provider, context.now);
    const { value: url, missing } = interpolate(template.token_url ?? '', { connectionConfig });
    if (missing.length > 0) throw new ApiError('invalid_query_params', `The token URL needs the connection parameters ${missing.join(', ')}; pass them as params[...].`);
    const secrets = context.connectionCredentials ?? {};
    const tokenParams = templateParams(template, 'token_params', connectionConfig, secrets);
    if (tokenParams.missing.length > 0) throw new ApiError('invalid_query_params', missingParamsMessage('token_params', tokenParams.missing));
    const agent = context.hosts.agentFor(template, template.token_url ?? '', parseTokenUrl(url), integration);
    const tls = context.hosts.clientTls(certificate);
    const granted = await fetchClientCredentialsToken({
      url, agent, certificate, tls, clientId, clientSecret, scopes: integration.oauth_scopes, extraParams: tokenParams.params, template, timeoutMs: context.timeoutMs, now: context.now,
    });
    const withSecrets = Object.keys(secrets).length > 0 ? { ...granted, connection_credentials: secrets } : granted;
    return { ...withSecrets, ...(await followTokenAnswer(granted.raw ?? {}, granted.token, context)) };
  }),

  renewal: {
    isRenewable: () => true,
    async renew(previous, context) {
      const secrets = previous.connection_credentials ?? {};
      const certificate = storedClientCertificate(previous);
      if (context.template.require_client_certificate && !certificate) {
        throw new ProviderError('garbage', 'The provider requires a TLS client certificate, and this connection has none; connect again with client_certificate and client_private_key.');
      }
      const tls = context.hosts.clientTls(certificate);
      const renewed = previous.refresh_token
        ? await refreshGrantedToken(previous, context, certificate, tls)
        : await fetchClientCredentialsToken({
          ...renewalTarget(context, context.template.token_url ?? ''),
          certificate,
          tls,
          clientId: previous.client_id,
          clientSecret: previous.client_secret,
          scopes: context.integration.oauth_scopes,
          extraParams: renewalParams(context.template, 'token_params', context.connectionConfig, secrets),
          template: context.template,
          timeoutMs: context.timeoutMs,
          now: context.now,
        });
      const kept = await followTokenAnswer(renewed.raw ?? {}, renewed.token, context, previous);
      return { ...renewed, ...(previous.connection_credentials ? { connection_credentials: previous.connection_credentials } : {}), ...kept };
    },
  },

  expiresAt: (credentials) => expiryOf(credentials.expires_at ?? undefined),

  authorise(credentials, context) {
    if (credentials.token === '') throw new ApiError('missing_access_token', `The connection "${context.connectionId}" has no client-credentials token to send.`);
    const clientCertificate = storedClientCertificate(credentials);
    if (context.template.require_client_certificate && !clientCertificate) {
      throw new ApiError('bad_request', `The provider requires a TLS client certificate, and the connection "${context.connectionId}" has none; connect it again with client_certificate and client_private_key.`);
    }
    return { kind: 'headers', headers: { authorization: `Bearer ${credentials.token}` }, ...(clientCertificate ? { clientCertificate } : {}) };
  },

  // The private key is no template value: nothing may put it in a URL or a header.
  templateValues: (credentials) => ({ ...withoutPrivateKey(credentials), ...credentials.post_token_values, accessToken: credentials.token }),

  show: {
    modern: (credentials, options) => modernView(withoutPrivateKey(credentials), options),
    dashboard: (credentials) => dashboardView({ accessToken: credentials.token, expiresAt: credentials.expires_at ?? null }),
  },

  integrationCredentials: () => null,
};

/** The client credentials grant (RFC 6749 §4.4): when the connection is made, and to renew its token. */
async function fetchClientCredentialsToken(request: {
  url: string;
  /** The outbound host guard's agent when the connection chose the token URL's host. */
  agent?: http.Agent | undefined;
  /** The connection's client certificate (kept with the new credentials) and the TLS options that present it. */
  certificate?: ClientCertificate | undefined;
  tls?: ClientTlsOptions | undefined;
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
  const grantType = request.extraParams?.['grant_type'] ?? 'client_credentials';
  const raw = await requestToken({
    url: request.url,
    agent: request.agent,
    tls: request.tls,
    params: { ...(request.extraParams ?? {}), grant_type: grantType, ...(scope ? { scope } : {}) },
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
  // A client credentials grant is repeated to renew; another grant's refresh token renews it instead.
  const refreshToken = grantType === 'client_credentials' ? undefined : stringField(answer['refresh_token']);
  return { type: 'OAUTH2_CC', token, client_id: request.clientId, client_secret: request.clientSecret, ...certificateFields(request.certificate), ...(expiresAt ? { expires_at: expiresAt } : {}), raw, ...(refreshToken ? { refresh_token: refreshToken } : {}) };
}

/**
 * The refresh grant (RFC 6749 §6) for a token a template's own grant issued, at `refresh_url` (which may be the
 * address the provider named, `${apiBaseUrl}`) or the token URL. A rotated refresh token replaces the old one.
 */
async function refreshGrantedToken(
  previous: ClientCredentials,
  context: ProviderCallContext,
  certificate: ClientCertificate | undefined,
  tls: ClientTlsOptions | undefined,
): Promise<ClientCredentials> {
  const { template } = context;
  const { url, agent } = renewalTarget(context, template.refresh_url ?? template.token_url ?? '', previous.api_base_url);
  const { grant_type: _ignored, ...refreshParams } = renewalParams(template, 'refresh_params', context.connectionConfig, previous.connection_credentials);
  const raw = await requestToken({
    url,
    agent,
    tls,
    params: { ...refreshParams, grant_type: 'refresh_token', refresh_token: previous.refresh_token ?? '' },
    clientId: previous.client_id,
    clientSecret: previous.client_secret,
    template,
    timeoutMs: context.timeoutMs,
  });
  // The refresh answers in the same shape as the grant: a template's token_response_path applies to both.
  const path = template.token_response_path;
  const answer = path ? tokenObjectAt(raw, path) : raw;
  const token = stringField(answer['access_token']);
  if (!token) throw new ProviderError('garbage', `The provider answered the refresh without an access_token${path ? ` in "${path}"` : ''}.`);
  const expiresAt = expiresAfter(context.now, answer['expires_in']);
  const refreshToken = stringField(answer['refresh_token']) ?? previous.refresh_token ?? undefined;
  return { type: 'OAUTH2_CC', token, client_id: previous.client_id, client_secret: previous.client_secret, ...certificateFields(certificate), ...(expiresAt ? { expires_at: expiresAt } : {}), raw, ...(refreshToken ? { refresh_token: refreshToken } : {}) };
}

/** The certificate kept with credentials a grant issued, for the next renewal and the proxy. */
function certificateFields(certificate: ClientCertificate | undefined): Pick<ClientCredentials, 'client_certificate' | 'client_private_key'> {
  return certificate ? { client_certificate: certificate.certificate, client_private_key: certificate.privateKey } : {};
}

function parseTokenUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ApiError('invalid_query_params', 'The provider\'s token_url is not a valid URL once the connection parameters are filled in.');
  }
}
