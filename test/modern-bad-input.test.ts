import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { bearerAuth, buildTestApp, type TestApp } from './support/test-app.js';

/**
 * Hand-picked bad input on the modern API (@nangohq/node 0.71 routes): each answer is a 4xx in the modern error
 * shape `{error: {code, message, errors?}}`, a message that names the offending field, and not one row changed.
 * (test/malformed-input-property.test.ts throws generated input at every route; these are the readable cases.)
 */
const SECRET_KEY = 'modern-bad-input-key';
const AUTH = { authorization: bearerAuth(SECRET_KEY) };
const TABLES = ['_nango_configs', '_nango_connections', '_custody_connect_sessions', '_custody_audit_log'] as const;
type Snapshot = Record<(typeof TABLES)[number], Record<string, unknown>[]>;

let database: TestDatabase;
let test: TestApp;
let snapshot: Snapshot;

const integration = { provider: 'github', unique_key: 'github-new', credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret' } };
const connection = { provider_config_key: 'github', connection_id: 'u2', credentials: { type: 'OAUTH2', access_token: 'token-u2' } };
const metadata = { provider_config_key: 'github', connection_id: 'u1', metadata: { plan: 'pro' } };
const session = { end_user: { id: 'eu-1' }, allowed_integrations: ['github'] };

async function takeSnapshot(): Promise<Snapshot> {
  const result = {} as Snapshot;
  for (const table of TABLES) result[table] = await database.knex(table).select('*').orderBy('id');
  return result;
}

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY });
  const setup = [
    { method: 'POST', url: '/integrations', payload: { ...integration, unique_key: 'github' } },
    { method: 'POST', url: '/connections', payload: { ...connection, connection_id: 'u1', metadata: { plan: 'free' } } },
    { method: 'POST', url: '/connect/sessions', payload: session },
  ] as const;
  for (const request of setup) expect((await test.app.inject({ ...request, headers: AUTH })).statusCode).toBeLessThan(300);
  snapshot = await takeSnapshot();
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

// A request that wrongly succeeded must not spoil the ones after it: put the rows back exactly as they were.
afterEach(async () => {
  if (JSON.stringify(await takeSnapshot()) === JSON.stringify(snapshot)) return;
  await database.knex.transaction(async (trx) => {
    for (const table of TABLES) await trx(table).delete();
    for (const table of TABLES) {
      const rows = snapshot[table].map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === 'object' && value !== null && !(value instanceof Date) ? JSON.stringify(value) : value])));
      if (rows.length > 0) await trx(table).insert(rows);
    }
  });
});

interface BadRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  /** An object is sent as JSON; a string is sent as it is. */
  payload?: unknown;
  contentType?: string;
  status: number;
  code: string;
  /** What the message must name: the field, parameter or key at fault. */
  names?: string;
}

async function send(request: BadRequest): Promise<LightMyRequestResponse> {
  const raw = typeof request.payload === 'string' ? request.payload : request.payload === undefined ? undefined : JSON.stringify(request.payload);
  return test.app.inject({
    method: request.method,
    url: request.url,
    headers: { ...AUTH, ...(raw !== undefined ? { 'content-type': request.contentType ?? 'application/json' } : {}) },
    ...(raw !== undefined ? { payload: raw } : {}),
  });
}

/** The modern error body and nothing else; a message a person can read, naming what is wrong. */
function expectModernError(response: LightMyRequestResponse, request: BadRequest): void {
  const context = response.body.slice(0, 400);
  expect(response.statusCode, context).toBe(request.status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json() as { error?: Record<string, unknown> };
  expect(Object.keys(body), context).toEqual(['error']);
  const error = body.error ?? {};
  expect(Object.keys(error).every((key) => ['code', 'message', 'errors', 'payload'].includes(key)), context).toBe(true);
  expect(error['code'], context).toBe(request.code);
  const message = String(error['message']);
  expect(message.length).toBeGreaterThanOrEqual(10);
  expect(message.length).toBeLessThanOrEqual(500);
  for (const leak of ['[object', 'undefined', '\n    at ', 'FST_', 'SyntaxError', 'knex']) expect(message).not.toContain(leak);
  if (request.names !== undefined) expect(message, context).toContain(request.names);
  if (error['errors'] !== undefined) {
    expect(Array.isArray(error['errors'])).toBe(true);
    for (const issue of error['errors'] as Record<string, unknown>[]) expect(issue).toEqual({ code: expect.any(String), message: expect.any(String), path: expect.any(Array) });
  }
}

const TWO_MIB = 2 * 1024 * 1024;

/** Every modern route that reads a JSON body, with a body it would accept. */
const BODY_ROUTES = [
  { method: 'POST', url: '/integrations', valid: integration },
  { method: 'PATCH', url: '/integrations/github', valid: { display_name: 'GitHub' } },
  { method: 'POST', url: '/connections', valid: connection },
  { method: 'PATCH', url: '/connections/u1?provider_config_key=github', valid: { tags: { team: 'core' } } },
  { method: 'POST', url: '/connections/metadata', valid: metadata },
  { method: 'PATCH', url: '/connections/metadata', valid: metadata },
  { method: 'POST', url: '/connection/u1/metadata?provider_config_key=github', valid: { plan: 'pro' } },
  { method: 'POST', url: '/connect/sessions', valid: session },
  { method: 'POST', url: '/connect/sessions/reconnect', valid: { connection_id: 'u1', integration_id: 'github' } },
  { method: 'POST', url: '/api-auth/api-key/github?connection_id=u3', valid: { apiKey: 'k' } },
  { method: 'POST', url: '/api-auth/basic/github?connection_id=u3', valid: { username: 'u', password: 'p' } },
  { method: 'POST', url: '/oauth2/auth/github?connection_id=u3', valid: { client_id: 'c', client_secret: 's' } },
] as const;

describe('a body that cannot be read is refused before any route looks at it', () => {
  const cases: [string, BadRequest][] = [];
  for (const route of BODY_ROUTES) {
    const at = `${route.method} ${route.url.split('?')[0]}`;
    const base = { method: route.method, url: route.url };
    cases.push(
      [`${at}: malformed JSON → 400 invalid_json`, { ...base, payload: '{"provider": ', status: 400, code: 'invalid_json', names: 'JSON' }],
      [`${at}: a 2 MiB body → 413 payload_too_large`, { ...base, payload: { ...route.valid, padding: 'x'.repeat(TWO_MIB) }, status: 413, code: 'payload_too_large', names: 'body' }],
      [`${at}: a text/plain body → 415 unsupported_media_type`, { ...base, payload: JSON.stringify(route.valid), contentType: 'text/plain', status: 415, code: 'unsupported_media_type', names: 'text/plain' }],
      [`${at}: a "__proto__" key → 400 invalid_body`, { ...base, payload: `${JSON.stringify(route.valid).slice(0, -1)},"__proto__":{"polluted":true}}`, status: 400, code: 'invalid_body', names: '__proto__' }],
    );
  }
  it.each(cases)('%s', async (_name, request) => {
    expectModernError(await send(request), request);
    expect(await takeSnapshot()).toEqual(snapshot);
  });
});

describe('an unknown field is named and refused, at the top level and nested', () => {
  const cases: [string, BadRequest][] = [];
  for (const route of BODY_ROUTES) {
    // The per-connection metadata alias takes any object: its body is the metadata itself.
    if (route.url.startsWith('/connection/')) continue;
    cases.push([`${route.method} ${route.url.split('?')[0]}`, { method: route.method, url: route.url, payload: { ...route.valid, surprise_field: 1 }, status: 400, code: 'invalid_body', names: 'surprise_field' }]);
  }
  cases.push(
    ['POST /integrations: credentials.surprise_field', { method: 'POST', url: '/integrations', payload: { ...integration, credentials: { ...integration.credentials, surprise_field: 1 } }, status: 400, code: 'invalid_body', names: 'surprise_field' }],
    ['POST /connections: credentials.surprise_field', { method: 'POST', url: '/connections', payload: { ...connection, credentials: { ...connection.credentials, surprise_field: 1 } }, status: 400, code: 'invalid_body', names: 'surprise_field' }],
    ['POST /connect/sessions: end_user.surprise_field', { method: 'POST', url: '/connect/sessions', payload: { ...session, end_user: { id: 'eu-1', surprise_field: 1 } }, status: 400, code: 'invalid_body', names: 'surprise_field' }],
    ['PATCH /connections/:id: end_user.organization.surprise_field', { method: 'PATCH', url: '/connections/u1?provider_config_key=github', payload: { end_user: { id: 'eu-1', organization: { id: 'o', surprise_field: 1 } } }, status: 400, code: 'invalid_body', names: 'surprise_field' }],
  );
  it.each(cases)('%s', async (_name, request) => {
    expectModernError(await send(request), request);
    expect(await takeSnapshot()).toEqual(snapshot);
  });
});

describe('a value of the wrong type is named by its field', () => {
  const cases: [string, BadRequest][] = [
    ['POST /integrations: unique_key is a number', { method: 'POST', url: '/integrations', payload: { ...integration, unique_key: 42 }, status: 400, code: 'invalid_body', names: 'unique_key' }],
    ['POST /integrations: provider is a list', { method: 'POST', url: '/integrations', payload: { ...integration, provider: ['github'] }, status: 400, code: 'invalid_body', names: 'provider' }],
    ['POST /integrations: credentials.client_secret is a number', { method: 'POST', url: '/integrations', payload: { ...integration, credentials: { ...integration.credentials, client_secret: 7 } }, status: 400, code: 'invalid_body', names: 'credentials.client_secret' }],
    ['POST /integrations: credentials.type is not a type', { method: 'POST', url: '/integrations', payload: { ...integration, credentials: { ...integration.credentials, type: 'PASSWORD' } }, status: 400, code: 'invalid_body', names: 'credentials.type' }],
    ['POST /integrations: forward_webhooks is a string', { method: 'POST', url: '/integrations', payload: { ...integration, forward_webhooks: 'yes' }, status: 400, code: 'invalid_body', names: 'forward_webhooks' }],
    ['PATCH /integrations/:key: display_name is a number', { method: 'PATCH', url: '/integrations/github', payload: { display_name: 7 }, status: 400, code: 'invalid_body', names: 'display_name' }],
    ['POST /connections: connection_id is a number', { method: 'POST', url: '/connections', payload: { ...connection, connection_id: 42 }, status: 400, code: 'invalid_body', names: 'connection_id' }],
    ['POST /connections: metadata is a string', { method: 'POST', url: '/connections', payload: { ...connection, metadata: 'plan=pro' }, status: 400, code: 'invalid_body', names: 'metadata' }],
    ['POST /connections: credentials.expires_at is not a date', { method: 'POST', url: '/connections', payload: { ...connection, credentials: { ...connection.credentials, expires_at: 'tomorrow' } }, status: 400, code: 'invalid_body', names: 'credentials.expires_at' }],
    ['POST /connections: credentials.access_token is a number', { method: 'POST', url: '/connections', payload: { ...connection, credentials: { type: 'OAUTH2', access_token: 123 } }, status: 400, code: 'invalid_body', names: 'credentials.access_token' }],
    ['PATCH /connections/:id: a tag value is a number', { method: 'PATCH', url: '/connections/u1?provider_config_key=github', payload: { tags: { plan: 5 } }, status: 400, code: 'invalid_body', names: 'tags.plan' }],
    ['PATCH /connections/:id: end_user.email is not an address', { method: 'PATCH', url: '/connections/u1?provider_config_key=github', payload: { end_user: { id: 'eu-1', email: 'not-an-address' } }, status: 400, code: 'invalid_body', names: 'end_user.email' }],
    ['PATCH /connections/:id: webhook_url_override is a javascript: URL', { method: 'PATCH', url: '/connections/u1?provider_config_key=github', payload: { webhook_url_override: 'javascript:alert(1)' }, status: 400, code: 'invalid_body', names: 'webhook_url_override' }],
    ['PATCH /connections/:id: webhook_url_override is a number', { method: 'PATCH', url: '/connections/u1?provider_config_key=github', payload: { webhook_url_override: 8080 }, status: 400, code: 'invalid_body', names: 'webhook_url_override' }],
    ['POST /connections/metadata: metadata is a list', { method: 'POST', url: '/connections/metadata', payload: { ...metadata, metadata: [1, 2] }, status: 400, code: 'invalid_body', names: 'metadata' }],
    ['PATCH /connections/metadata: connection_id is an empty list', { method: 'PATCH', url: '/connections/metadata', payload: { ...metadata, connection_id: [] }, status: 400, code: 'invalid_body', names: 'connection_id' }],
    ['POST /connection/:id/metadata: the body is a list, not the metadata object', { method: 'POST', url: '/connection/u1/metadata?provider_config_key=github', payload: [{ plan: 'pro' }], status: 400, code: 'invalid_body', names: 'the request body must be a JSON object, not a list' }],
    ['POST /connect/sessions: end_user.id is a number', { method: 'POST', url: '/connect/sessions', payload: { ...session, end_user: { id: 5 } }, status: 400, code: 'invalid_body', names: 'end_user.id' }],
    ['POST /connect/sessions: allowed_integrations is a string', { method: 'POST', url: '/connect/sessions', payload: { ...session, allowed_integrations: 'github' }, status: 400, code: 'invalid_body', names: 'allowed_integrations' }],
    ['POST /connect/sessions: webhook_url_override is a file: URL', { method: 'POST', url: '/connect/sessions', payload: { ...session, webhook_url_override: 'file:///etc/passwd' }, status: 400, code: 'invalid_body', names: 'webhook_url_override' }],
    ['POST /api-auth/api-key/:key: apiKey is a number', { method: 'POST', url: '/api-auth/api-key/github?connection_id=u3', payload: { apiKey: 123 }, status: 400, code: 'invalid_body', names: 'apiKey' }],
    ['POST /api-auth/basic/:key: username is empty', { method: 'POST', url: '/api-auth/basic/github?connection_id=u3', payload: { username: '', password: 'p' }, status: 400, code: 'invalid_body', names: 'username' }],
    ['POST /oauth2/auth/:key: client_id is a number', { method: 'POST', url: '/oauth2/auth/github?connection_id=u3', payload: { client_id: 5, client_secret: 's' }, status: 400, code: 'invalid_body', names: 'client_id' }],
  ];
  it.each(cases)('%s', async (_name, request) => {
    const response = await send(request);
    expectModernError(response, request);
    // A wrong type is not a missing field: the message must not send the caller looking for an absent one.
    expect(response.json().error.message).not.toMatch(/required/);
    expect(await takeSnapshot()).toEqual(snapshot);
  });
});

describe('a missing field is named as required', () => {
  const cases: [string, BadRequest][] = [
    ['POST /connect/sessions: neither end_user nor tags', { method: 'POST', url: '/connect/sessions', payload: { allowed_integrations: ['github'] }, status: 400, code: 'invalid_body', names: 'end_user: required unless tags are given' }],
    ['POST /connect/sessions/reconnect: no connection_id', { method: 'POST', url: '/connect/sessions/reconnect', payload: { integration_id: 'github' }, status: 400, code: 'invalid_body', names: 'connection_id is required' }],
    ['POST /integrations: no provider', { method: 'POST', url: '/integrations', payload: { unique_key: 'github-new' }, status: 400, code: 'invalid_body', names: 'provider is required' }],
    ['POST /connections: no credentials', { method: 'POST', url: '/connections', payload: { provider_config_key: 'github', connection_id: 'u2' }, status: 400, code: 'invalid_body', names: 'credentials is required' }],
    ['POST /connections/metadata: no metadata', { method: 'POST', url: '/connections/metadata', payload: { provider_config_key: 'github', connection_id: 'u1' }, status: 400, code: 'invalid_body', names: 'metadata is required' }],
  ];
  it.each(cases)('%s', async (_name, request) => {
    expectModernError(await send(request), request);
    expect(await takeSnapshot()).toEqual(snapshot);
  });
});

describe('a bad query string or path is named', () => {
  const cases: [string, BadRequest][] = [
    ['GET /connections: limit is not a number', { method: 'GET', url: '/connections?limit=ten', status: 400, code: 'invalid_query_params', names: 'limit' }],
    ['GET /connections: an unknown parameter', { method: 'GET', url: '/connections?surprise_param=1', status: 400, code: 'invalid_query_params', names: 'surprise_param' }],
    ['GET /connections/:id: force_refresh is not true or false', { method: 'GET', url: '/connections/u1?provider_config_key=github&force_refresh=yes', status: 400, code: 'invalid_query_params', names: 'force_refresh' }],
    ['GET /connections/:id: provider_config_key is missing', { method: 'GET', url: '/connections/u1', status: 400, code: 'invalid_query_params', names: 'provider_config_key' }],
    ['DELETE /connections/:id: provider_config_key is given twice', { method: 'DELETE', url: '/connections/u1?provider_config_key=github&provider_config_key=other', status: 400, code: 'invalid_query_params', names: 'provider_config_key' }],
    ['PATCH /connections/:id: an unknown parameter', { method: 'PATCH', url: '/connections/u1?provider_config_key=github&surprise_param=1', payload: { tags: {} }, status: 400, code: 'invalid_query_params', names: 'surprise_param' }],
    ['GET /integrations/:key: include names nothing includable', { method: 'GET', url: '/integrations/github?include=secrets', status: 400, code: 'invalid_query_params', names: 'include' }],
    ['GET /integrations: an unknown parameter', { method: 'GET', url: '/integrations?surprise_param=1', status: 400, code: 'invalid_query_params', names: 'surprise_param' }],
    ['GET /audit-log: since is not a date', { method: 'GET', url: '/audit-log?since=yesterday', status: 400, code: 'invalid_query_params', names: 'since' }],
    ['POST /api-auth/api-key/:key: an unknown parameter', { method: 'POST', url: '/api-auth/api-key/github?connection_id=u3&surprise_param=1', payload: { apiKey: 'k' }, status: 400, code: 'invalid_query_params', names: 'surprise_param' }],
    ['GET /connections/:id: a control character in the id', { method: 'GET', url: '/connections/u%011?provider_config_key=github', status: 400, code: 'invalid_uri_params', names: 'connectionId' }],
  ];
  it.each(cases)('%s', async (_name, request) => {
    expectModernError(await send(request), request);
    expect(await takeSnapshot()).toEqual(snapshot);
  });
});
