import type { FastifyInstance, FastifyReply } from 'fastify';
import { renderCallbackPage } from '../../oauth/callback-page.js';
import { FlowError } from '../../services/flow-error.js';
import type { ConnectRequest, OAuthFlowService } from '../../services/oauth-flow-service.js';

/**
 * The two public routes of the popup flow. Both answer HTML: the popup shows it to a person.
 * No secret key: the popup runs in the end user's browser (HMAC or a public key guard the start instead).
 */
export function registerOAuthRoutes(app: FastifyInstance, flows: OAuthFlowService): void {
  app.get('/oauth/connect/:providerConfigKey', async (request, reply) => {
    const { providerConfigKey } = request.params as { providerConfigKey: string };
    const query = request.query as Record<string, unknown>;
    const wsClientId = typeof query['ws_client_id'] === 'string' ? query['ws_client_id'] : undefined;
    const protocol = query['public_key'] !== undefined || query['connect_session_token'] !== undefined ? 'modern' : 'seed';
    try {
      const connect = parseConnectQuery(providerConfigKey, query);
      const location = await flows.start(connect);
      return await reply.redirect(location, 302);
    } catch (error) {
      const flowError = error instanceof FlowError ? error : new FlowError('unknown_err', 'An unexpected error stopped the authorisation.', 500);
      return sendPage(reply, flowError.status, {
        outcome: 'error',
        protocol: wsClientId ? protocol : 'legacy',
        title: 'The connection could not be started',
        message: flowError.message,
        providerConfigKey,
        connectionId: typeof query['connection_id'] === 'string' ? query['connection_id'] : '',
        errorType: flowError.type,
      });
    }
  });

  app.get('/oauth/callback', async (request, reply) => {
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
      if (typeof value === 'string') query[key] = value;
    }
    const outcome = await flows.complete(query);
    return sendPage(reply, outcome.status, outcome);
  });
}

function sendPage(reply: FastifyReply, status: number, page: Parameters<typeof renderCallbackPage>[0]): FastifyReply {
  return reply
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .send(renderCallbackPage(page));
}

const SINGLE_VALUED = new Set(['connection_id', 'public_key', 'hmac', 'ws_client_id', 'connect_session_token', 'user_scope']);

/** `params[x]` and `authorization_params[x]` arrive as flat keys; anything unknown is refused by name. */
function parseConnectQuery(providerConfigKey: string, query: Record<string, unknown>): ConnectRequest {
  const single: Record<string, string> = {};
  const params: Record<string, string> = {};
  const authorizationParams: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (typeof value !== 'string') throw new FlowError('invalid_query_params', `The query parameter "${key}" is given more than once.`);
    if (value.length > 2000) throw new FlowError('invalid_query_params', `The query parameter "${key}" is too long.`);
    const family = /^(params|authorization_params)\[([^\]]{1,100})\]$/.exec(key);
    if (family) {
      (family[1] === 'params' ? params : authorizationParams)[family[2] ?? ''] = value;
    } else if (SINGLE_VALUED.has(key)) {
      single[key] = value;
    } else {
      throw new FlowError('invalid_query_params', `Unknown query parameter "${key}".`);
    }
  }
  if (providerConfigKey.length > 255) throw new FlowError('invalid_uri_params', 'The integration key is longer than 255 characters.');
  if (single['connection_id'] !== undefined && (single['connection_id'].length > 255 || /[\u0000-\u001f]/.test(single['connection_id']))) {
    throw new FlowError('invalid_query_params', 'The connection_id must be at most 255 characters, without control characters.');
  }
  return {
    providerConfigKey,
    connectionId: single['connection_id'] || undefined,
    params,
    authorizationParams,
    userScopes: (single['user_scope'] ?? '').split(',').map((scope) => scope.trim()).filter(Boolean),
    hmac: single['hmac'],
    publicKey: single['public_key'],
    connectSessionToken: single['connect_session_token'],
    wsClientId: single['ws_client_id'],
  };
}
