import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../errors.js';
import type { ConnectSessionRequest, ConnectSessionService } from '../../services/connect-session-service.js';
import { identifier, parseRequestPart, webhookUrl } from '../request-parsing.js';
import { EndUserSchema } from './connection-routes.js';
import { endUserBody } from './wire-format.js';

export interface ConnectSessionRouteGuards {
  secretKeyOnly: (request: FastifyRequest) => Promise<void>;
  sessionOnly: (request: FastifyRequest) => Promise<void>;
}

/** `/connect/sessions` (backend, secret key) and `/connect/session` (frontend, session token). */
export function registerConnectSessionRoutes(app: FastifyInstance, service: ConnectSessionService, guards: ConnectSessionRouteGuards): void {
  app.post('/connect/sessions', { onRequest: guards.secretKeyOnly }, async (request, reply) => {
    const body = parseRequestPart(CreateBody, request.body ?? {}, 'invalid_body');
    const created = await service.create(sessionRequest(body));
    return reply.status(201).send({ data: { token: created.token, connect_link: created.connectLink, expires_at: created.expiresAt.toISOString() } });
  });

  app.post('/connect/sessions/reconnect', { onRequest: guards.secretKeyOnly }, async (request, reply) => {
    const body = parseRequestPart(ReconnectBody, request.body ?? {}, 'invalid_body');
    const created = await service.create({ ...sessionRequest(body), reconnect: { connectionId: body.connection_id, integration: body.integration_id } });
    return reply.status(201).send({ data: { token: created.token, connect_link: created.connectLink, expires_at: created.expiresAt.toISOString() } });
  });

  app.get('/connect/session', { onRequest: guards.sessionOnly }, async (request) => {
    const session = sessionOf(request);
    return {
      data: {
        allowed_integrations: session.allowedIntegrations,
        integrations_config_defaults: session.integrationsConfigDefaults,
        overrides: session.overrides,
        tags: session.tags,
        endUser: endUserBody(session.endUser ? { ...session.endUser, organization: session.organization } : null),
        isReconnecting: session.reconnect !== null,
        connectUISettings: { showWatermark: false, theme: { light: { primary: '#2f5bea' }, dark: { primary: '#6d8cf5' } } },
        websocketsPath: '/',
      },
    };
  });

  app.delete('/connect/session', { onRequest: guards.sessionOnly }, async (request, reply) => {
    await service.delete(sessionOf(request));
    return reply.status(204).send();
  });
}

function sessionOf(request: FastifyRequest) {
  if (request.principal?.kind !== 'connect_session') throw new ApiError('missing_auth_header', 'This route needs a connect session token.');
  return request.principal.session;
}

const tags = z.record(z.string().min(1).max(64), z.string().max(255));
const defaults = z.record(
  z.string(),
  z
    .object({
      user_scopes: z.string().optional(),
      authorization_params: z.record(z.string(), z.string()).optional(),
      connection_config: z.record(z.string(), z.unknown()).optional(),
    })
    .strict(),
);
const overrides = z.record(z.string(), z.object({ docs_connect: z.url().optional() }).strict());
const organization = z.object({ id: z.string().min(1).max(255), display_name: z.string().max(255).optional() }).strict();

const sessionShape = {
  end_user: EndUserSchema.omit({ organization: true }).optional(),
  organization: organization.optional(),
  integrations_config_defaults: defaults.optional(),
  overrides: overrides.optional(),
  webhook_url_override: webhookUrl.optional(),
  tags: tags.optional(),
};

export const CreateBody = z
  .object({ ...sessionShape, allowed_integrations: z.array(identifier).max(1000).optional() })
  .strict()
  .refine((body) => body.end_user !== undefined || body.tags !== undefined, { message: 'required unless tags are given', path: ['end_user'] });

export const ReconnectBody = z.object({ ...sessionShape, connection_id: identifier, integration_id: identifier }).strict();

function sessionRequest(body: z.infer<typeof ReconnectBody> | z.infer<typeof CreateBody>): ConnectSessionRequest {
  return {
    endUser: body.end_user
      ? { id: body.end_user.id, email: body.end_user.email ?? null, display_name: body.end_user.display_name ?? null, tags: body.end_user.tags ?? {} }
      : null,
    organization: body.organization ? { id: body.organization.id, display_name: body.organization.display_name ?? null } : null,
    allowedIntegrations: 'allowed_integrations' in body && body.allowed_integrations ? body.allowed_integrations : null,
    integrationsConfigDefaults: body.integrations_config_defaults ?? {},
    overrides: body.overrides ?? {},
    tags: body.tags ?? {},
    webhookUrlOverride: body.webhook_url_override ?? null,
  };
}
