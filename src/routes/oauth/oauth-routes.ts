import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { renderCallbackPage } from '../../oauth/callback-page.js';
import { FlowError } from '../../services/flow-error.js';
import type { ConnectRequest, OAuthFlowService } from '../../services/oauth-flow-service.js';
import { describeZodError, identifier } from '../request-parsing.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/**
 * The two public routes of the popup flow. Both answer HTML: the popup shows it to a person.
 * No secret key: the popup runs in the end user's browser (HMAC or a public key guard the start instead).
 */
export function registerOAuthRoutes(app: FastifyInstance, flows: OAuthFlowService): void {
  app.get('/oauth/connect/:providerConfigKey', READS_QUERY, async (request, reply) => {
    const readable = readableParts(request.params, request.query);
    const page = (error: FlowError) =>
      sendPage(reply, error.status, {
        outcome: 'error',
        protocol: readable.wsClientIds.length > 0 ? readable.protocol : 'legacy',
        title: 'The connection could not be started',
        message: error.message,
        providerConfigKey: readable.providerConfigKey,
        connectionId: readable.connectionId,
        errorType: error.type,
      });
    let connect: ConnectRequest;
    try {
      connect = parseConnectRequest(request.params, request.query);
    } catch (error) {
      if (!(error instanceof FlowError)) throw error;
      // The flow never started, so the service has not told the waiting page; without this the SDK would wait forever.
      await flows.reportStartFailure(readable.wsClientIds, readable.providerConfigKey, readable.connectionId, error);
      return page(error);
    }
    try {
      return await reply.redirect(await flows.start(connect), 302);
    } catch (error) {
      return page(error instanceof FlowError ? error : new FlowError('unknown_err', 'An unexpected error stopped the authorisation.', 500));
    }
  });

  app.get('/oauth/callback', READS_QUERY, async (request, reply) => {
    // A provider may add any parameter; only single values mean something (a repeated `state` is no state).
    const parsed = CallbackQuery.safeParse(request.query);
    const outcome = await flows.complete(parsed.success ? parsed.data : {});
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

const CallbackQuery = z
  .record(z.string(), z.union([z.string(), z.array(z.string())]))
  .transform((query) => Object.fromEntries(Object.entries(query).filter((entry): entry is [string, string] => typeof entry[1] === 'string')));

const MAX_VALUE = 2000;
const once = z.string({ error: 'must be given once' }).max(MAX_VALUE, `must be at most ${MAX_VALUE} characters`);
const CLIENT_ID_OVERRIDE = 'credentials[oauth_client_id_override]';
const CLIENT_SECRET_OVERRIDE = 'credentials[oauth_client_secret_override]';
const REFRESH_TOKEN_OVERRIDE = 'credentials[oauth_refresh_token_override]';
/** `params[x]` and `authorization_params[x]` arrive as flat keys (the SDKs build them so). */
const FAMILY = /^(params|authorization_params)\[([^\]]{1,100})\]$/;

const ConnectParams = z.object({ providerConfigKey: identifier });

const ConnectQueryShape = {
  connection_id: z
    .string({ error: 'must be given once' })
    .max(255, 'must be at most 255 characters')
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
    .optional(),
  public_key: once.optional(),
  hmac: once.optional(),
  ws_client_id: once.optional(),
  connect_session_token: once.optional(),
  user_scope: once.optional(),
  [CLIENT_ID_OVERRIDE]: once.min(1, 'must not be empty').optional(),
  [CLIENT_SECRET_OVERRIDE]: once.min(1, 'must not be empty').optional(),
  [REFRESH_TOKEN_OVERRIDE]: once.optional(),
};

const ConnectQuery = z
  .object(ConnectQueryShape)
  .catchall(once)
  .superRefine((query, context) => {
    for (const key of Object.keys(query)) {
      if (!(key in ConnectQueryShape) && !FAMILY.test(key)) {
        context.addIssue({ code: 'custom', message: `Unknown query parameter "${key.length > 60 ? `${key.slice(0, 60)}…` : key}"` });
      }
    }
    if ((query[CLIENT_ID_OVERRIDE] === undefined) !== (query[CLIENT_SECRET_OVERRIDE] === undefined)) {
      context.addIssue({ code: 'custom', message: `${CLIENT_ID_OVERRIDE} and ${CLIENT_SECRET_OVERRIDE} go together` });
    }
    if (query[REFRESH_TOKEN_OVERRIDE] !== undefined) {
      // A popup flow gets its refresh token from the provider; importing one is POST /connection's job.
      context.addIssue({ code: 'custom', message: `${REFRESH_TOKEN_OVERRIDE} is not supported: the provider issues the refresh token in this flow` });
    }
  });

function parseConnectRequest(params: unknown, rawQuery: unknown): ConnectRequest {
  const path = ConnectParams.safeParse(params, { reportInput: true });
  if (!path.success) throw new FlowError('invalid_uri_params', `The integration key in the URL is not valid: ${describeZodError(path.error)}.`);
  const parsed = ConnectQuery.safeParse(rawQuery, { reportInput: true });
  if (!parsed.success) throw new FlowError('invalid_query_params', `The connect URL is not valid: ${describeZodError(parsed.error)}.`);
  const query = parsed.data;
  const families: Record<'params' | 'authorization_params', Record<string, string>> = { params: {}, authorization_params: {} };
  for (const [key, value] of Object.entries(query)) {
    const family = FAMILY.exec(key);
    if (family && value !== undefined) families[family[1] as keyof typeof families][family[2] ?? ''] = value;
  }
  const clientId = query[CLIENT_ID_OVERRIDE];
  const clientSecret = query[CLIENT_SECRET_OVERRIDE];
  return {
    providerConfigKey: path.data.providerConfigKey,
    connectionId: query.connection_id || undefined,
    params: families.params,
    authorizationParams: families.authorization_params,
    userScopes: (query.user_scope ?? '').split(',').map((scope) => scope.trim()).filter(Boolean),
    clientOverride: clientId !== undefined && clientSecret !== undefined ? { clientId, clientSecret } : undefined,
    hmac: query.hmac,
    publicKey: query.public_key,
    connectSessionToken: query.connect_session_token,
    wsClientId: query.ws_client_id,
  };
}

const WS_CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What an error report can use from a request that may not parse: the WebSocket ids it names (only ids this
 * server could have issued, a repeated parameter included), and the key and connection id when readable.
 */
function readableParts(params: unknown, rawQuery: unknown): { wsClientIds: string[]; providerConfigKey: string; connectionId: string; protocol: 'seed' | 'modern' } {
  const query = (typeof rawQuery === 'object' && rawQuery !== null ? rawQuery : {}) as Record<string, unknown>;
  const key = (params as { providerConfigKey?: unknown } | undefined)?.providerConfigKey;
  const given = query['ws_client_id'];
  const candidates = Array.isArray(given) ? given : [given];
  const wsClientIds = [...new Set(candidates.filter((value): value is string => typeof value === 'string' && WS_CLIENT_ID.test(value)))].slice(0, 5);
  const connectionId = query['connection_id'];
  return {
    wsClientIds,
    providerConfigKey: typeof key === 'string' ? key.slice(0, 255) : '',
    connectionId: typeof connectionId === 'string' && connectionId.length <= 255 ? connectionId : '',
    protocol: query['public_key'] !== undefined || query['connect_session_token'] !== undefined ? 'modern' : 'seed',
  };
}
