import { createPrivateKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { FlowError } from '../oauth/flow-error.js';
import { callProvider, ProviderError } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { BrowserFlow } from './browser-connect.js';
import type { CredentialMode, IntegrationClientInput, ProviderCallContext } from './credential-mode.js';
import { dashboardView, expiryOf, modernView, stringField } from './credential-values.js';

/**
 * A GitHub App (`APP`). The integration holds the app's id, its public link (slug) and its private key (sealed as
 * a client secret); an end user installs the app, and the connection keeps the installation's id. Its token is
 * an installation access token (one hour), minted by the server with a JWT signed by the app's key and
 * renewed the same way, so `renewal` is always possible while the integration keeps its key.
 *
 * GitHub's documented rules (docs.github.com, "Generating a JSON Web Token (JWT) for a GitHub App" and
 * "Create an installation access token for an app"): RS256; `iat` 60 s in the past against clock drift; `exp`
 * at most 10 minutes ahead; `iss` the app's id; sent as a Bearer token to
 * `POST /app/installations/{installation_id}/access_tokens`, which answers 201 `{token, expires_at, …}`.
 */
const AppStored = z.looseObject({
  type: z.literal('APP'),
  access_token: z.string(),
  expires_at: z.string().nullish(),
  /** Nango keeps it in the connection's configuration; imported rows may carry it only there. */
  installation_id: z.string().optional(),
  raw: z.record(z.string(), z.unknown()).nullish(),
});
export type AppCredentials = z.infer<typeof AppStored>;

const INSTALLATION_ID = /^[1-9]\d{0,19}$/;
const APP_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$/i;
/** GitHub: "no more than 10 minutes into the future"; a little under, so a slow request still arrives in time. */
const JWT_LIFETIME_S = 9 * 60;
const CLOCK_DRIFT_S = 60;

const ModernImport = z
  .object({
    type: z.literal('APP'),
    access_token: z.string().min(1),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    installation_id: z.union([z.string().regex(INSTALLATION_ID), z.number().int().positive()]).optional(),
    raw: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .transform(
    (input): AppCredentials => ({
      type: 'APP',
      access_token: input.access_token,
      ...(input.expires_at ? { expires_at: new Date(input.expires_at).toISOString() } : {}),
      ...(input.installation_id !== undefined ? { installation_id: String(input.installation_id) } : {}),
      raw: input.raw ?? {},
    }),
  );

/** Nango's body: `{type: 'APP', app_id, app_link, private_key}`; the link may be `https://github.com/apps/<slug>` or the slug. */
const IntegrationInput = z
  .object({
    type: z.literal('APP'),
    app_id: z.union([z.string().trim().min(1, 'must be the GitHub App\'s id (its settings page shows "App ID")'), z.number().int().positive()]),
    app_link: z.string().trim().min(1).refine((link) => appSlugOf(link) !== null, 'must be the app\'s public link (https://github.com/apps/<slug>) or its slug'),
    private_key: z.string().refine(isPrivateKeyPem, 'must be the PEM of the GitHub App\'s private key ("-----BEGIN RSA PRIVATE KEY-----…"), as downloaded from the app\'s settings'),
  })
  .strict()
  .transform((body): IntegrationClientInput => ({ clientId: String(body.app_id), clientSecret: body.private_key, appLink: body.app_link }));

export const githubAppMode: CredentialMode<'APP', AppCredentials> = {
  mode: 'APP',
  stored: AppStored,
  modernImport: ModernImport,

  browser: {
    acceptsClientOverride: false,
    prepare: (flow) => ({ authorizationUrl: installationPage(flow) }),
    async start(flow, start) {
      const session = await start.openSession({ codeVerifier: null });
      const url = new URL(start.authorizationUrl);
      url.searchParams.set('state', session.state);
      return url.toString();
    },
    async complete(flow, callback) {
      const installationId = assertInstallationGranted(callback.query);
      try {
        const credentials = await mintInstallationToken(flow, installationId);
        return { credentials, raw: credentials.raw ?? {} };
      } catch (error) {
        if (error instanceof ProviderError) throw new FlowError('token_err', error.publicMessage, 'provider_failed', error);
        throw error;
      }
    },
  },

  renewal: {
    isRenewable: () => true,
    async renew(previous, context) {
      const installationId = previous.installation_id ?? stringField(String(context.connectionConfig['installation_id'] ?? ''));
      if (!installationId) throw new ProviderError('garbage', 'The connection does not say which installation of the GitHub App it uses (installation_id); have the end user install the app again.');
      return mintInstallationToken(context, installationId);
    },
  },

  expiresAt: (credentials) => expiryOf(credentials.expires_at ?? undefined),

  authorise(credentials, context) {
    if (credentials.access_token === '') throw new ApiError('missing_access_token', `The connection "${context.connectionId}" has no installation token to send.`);
    return { kind: 'headers', headers: { authorization: `Bearer ${credentials.access_token}` } };
  },

  templateValues: (credentials) => ({ ...credentials, accessToken: credentials.access_token }),

  show: {
    modern: modernView,
    dashboard: (credentials) => dashboardView({ accessToken: credentials.access_token, expiresAt: credentials.expires_at ?? null }),
  },

  integrationInput: IntegrationInput,
  // The private key is never read back: whoever holds it can act as the app on every installation.
  integrationCredentials: (integration) => ({ type: 'APP', app_id: integration.oauth_client_id, app_link: integration.app_link }),
};

/** `https://github.com/apps/<slug>` (`/github-apps/<slug>` on Enterprise Server) or the slug alone → the slug; null for anything else. The host is always the template's. */
function appSlugOf(link: string): string | null {
  const text = link.trim();
  if (APP_SLUG.test(text)) return text;
  try {
    const match = /^\/(?:github-)?apps\/([^/]+)\/?$/.exec(new URL(text).pathname);
    return match?.[1] && APP_SLUG.test(match[1]) ? match[1] : null;
  } catch {
    return null;
  }
}

function isPrivateKeyPem(text: string): boolean {
  if (!text.includes('-----BEGIN')) return false;
  try {
    return createPrivateKey(text).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

/** The template's installation page (`…/apps/${app_slug}/installations/new`) for the integration's app. */
function installationPage(flow: BrowserFlow): string {
  const slug = appSlugOf(flow.integration.app_link ?? '');
  if (!slug) throw new FlowError('provider_config_err', `The integration "${flow.integration.unique_key}" has no app link; set its app_link to the GitHub App's public link.`);
  const { value, missing } = interpolate(flow.template.authorization_url ?? '', { connectionConfig: flow.connectionConfig, credentials: { app_slug: slug } });
  if (missing.length > 0) throw new FlowError('url_param_err', `The provider's authorization_url needs ${missing.join(', ')}.`);
  return new URL(value).toString();
}

/**
 * GitHub sends the browser to the app's setup URL with `installation_id` and `setup_action`; `request` means an
 * organisation owner has yet to approve the installation, so there is nothing to connect to yet.
 */
function assertInstallationGranted(query: Record<string, string>): string {
  if (query['setup_action'] === 'request') {
    throw new FlowError('installation_pending', 'The installation was requested and waits for an owner of the organisation to approve it; connect again once it is approved.', 'refused');
  }
  const installationId = query['installation_id'];
  if (!installationId) throw new FlowError('callback_err', 'GitHub sent the browser back without an installation_id; set the app\'s Setup URL to this server\'s callback URL and install the app again.');
  if (!INSTALLATION_ID.test(installationId)) throw new FlowError('callback_err', 'The installation_id GitHub sent back is not a number.');
  return installationId;
}

/** A JWT that proves the server holds the app's private key (RS256, iss = app id, iat 60 s back, exp 9 min ahead). */
async function appJwt(appId: string, privateKey: KeyObject, now: Date): Promise<string> {
  // jose is loaded by the first GitHub App token, not by every start.
  const { SignJWT } = await import('jose');
  const issuedAt = Math.floor(now.getTime() / 1000) - CLOCK_DRIFT_S;
  return new SignJWT({}).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).setIssuer(appId).setIssuedAt(issuedAt).setExpirationTime(issuedAt + CLOCK_DRIFT_S + JWT_LIFETIME_S).sign(privateKey);
}

/** `POST /app/installations/{installation_id}/access_tokens` with the app's JWT; GitHub answers 201 `{token, expires_at}`. */
async function mintInstallationToken(context: ProviderCallContext, installationId: string): Promise<AppCredentials> {
  const { integration, template } = context;
  if (!integration.oauth_client_id || !integration.oauth_client_secret) {
    throw new ProviderError('garbage', `The integration "${integration.unique_key}" has no app id or private key; set them (app_id, private_key).`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(integration.oauth_client_secret);
  } catch {
    throw new ProviderError('garbage', `The private key of integration "${integration.unique_key}" is not a PEM private key; set the one downloaded from the GitHub App's settings.`);
  }
  const { value: url, missing } = interpolate(template.token_url ?? '', { connectionConfig: context.connectionConfig, credentials: { installation_id: installationId } });
  if (missing.length > 0) throw new ProviderError('garbage', `The provider's token_url needs ${missing.join(', ')}.`);
  const target = new URL(url);
  const response = await callProvider(
    {
      url: target,
      method: 'POST',
      headers: { accept: 'application/vnd.github+json', authorization: `Bearer ${await appJwt(integration.oauth_client_id, key, context.now)}`, 'x-github-api-version': '2022-11-28', 'user-agent': 'custody-oauth-server' },
      timeoutMs: context.timeoutMs,
      maxResponseBytes: 1024 * 1024,
      agent: context.hosts.agentFor(template, template.token_url ?? '', target, integration),
    },
    "GitHub's installation token endpoint",
  );
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(response.body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // an answer that is not JSON is refused below by its status or its missing token
  }
  if (response.status !== 201 && response.status !== 200) {
    const message = stringField(body['message']) ?? `HTTP ${response.status}`;
    throw new ProviderError('rejected', `GitHub refused an installation token for installation ${installationId}: ${message}.`, { status: response.status, error_description: message });
  }
  const token = stringField(body['token']);
  const expiresAt = expiryOf(stringField(body['expires_at']));
  if (!token || !expiresAt) throw new ProviderError('garbage', 'GitHub answered the installation token request without a token and its expires_at.', { status: response.status });
  const { token: _secret, ...raw } = body;
  return { type: 'APP', access_token: token, expires_at: expiresAt.toISOString(), installation_id: installationId, raw };
}
