import { z } from 'zod';
import { formConnects } from '../credentials/registry.js';
import type { Operation } from './operation.js';
import { FormConnectAnswer, HealthAnswer, ReadyAnswer } from './wire-schemas.js';

const html = 'text/html';
const providerConfigKey = { providerConfigKey: 'The integration\'s key.' };
const accessQuery = z
  .object({
    connection_id: z.string().optional().meta({ description: 'The connection to create or replace (optional with a connect session token).' }),
    connect_session_token: z.string().optional().meta({ description: 'A token from POST /connect/sessions.' }),
    hmac: z.string().optional().meta({ description: 'HMAC of the integration key and connection id (NANGO_HMAC_ENABLED).' }),
    public_key: z.string().optional(),
  })
  .meta({ description: 'Connection parameters go as params[<name>]=<value>.' });

/**
 * What end users' browsers call (the popup flow and the forms of the Connect UI), the proxy both SDK
 * generations call, and what operators' tooling reads.
 */
export const FLOW_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/oauth/connect/{providerConfigKey}',
    tag: 'Authorisation flow',
    caller: 'connect_access',
    errors: 'seed',
    params: providerConfigKey,
    query: accessQuery.extend({ ws_client_id: z.string().optional().meta({ description: 'The WebSocket client that waits for the result.' }) }),
    summary: 'Start the OAuth flow in the end user\'s popup',
    description: 'Redirects to the provider\'s authorisation page; a flow that cannot start answers an HTML page that says why (and tells the waiting page).',
    responses: { 302: { description: 'To the provider\'s authorisation page.' }, 400: { description: 'A page saying why the flow could not start.', mediaType: html } },
  },
  {
    method: 'get',
    path: '/oauth/callback',
    tag: 'Authorisation flow',
    caller: 'public',
    errors: 'seed',
    query: z.looseObject({ state: z.string().optional(), code: z.string().optional(), oauth_token: z.string().optional(), oauth_verifier: z.string().optional() }),
    summary: 'Where the provider sends the end user back',
    description: 'Exchanges the code (or verifier), stores the connection and tells the waiting page over the WebSocket.',
    responses: { 200: { description: 'A page that reports the outcome and closes the popup.', mediaType: html } },
  },
  {
    method: 'get',
    path: '/app-auth/connect',
    tag: 'Authorisation flow',
    caller: 'public',
    errors: 'seed',
    query: z.looseObject({ state: z.string().optional(), installation_id: z.string().optional(), setup_action: z.string().optional() }),
    summary: 'Where GitHub sends the end user back after installing a GitHub App (its Setup URL)',
    description: 'Mints the installation\'s first token, stores the connection and tells the waiting page over the WebSocket; the same as /oauth/callback, under Nango\'s path.',
    responses: { 200: { description: 'A page that reports the outcome and closes the popup.', mediaType: html } },
  },
  ...formConnects().map(({ mode, form }): Operation => ({
    method: 'post',
    path: form.path.replace(':providerConfigKey', '{providerConfigKey}'),
    tag: 'Authorisation flow',
    caller: 'connect_access',
    errors: 'modern',
    params: providerConfigKey,
    query: accessQuery,
    body: form.body,
    summary: `Connect with ${mode} credentials the end user typed`,
    responses: { 200: { description: 'Connected.', schema: FormConnectAnswer } },
    errorStatuses: [400, 401, 404],
  })),
  ...(['get', 'post', 'put', 'patch', 'delete'] as const).map((method): Operation => ({
    method,
    path: '/proxy/{path}',
    tag: 'Proxy',
    caller: 'secret_key',
    errors: 'by_client',
    params: { path: 'The provider API\'s path (any depth); the query string is forwarded as it is.' },
    headers: [
      { name: 'Connection-Id', description: 'The connection whose credentials authorise the call.', required: true },
      { name: 'Provider-Config-Key', description: 'Its integration.', required: true },
      { name: 'Retries', description: 'How many times to retry a 429 or 5xx answer.' },
      { name: 'Base-Url-Override', description: 'Another base URL (only hosts in NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS).' },
      { name: 'Decompress', description: 'true: decode a compressed answer.' },
    ],
    summary: `Relay a ${method.toUpperCase()} to the provider's API with the connection's credentials`,
    description: 'Other headers prefixed Nango-Proxy- are forwarded without the prefix. Errors come in the seed shape, or the modern one for modern SDKs.',
    ...(method === 'get' || method === 'delete' ? {} : { body: z.unknown().meta({ description: 'Relayed as it is (any content type).' }) }),
    responses: { 200: { description: 'The provider\'s answer, status and body as it sent them.', mediaType: '*/*' } },
    errorStatuses: [400, 404, 502],
  })),
  {
    method: 'get',
    path: '/health',
    tag: 'Operations',
    caller: 'public',
    errors: 'seed',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive.', schema: HealthAnswer } },
  },
  {
    method: 'get',
    path: '/ready',
    tag: 'Operations',
    caller: 'public',
    errors: 'seed',
    summary: 'Readiness: the database answers',
    responses: { 200: { description: 'Ready.', schema: ReadyAnswer } },
    errorStatuses: [503],
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'Operations',
    caller: 'secret_key',
    errors: 'seed',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text format.', mediaType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/logos/{file}',
    tag: 'Operations',
    caller: 'public',
    errors: 'seed',
    params: { file: 'A provider\'s name, with or without .svg.' },
    summary: 'A provider\'s logo',
    responses: { 200: { description: 'An SVG.', mediaType: 'image/svg+xml' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'Operations',
    caller: 'dashboard',
    errors: 'seed',
    summary: 'This document',
    responses: { 200: { description: 'The OpenAPI 3.1 document.', schema: z.record(z.string(), z.unknown()) } },
  },
  {
    method: 'get',
    path: '/docs',
    tag: 'Operations',
    caller: 'dashboard',
    errors: 'seed',
    summary: 'This document, to browse (Swagger UI, served by this server)',
    responses: { 200: { description: 'The API reference page.', mediaType: html } },
  },
];
