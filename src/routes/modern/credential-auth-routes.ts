import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { formConnects } from '../../credentials/registry.js';
import { ApiError } from '../../errors.js';
import type { ConnectCredentials } from '../../services/connect-authorizer.js';
import type { CredentialConnectService } from '../../services/credential-connect-service.js';
import { identifier, parseRequestPart } from '../request-parsing.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/**
 * The routes `@nangohq/frontend` posts to for connections without a popup (§2.5): API key, basic,
 * OAuth2 client credentials and unauthenticated, one per mode that has a form (src/credentials/). Public like
 * `/oauth/connect`: gated by a connect session token, or by connection id + HMAC.
 */
export function registerCredentialAuthRoutes(app: FastifyInstance, service: CredentialConnectService): void {
  for (const { mode, form } of formConnects()) {
    app.post(form.path, READS_QUERY, async (request) => {
      const { providerConfigKey } = parseRequestPart(z.object({ providerConfigKey: identifier }), request.params, 'invalid_uri_params');
      const { access, params } = parseAccessQuery(providerConfigKey, request);
      const body = parseRequestPart(form.body, request.body ?? {}, 'invalid_body');
      return service.connect(access, params, { mode, form, body });
    });
  }
}

const SINGLE_VALUED = new Set(['connection_id', 'public_key', 'hmac', 'connect_session_token', 'user_scope']);

function parseAccessQuery(providerConfigKey: string, request: FastifyRequest): { access: ConnectCredentials; params: Record<string, string> } {
  const single: Record<string, string> = {};
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new ApiError('invalid_query_params', `The query parameter "${key}" is given more than once.`);
    const param = /^params\[([^\]]{1,100})\]$/.exec(key);
    if (param) params[param[1] ?? ''] = value;
    else if (SINGLE_VALUED.has(key)) single[key] = value;
    else if (!key.startsWith('credentials[') && !key.startsWith('authorization_params[')) throw new ApiError('invalid_query_params', `Unknown query parameter "${key}".`);
  }
  return {
    access: {
      providerConfigKey,
      connectionId: single['connection_id'] || undefined,
      hmac: single['hmac'],
      publicKey: single['public_key'],
      connectSessionToken: single['connect_session_token'],
    },
    params,
  };
}
