import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { noteSecrets, secretFieldValues } from './secret-watch.js';

/**
 * A real OAuth 2.0 authorization server (oidc-provider) on 127.0.0.1 standing in for a provider. It enforces
 * PKCE, single-use codes, registered redirect URIs and refresh-token rotation. Login and consent are granted
 * automatically, or denied when `denyNext` is set.
 */
export interface AuthorizationServer {
  issuer: string;
  authorizationUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Successful refresh grants the server has issued. */
  refreshGrants(): number;
  /** Successful authorization-code grants. */
  codeGrants(): number;
  /** The next consent screen answers "deny". */
  denyNext(): void;
  /**
   * The next sign-in page waits, as a person reading it would, until `release()`: `reached` resolves when the
   * browser (or redirect walker) is on it.
   */
  holdNextSignIn(): { reached: Promise<void>; release: () => void };
  close(): Promise<void>;
}

export interface AuthorizationServerOptions {
  redirectUris: string[];
  accessTokenTtlSeconds?: number;
  clientId?: string;
  clientSecret?: string;
}

export async function startAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = options.clientId ?? 'test-client';
  const clientSecret = options.clientSecret ?? 'test-client-secret';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    scopes: ['openid', 'offline_access', 'read', 'write'],
    findAccount: async (_ctx: KoaContextWithOIDC, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    issueRefreshToken: async () => true,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: options.accessTokenTtlSeconds ?? 3600,
      AuthorizationCode: 60,
      Grant: 3600,
      Interaction: 600,
      RefreshToken: 86_400,
      Session: 3600,
      IdToken: 3600,
    },
    cookies: { keys: ['test-cookie-key'] },
  });
  let refreshGrants = 0;
  let codeGrants = 0;
  let deny = false;
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = (ctx.oidc.params as { grant_type?: string } | undefined)?.grant_type;
    if (grantType === 'refresh_token') refreshGrants++;
    if (grantType === 'authorization_code') codeGrants++;
  });
  // Everything secret that crosses the token endpoint, for the suite's search of the server logs.
  noteSecrets('authorization server', [clientSecret]);
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token') return;
    const params = (ctx.oidc?.params ?? {}) as Record<string, unknown>;
    noteSecrets('authorization server token request', [params['code'], params['code_verifier'], params['refresh_token'], params['client_secret']]);
    noteSecrets('authorization server token response', secretFieldValues(ctx.body));
  });
  const callback = provider.callback();
  let hold: { reached: () => void; released: Promise<void> } | undefined;
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      const held = hold;
      hold = undefined;
      held?.reached();
      void (held?.released ?? Promise.resolve()).then(() => finishInteraction(provider, req, res, () => {
        const result = deny;
        deny = false;
        return result;
      }));
      return;
    }
    callback(req, res);
  });
  return {
    issuer,
    authorizationUrl: `${issuer}/auth`,
    tokenUrl: `${issuer}/token`,
    clientId,
    clientSecret,
    refreshGrants: () => refreshGrants,
    codeGrants: () => codeGrants,
    denyNext: () => {
      deny = true;
    },
    holdNextSignIn: () => {
      let reached: () => void = () => undefined;
      let release: () => void = () => undefined;
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      hold = { reached, released };
      return { reached: reachedPromise, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function finishInteraction(provider: Provider, req: http.IncomingMessage, res: http.ServerResponse, shouldDeny: () => boolean): Promise<void> {
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: 'end-user-1' } }, { mergeWithLastSubmission: false });
      return;
    }
    if (shouldDeny()) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user declined the consent screen.' }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session?.accountId ?? 'end-user-1', clientId: String(details.params['client_id']) });
    if (!grant) throw new Error('The grant of the interaction disappeared.');
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } catch (error) {
    res.statusCode = 500;
    res.end(`interaction failed: ${(error as Error).message}`);
  }
}
