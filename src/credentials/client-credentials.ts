import type http from 'node:http';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { ClientCertificate, ClientTlsOptions } from '../net/client-tls.js';
import { ProviderError, requestToken } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams } from '../providers/template-params.js';
import { clientCertificateInput, clientCertificateProblem, storedClientCertificate, withoutPrivateKey } from './client-certificate.js';
import { formConnect, type CredentialMode } from './credential-mode.js';
import { dashboardView, expiresAfter, expiryOf, modernView } from './credential-values.js';
import { renewalParams, renewalTarget } from './provider-calls.js';

/**
 * OAuth 2 client credentials (RFC 6749 §4.4): the server exchanges a client id and secret (the end user's, or
 * the integration's) for a token, and renews it with the same client, which the credentials keep. A provider
 * that requires mutual TLS (`require_client_certificate`) also gets the connection's client certificate, kept
 * with the client (client-certificate.ts), on the token request and every proxied call.
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
    const tokenParams = templateParams(template, 'token_params', connectionConfig);
    if (tokenParams.missing.length > 0) throw new ApiError('invalid_query_params', missingParamsMessage('token_params', tokenParams.missing));
    const agent = context.hosts.agentFor(template, template.token_url ?? '', parseTokenUrl(url), integration);
    const tls = context.hosts.clientTls(certificate);
    return fetchClientCredentialsToken({
      url, agent, certificate, tls, clientId, clientSecret, scopes: integration.oauth_scopes, extraParams: tokenParams.params, template, timeoutMs: context.timeoutMs, now: context.now,
    });
  }),

  renewal: {
    isRenewable: () => true,
    async renew(previous, context) {
      const { url, agent } = renewalTarget(context, context.template.token_url ?? '');
      const certificate = storedClientCertificate(previous);
      if (context.template.require_client_certificate && !certificate) {
        throw new ProviderError('garbage', 'The provider requires a TLS client certificate, and this connection has none; connect again with client_certificate and client_private_key.');
      }
      return fetchClientCredentialsToken({
        url,
        agent,
        certificate,
        tls: context.hosts.clientTls(certificate),
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
    const clientCertificate = storedClientCertificate(credentials);
    if (context.template.require_client_certificate && !clientCertificate) {
      throw new ApiError('bad_request', `The provider requires a TLS client certificate, and the connection "${context.connectionId}" has none; connect it again with client_certificate and client_private_key.`);
    }
    return { kind: 'headers', headers: { authorization: `Bearer ${credentials.token}` }, ...(clientCertificate ? { clientCertificate } : {}) };
  },

  // The private key is no template value: nothing may put it in a URL or a header.
  templateValues: (credentials) => ({ ...withoutPrivateKey(credentials), accessToken: credentials.token }),

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
  template?: Pick<ProviderTemplate, 'authorization_method' | 'body_format' | 'token_request_auth_method'>;
  timeoutMs: number;
  now: Date;
}): Promise<ClientCredentials> {
  const scope = (request.scopes ?? '').split(',').map((item) => item.trim()).filter(Boolean).join(' ');
  const raw = await requestToken({
    url: request.url,
    agent: request.agent,
    tls: request.tls,
    params: { ...(request.extraParams ?? {}), grant_type: 'client_credentials', ...(scope ? { scope } : {}) },
    clientId: request.clientId,
    clientSecret: request.clientSecret,
    template: request.template ?? {},
    timeoutMs: request.timeoutMs,
  });
  const token = typeof raw['access_token'] === 'string' ? raw['access_token'] : undefined;
  if (!token) throw new ProviderError('garbage', 'The provider answered the client credentials grant without an access_token.');
  const expiresAt = expiresAfter(request.now, raw['expires_in']);
  const certificate = request.certificate ? { client_certificate: request.certificate.certificate, client_private_key: request.certificate.privateKey } : {};
  return { type: 'OAUTH2_CC', token, client_id: request.clientId, client_secret: request.clientSecret, ...certificate, ...(expiresAt ? { expires_at: expiresAt } : {}), raw };
}

function parseTokenUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ApiError('invalid_query_params', 'The provider\'s token_url is not a valid URL once the connection parameters are filled in.');
  }
}
