import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { renderCallbackPage, type CallbackPageInput } from '../../oauth/callback-page.js';
import { FlowError, type FlowFailureKind } from '../../oauth/flow-error.js';
import type { CallbackOutcome, ConnectRequest, OAuthFlowService, StateRefusal } from '../../services/oauth-flow-service.js';
import { describeZodError, identifier } from '../request-parsing.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/**
 * The two public routes of the popup flow. Both answer HTML: the popup shows it to a person. The flow
 * service says what happened; this says it with a status and words.
 * No secret key: the popup runs in the end user's browser (HMAC or a public key guard the start instead).
 */
export function registerOAuthRoutes(app: FastifyInstance, flows: OAuthFlowService): void {
  app.get('/oauth/connect/:providerConfigKey', READS_QUERY, async (request, reply) => {
    const readable = readableParts(request.params, request.query);
    const page = (error: FlowError) =>
      sendPage(reply, FAILURE_STATUS[error.kind], {
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
      const started = await flows.start(connect);
      return started.kind === 'redirect' ? await reply.redirect(started.url, 302) : page(started.error);
    } catch (error) {
      return page(error instanceof FlowError ? error : new FlowError('unknown_err', 'An unexpected error stopped the authorisation.', 'unexpected'));
    }
  });

  const callback = async (request: FastifyRequest, reply: FastifyReply) => {
    // A provider may add any parameter; only single values mean something (a repeated `state` is no state).
    const parsed = CallbackQuery.safeParse(request.query);
    const outcome = await flows.complete(parsed.success ? parsed.data : {});
    const { status, page } = callbackPage(outcome);
    return sendPage(reply, status, page);
  };
  app.get('/oauth/callback', READS_QUERY, callback);
  // A GitHub App's Setup URL, under Nango's path: GitHub sends `installation_id`, `setup_action` and the state here.
  app.get('/app-auth/connect', READS_QUERY, callback);
}

/** The status of a page that reports a failed flow, by what kind of failure it was. */
const FAILURE_STATUS: Record<FlowFailureKind, number> = { invalid: 400, unauthenticated: 401, refused: 403, not_found: 404, provider_failed: 502, unexpected: 500 };

/** What the page says about a callback whose state leads to no flow. */
const STATE_REFUSALS: Record<StateRefusal, { title: string; message: string }> = {
  missing_state: {
    title: 'This sign-in link is incomplete',
    message: 'The provider sent the browser back without the "state" parameter, so this sign-in cannot be matched to a request. Close this window and start again.',
  },
  invalid_state: { title: 'This sign-in link is not valid', message: 'The "state" parameter is not one this server issued. Close this window and start again.' },
  state_already_used: {
    title: 'This sign-in was already completed',
    message: 'This page was opened a second time (a reload, or the back button) after the sign-in had finished; its first result stands. If the connection did not appear, close this window and start again.',
  },
  unknown_state: {
    title: 'This sign-in is unknown',
    message: 'The "state" of this page was never issued by this server, or its sign-in expired and was cleaned up. Close this window and start again.',
  },
};

function callbackPage(outcome: CallbackOutcome): { status: number; page: CallbackPageInput } {
  switch (outcome.kind) {
    case 'connected':
      return {
        status: 200,
        page: { outcome: 'success', title: 'Connected', message: 'The connection was authorised. You can close this window.', protocol: outcome.protocol, providerConfigKey: outcome.providerConfigKey, connectionId: outcome.connectionId },
      };
    case 'refused':
      return { status: 400, page: { outcome: 'error', ...STATE_REFUSALS[outcome.reason], protocol: 'modern', errorType: outcome.reason } };
    case 'failed':
      return {
        status: FAILURE_STATUS[outcome.error.kind],
        page: {
          outcome: 'error',
          title: 'The connection could not be made',
          message: outcome.error.message,
          protocol: outcome.protocol,
          providerConfigKey: outcome.providerConfigKey,
          connectionId: outcome.connectionId,
          errorType: outcome.error.type,
        },
      };
  }
}

function sendPage(reply: FastifyReply, status: number, page: CallbackPageInput): FastifyReply {
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
