import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app/build-app.js';
import { loadConfig } from '../src/config.js';
import { createKnex } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { createTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * Hostile and broken input on every route of the seed API: each answer is a 4xx in the seed error shape with a
 * message a person can read, never a 5xx, and the tables are exactly as they were.
 */
let database: TestDatabase;
let test: TestApp;
let snapshot: Snapshot;

const TABLES = ['_nango_configs', '_nango_connections', '_custody_audit_log'] as const;
type Snapshot = Record<(typeof TABLES)[number], Record<string, unknown>[]>;

const validConfig = { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' };
const newConfig = { ...validConfig, provider_config_key: 'brand-new' };
const validConnection = { connection_id: 'user-1', provider_config_key: 'github-prod', type: 'OAUTH2', access_token: 'access-1', expires_at: '2099-01-01T00:00:00.000Z' };
const newConnection = { ...validConnection, connection_id: 'user-2' };

async function takeSnapshot(): Promise<Snapshot> {
  const result = {} as Snapshot;
  for (const table of TABLES) result[table] = await database.knex(table).select('*').orderBy('id');
  return result;
}

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database);
  expect((await test.app.inject({ method: 'POST', url: '/config', payload: validConfig })).statusCode).toBe(200);
  expect((await test.app.inject({ method: 'POST', url: '/connection', payload: { ...validConnection, metadata: { plan: 'pro' } } })).statusCode).toBe(201);
  expect((await test.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=github-prod' })).statusCode).toBe(200);
  snapshot = await takeSnapshot();
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

// A request that wrongly succeeded must not spoil the ones after it: put the rows back exactly as they were.
afterEach(async () => {
  const current = await takeSnapshot();
  if (JSON.stringify(current) === JSON.stringify(snapshot)) return;
  await database.knex.transaction(async (trx) => {
    for (const table of TABLES) await trx(table).delete();
    for (const table of TABLES) {
      const rows = snapshot[table].map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, isJsonValue(value) ? JSON.stringify(value) : value])));
      if (rows.length > 0) await trx(table).insert(rows);
    }
  });
});

function isJsonValue(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !(value instanceof Date);
}

/** Asserts the seed error shape with a readable message: a person, not a stack trace, is the reader. */
function expectSeedError(response: LightMyRequestResponse, expected: { status?: number; type?: string } = {}): void {
  expect(response.statusCode, response.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
  expect(response.statusCode, response.body.slice(0, 300)).toBeLessThan(500);
  if (expected.status !== undefined) expect(response.statusCode, response.body.slice(0, 300)).toBe(expected.status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json() as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'payload', 'type']);
  expect(body['type']).toMatch(/^[a-z_]+$/);
  if (expected.type !== undefined) expect(body['type']).toBe(expected.type);
  expect(typeof body['payload'] === 'object' && body['payload'] !== null && !Array.isArray(body['payload'])).toBe(true);
  expectReadable(body['error']);
}

function expectReadable(message: unknown): void {
  expect(typeof message).toBe('string');
  const text = message as string;
  expect(text.length).toBeGreaterThanOrEqual(10);
  // A sentence, not a dump: an echoed 100 KB parameter name is not something a person reads.
  expect(text.length).toBeLessThanOrEqual(500);
  expect(text).toMatch(/^["A-Za-z]/);
  expect(text).toMatch(/\S+ \S+/);
  for (const leak of ['[object', 'undefined', 'NaN', '\n    at ', 'FST_', 'SyntaxError', 'TypeError', 'RangeError', 'ECONN', 'knex', 'select ', 'insert into']) {
    expect(text).not.toContain(leak);
  }
}

interface BadRequest {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  payload?: string;
  contentType?: string;
  status?: number;
  type?: string;
}

const CONFIG_GET = { method: 'GET', url: '/config' } as const;
const CONFIG_ONE_GET = { method: 'GET', url: '/config/github-prod' } as const;
const CONFIG_POST = { method: 'POST', url: '/config' } as const;
const CONFIG_PUT = { method: 'PUT', url: '/config' } as const;
const CONFIG_DELETE = { method: 'DELETE', url: '/config/github-prod' } as const;
const CONNECTION_LIST = { method: 'GET', url: '/connection' } as const;
const CONNECTION_GET = { method: 'GET', url: '/connection/user-1?provider_config_key=github-prod' } as const;
const CONNECTION_POST = { method: 'POST', url: '/connection' } as const;
const CONNECTION_DELETE = { method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod' } as const;

const BODY_ROUTES = [
  { ...CONFIG_POST, valid: newConfig },
  { ...CONFIG_PUT, valid: { ...validConfig, oauth_client_id: 'changed' } },
  { ...CONNECTION_POST, valid: newConnection },
];
const DELETE_ROUTES = [CONFIG_DELETE, CONNECTION_DELETE];
const ALL_ROUTES = [CONFIG_GET, CONFIG_ONE_GET, CONFIG_POST, CONFIG_PUT, CONFIG_DELETE, CONNECTION_LIST, CONNECTION_GET, CONNECTION_POST, CONNECTION_DELETE];

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** `{"a":{"a":…{"a":1}…}}`, `depth` levels deep, as text (JSON.stringify would itself overflow). */
function nestedJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function withField(body: Record<string, unknown>, field: string, rawJsonValue: string): string {
  return `${json(body).slice(0, -1)},${json(field)}:${rawJsonValue}}`;
}

const TWO_MIB = 2 * 1024 * 1024;

const cases: BadRequest[] = [];

// Transport: the body cannot be read as a JSON object at all (every route that reads a body).
for (const route of [...BODY_ROUTES, ...DELETE_ROUTES]) {
  const at = `${route.method} ${route.url.split('?')[0]}`;
  cases.push(
    { name: `${at}: malformed JSON`, ...route, payload: '{"provider_config_key": ', status: 400, type: 'invalid_json' },
    { name: `${at}: JSON with trailing garbage`, ...route, payload: '{"a":1} trailing', status: 400, type: 'invalid_json' },
    { name: `${at}: a raw NUL byte inside the JSON text`, ...route, payload: '{"provider_config_key":"a\u0000b"}', status: 400, type: 'invalid_json' },
    { name: `${at}: a 2 MiB body`, ...route, payload: json({ ...('valid' in route ? route.valid : {}), padding: 'x'.repeat(TWO_MIB) }), status: 413, type: 'payload_too_large' },
    { name: `${at}: a text/plain body`, ...route, payload: json('valid' in route ? route.valid : { a: 1 }), contentType: 'text/plain', status: 415, type: 'unsupported_media_type' },
    { name: `${at}: a form-urlencoded body`, ...route, payload: new URLSearchParams('valid' in route ? (route.valid as Record<string, string>) : { a: '1' }).toString(), contentType: 'application/x-www-form-urlencoded', status: 415, type: 'unsupported_media_type' },
  );
}

// Shape: valid JSON that is not an object, wrong field types, depth, prototype keys, NULs (routes that take a body).
for (const route of BODY_ROUTES) {
  const at = `${route.method} ${route.url}`;
  cases.push(
    { name: `${at}: a JSON array`, ...route, payload: json([route.valid]), status: 400 },
    { name: `${at}: a JSON string`, ...route, payload: json('github-prod'), status: 400 },
    { name: `${at}: a JSON number`, ...route, payload: '42', status: 400 },
    { name: `${at}: JSON null`, ...route, payload: 'null', status: 400 },
    { name: `${at}: JSON true`, ...route, payload: 'true', status: 400 },
    { name: `${at}: an empty object`, ...route, payload: '{}', status: 400 },
    { name: `${at}: every field under "__proto__"`, ...route, payload: json({ ['__proto__']: route.valid }), status: 400 },
    { name: `${at}: a valid body plus a "__proto__" key`, ...route, payload: withField(route.valid, '__proto__', json({ polluted: true })), status: 400 },
    { name: `${at}: a valid body plus "constructor.prototype"`, ...route, payload: withField(route.valid, 'constructor', json({ prototype: { polluted: true } })), status: 400 },
    { name: `${at}: a valid body plus a deeply nested unknown field`, ...route, payload: withField(route.valid, 'extra', nestedJson(5_000)), status: 400 },
  );
}

for (const route of [BODY_ROUTES[0]!, BODY_ROUTES[1]!]) {
  const at = `${route.method} ${route.url}`;
  const body = route.valid;
  cases.push(
    { name: `${at}: provider_config_key is a number`, ...route, payload: json({ ...body, provider_config_key: 123 }), status: 400, type: 'invalid_body' },
    { name: `${at}: provider is a list`, ...route, payload: json({ ...body, provider: ['github'] }), status: 400, type: 'invalid_body' },
    { name: `${at}: oauth_client_id is an object`, ...route, payload: json({ ...body, oauth_client_id: { id: 'cid' } }), status: 400, type: 'invalid_body' },
    { name: `${at}: oauth_client_secret is a boolean`, ...route, payload: json({ ...body, oauth_client_secret: true }), status: 400, type: 'invalid_body' },
    { name: `${at}: oauth_scopes is a number`, ...route, payload: json({ ...body, oauth_scopes: 7 }), status: 400, type: 'invalid_body' },
    { name: `${at}: oauth_scopes is a list of numbers`, ...route, payload: json({ ...body, oauth_scopes: [1, 2] }), status: 400, type: 'invalid_body' },
    { name: `${at}: oauth_client_id nested 5000 levels deep`, ...route, payload: withField({ ...body, oauth_client_id: undefined }, 'oauth_client_id', nestedJson(5_000)), status: 400, type: 'invalid_body' },
    { name: `${at}: a NUL in provider_config_key`, ...route, payload: json({ ...body, provider_config_key: 'github\u0000prod' }), status: 400 },
    { name: `${at}: a NUL in oauth_client_id`, ...route, payload: json({ ...body, oauth_client_id: 'cid\u0000' }), status: 400 },
    { name: `${at}: a NUL in oauth_client_secret`, ...route, payload: json({ ...body, oauth_client_secret: 'sec\u0000ret' }), status: 400 },
    { name: `${at}: a NUL in oauth_scopes`, ...route, payload: json({ ...body, oauth_scopes: 'repo\u0000' }), status: 400 },
  );
}

{
  const route = BODY_ROUTES[2]!;
  const at = `${route.method} ${route.url}`;
  const body = newConnection;
  const oauth1 = { connection_id: 'user-2', provider_config_key: 'github-prod', type: 'OAUTH1', oauth_token: 't', oauth_token_secret: 's' };
  cases.push(
    { name: `${at}: connection_id is a number`, ...route, payload: json({ ...body, connection_id: 42 }), status: 400, type: 'invalid_body' },
    { name: `${at}: connection_id is an object`, ...route, payload: json({ ...body, connection_id: { id: 'u' } }), status: 400, type: 'invalid_body' },
    { name: `${at}: provider_config_key is a list`, ...route, payload: json({ ...body, provider_config_key: ['github-prod'] }), status: 400, type: 'invalid_body' },
    { name: `${at}: type is a number`, ...route, payload: json({ ...body, type: 2 }), status: 400, type: 'invalid_body' },
    { name: `${at}: access_token is a number`, ...route, payload: json({ ...body, access_token: 123 }), status: 400, type: 'invalid_body' },
    { name: `${at}: refresh_token is a boolean`, ...route, payload: json({ ...body, refresh_token: false }), status: 400, type: 'invalid_body' },
    { name: `${at}: expires_at is not a date`, ...route, payload: json({ ...body, expires_at: 'tomorrow' }), status: 400, type: 'invalid_body' },
    { name: `${at}: expires_at is a number`, ...route, payload: json({ ...body, expires_at: 1_700_000_000 }), status: 400, type: 'invalid_body' },
    { name: `${at}: expires_in is a string`, ...route, payload: json({ ...body, expires_at: undefined, expires_in: '3600' }), status: 400, type: 'invalid_body' },
    { name: `${at}: expires_in is negative`, ...route, payload: json({ ...body, expires_at: undefined, expires_in: -5 }), status: 400, type: 'invalid_body' },
    { name: `${at}: expires_in is a fraction`, ...route, payload: json({ ...body, expires_at: undefined, expires_in: 1.5 }), status: 400, type: 'invalid_body' },
    { name: `${at}: expires_in beyond any representable date`, ...route, payload: json({ ...body, expires_at: undefined, expires_in: Number.MAX_SAFE_INTEGER }), status: 400 },
    { name: `${at}: metadata is a string`, ...route, payload: json({ ...body, metadata: 'x' }), status: 400, type: 'invalid_body' },
    { name: `${at}: metadata is a list`, ...route, payload: json({ ...body, metadata: [1, 2] }), status: 400, type: 'invalid_body' },
    { name: `${at}: connection_config is a number`, ...route, payload: json({ ...body, connection_config: 5 }), status: 400, type: 'invalid_body' },
    { name: `${at}: raw is a string`, ...route, payload: json({ ...body, raw: 'x' }), status: 400, type: 'invalid_body' },
    { name: `${at}: oauth_token is a number (OAUTH1)`, ...route, payload: json({ ...oauth1, oauth_token: 1 }), status: 400, type: 'invalid_body' },
    { name: `${at}: metadata nested 5000 levels deep`, ...route, payload: withField(body, 'metadata', nestedJson(5_000)), status: 400 },
    { name: `${at}: connection_config nested 5000 levels deep`, ...route, payload: withField(body, 'connection_config', nestedJson(5_000)), status: 400 },
    { name: `${at}: raw nested 5000 levels deep`, ...route, payload: withField(body, 'raw', nestedJson(5_000)), status: 400 },
    { name: `${at}: a NUL in connection_id`, ...route, payload: json({ ...body, connection_id: 'user\u00002' }), status: 400 },
    { name: `${at}: a NUL in provider_config_key`, ...route, payload: json({ ...body, provider_config_key: 'github-prod\u0000' }), status: 400 },
    { name: `${at}: a NUL in a metadata value`, ...route, payload: json({ ...body, metadata: { note: 'a\u0000b' } }), status: 400 },
    { name: `${at}: a NUL in a metadata key`, ...route, payload: json({ ...body, metadata: { 'a\u0000b': 1 } }), status: 400 },
    { name: `${at}: a NUL in a connection_config value`, ...route, payload: json({ ...body, connection_config: { subdomain: 'acme\u0000' } }), status: 400 },
  );
}

// Paths: ids that cannot be decoded or hold control characters (routes with a path parameter).
for (const route of [
  { method: 'GET', base: '/config/', query: '' },
  { method: 'DELETE', base: '/config/', query: '' },
  { method: 'GET', base: '/connection/', query: '?provider_config_key=github-prod' },
  { method: 'DELETE', base: '/connection/', query: '?provider_config_key=github-prod' },
] as const) {
  const at = `${route.method} ${route.base}:id`;
  cases.push(
    { name: `${at}: invalid percent-encoding (%E0%A4%A)`, method: route.method, url: `${route.base}%E0%A4%A${route.query}`, status: 400 },
    { name: `${at}: percent-encoding that is not UTF-8 (%C3%28)`, method: route.method, url: `${route.base}%C3%28${route.query}`, status: 400 },
    { name: `${at}: a NUL byte (%00)`, method: route.method, url: `${route.base}github-prod%00${route.query}`, status: 400 },
    { name: `${at}: a control character (%1F)`, method: route.method, url: `${route.base}user%1F1${route.query}`, status: 400 },
    { name: `${at}: an id of 5000 characters`, method: route.method, url: `${route.base}${'x'.repeat(5_000)}${route.query}` },
  );
}

// Query strings: very long values, repeated keys, NULs, unknown parameters (every route).
const LONG = 'k'.repeat(100_000);
cases.push(
  { name: 'GET /connection/:id: a 100 000-character provider_config_key', method: 'GET', url: `/connection/user-1?provider_config_key=${LONG}`, status: 400 },
  { name: 'DELETE /connection/:id: a 100 000-character provider_config_key', method: 'DELETE', url: `/connection/user-1?provider_config_key=${LONG}`, status: 400 },
  { name: 'GET /connection: a 100 000-character connectionId', method: 'GET', url: `/connection?connectionId=${LONG}`, status: 400 },
  { name: 'GET /config: a 100 000-character query string', method: 'GET', url: `/config?${LONG}=1`, status: 400 },
  { name: 'GET /connection/:id: provider_config_key given twice', method: 'GET', url: '/connection/user-1?provider_config_key=github-prod&provider_config_key=b', status: 400, type: 'invalid_query_params' },
  { name: 'DELETE /connection/:id: provider_config_key given twice', method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod&provider_config_key=github-prod', status: 400, type: 'invalid_query_params' },
  { name: 'GET /connection/:id: force_refresh given twice', method: 'GET', url: '/connection/user-1?provider_config_key=github-prod&force_refresh=false&force_refresh=false', status: 400, type: 'invalid_query_params' },
  { name: 'GET /connection: connectionId given twice', method: 'GET', url: '/connection?connectionId=user-1&connectionId=user-2', status: 400, type: 'invalid_query_params' },
  { name: 'GET /connection/:id: bracketed provider_config_key[]', method: 'GET', url: '/connection/user-1?provider_config_key[]=github-prod', status: 400 },
  { name: 'GET /connection/:id: a NUL in provider_config_key', method: 'GET', url: '/connection/user-1?provider_config_key=github-prod%00', status: 400 },
  { name: 'DELETE /connection/:id: a NUL in provider_config_key', method: 'DELETE', url: '/connection/user-1?provider_config_key=github%00prod', status: 400 },
  { name: 'GET /connection: a NUL in connectionId', method: 'GET', url: '/connection?connectionId=user-1%00', status: 400 },
  { name: 'GET /connection/:id: invalid percent-encoding in provider_config_key', method: 'GET', url: '/connection/user-1?provider_config_key=%E0%A4%A', status: 400 },
);
for (const route of ALL_ROUTES) {
  const valid = BODY_ROUTES.find((candidate) => candidate.method === route.method && candidate.url === route.url)?.valid;
  const separator = route.url.includes('?') ? '&' : '?';
  cases.push({
    name: `${route.method} ${route.url.split('?')[0]}: an unknown query parameter`,
    method: route.method,
    url: `${route.url}${separator}unexpected=1`,
    ...(valid ? { payload: json(valid) } : {}),
    status: 400,
    type: 'invalid_query_params',
  });
}

describe('every bad request answers a 4xx {error, type, payload} with a readable message and writes nothing', () => {
  it.each(cases.map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, testCase) => {
    const response = await test.app.inject({
      method: testCase.method,
      url: testCase.url,
      ...(testCase.payload !== undefined ? { payload: testCase.payload, headers: { 'content-type': testCase.contentType ?? 'application/json' } } : {}),
    });
    expectSeedError(response, { ...(testCase.status !== undefined ? { status: testCase.status } : {}), ...(testCase.type !== undefined ? { type: testCase.type } : {}) });
    expect(await takeSnapshot()).toEqual(snapshot);
  });

  it('leaves Object.prototype untouched after bodies with "__proto__" and "constructor" keys', async () => {
    await test.app.inject({ method: 'POST', url: '/config', payload: withField(newConfig, '__proto__', json({ polluted: true })), headers: { 'content-type': 'application/json' } });
    await test.app.inject({ method: 'POST', url: '/connection', payload: withField(newConnection, 'constructor', json({ prototype: { polluted: true } })), headers: { 'content-type': 'application/json' } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('still serves good requests after the sweep', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=github-prod' });
    expect(response.statusCode).toBe(200);
    expect(response.json().credentials.access_token).toBe('access-1');
  });
});

describe('a value of the wrong type is named as such, not as missing', () => {
  it.each([
    ['POST /connection with connection_id 42', 'POST', '/connection', { ...newConnection, connection_id: 42 }, 'connection_id'],
    ['POST /connection with expires_in "3600"', 'POST', '/connection', { ...newConnection, expires_at: undefined, expires_in: '3600' }, 'expires_in'],
    ['POST /connection with expires_in 1.5', 'POST', '/connection', { ...newConnection, expires_at: undefined, expires_in: 1.5 }, 'expires_in'],
    ['POST /connection with metadata "x"', 'POST', '/connection', { ...newConnection, metadata: 'x' }, 'metadata'],
    ['GET /connection/:id with provider_config_key given twice', 'GET', '/connection/user-1?provider_config_key=github-prod&provider_config_key=b', undefined, 'provider_config_key'],
    ['GET /connection with connectionId given twice', 'GET', '/connection?connectionId=a&connectionId=b', undefined, 'connectionId'],
  ] as const)('%s', async (_name, method, url, payload, field) => {
    const response = await test.app.inject({ method, url, ...(payload ? { payload } : {}) });
    expectSeedError(response, { status: 400 });
    const message = response.json().error as string;
    expect(message).toContain(field);
    expect(message).not.toMatch(/required/i);
  });
});

describe('unknown routes', () => {
  it.each([
    // A GET of an unknown page is the dashboard's (its single-page app routes); unknown API paths are 404s.
    ['GET', '/config/github-prod/extra/more'],
    ['POST', '/nope'],
    ['GET', '/config/github-prod/extra'],
    ['PATCH', '/config'],
    ['GET', '/connection/user-1/extra'],
    ['PUT', '/connection/user-1'],
  ] as const)('%s %s answers 404 not_found in the seed error shape', async (method, url) => {
    const response = await test.app.inject({ method, url });
    expectSeedError(response, { status: 404, type: 'not_found' });
    expect(response.json().error).toContain(url);
  });

  it('does not echo secret query parameters of an unknown route', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/config/a/b?access_token=very-secret' });
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toContain('very-secret');
  });
});

describe('with the database unreachable', () => {
  let proxy: TcpProxy;
  let app: FastifyInstance;
  let knex: ReturnType<typeof createKnex>;

  beforeAll(async () => {
    // The app must start with a database (its start-up hooks query it, as the server's migrations do); then the
    // database goes away: the proxy in front of it closes its port and cuts every connection.
    proxy = await createTcpProxy({ host: String(database.connection.host), port: Number(database.connection.port) });
    const connection = { ...database.connection, host: '127.0.0.1', port: proxy.port };
    knex = createKnex(connection, 0, 2);
    const url = `postgres://${encodeURIComponent(String(connection.user))}:${encodeURIComponent(String(connection.password))}@127.0.0.1:${proxy.port}/${String(connection.database)}`;
    const config = loadConfig({ NANGO_DATABASE_URL: url, NANGO_SECRET_KEY: 'sk' });
    app = await buildApp({ config, knex, cipher: undefined, providers: loadProviderCatalog(), logger: createLogger('silent') });
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/config', headers: { authorization: 'Bearer sk' } })).statusCode).toBe(200);
    await proxy.stop();
  });

  afterAll(async () => {
    await app?.close();
    await knex?.destroy();
    await proxy?.stop();
  });

  it.each([
    ['GET', '/config', undefined],
    ['GET', '/config/github-prod', undefined],
    ['POST', '/config', newConfig],
    ['GET', '/connection', undefined],
    ['GET', '/connection/user-1?provider_config_key=github-prod', undefined],
    ['POST', '/connection', newConnection],
    ['DELETE', '/connection/user-1?provider_config_key=github-prod', undefined],
  ] as const)('%s %s answers 503 database_unavailable within 10 s', async (method, url, payload) => {
    const started = Date.now();
    const response = await app.inject({ method, url, headers: { authorization: 'Bearer sk' }, ...(payload ? { payload } : {}) });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: expect.any(String), type: 'database_unavailable', payload: {} });
    expectReadable(response.json().error);
  });

  it('still answers /health without the database', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
  });

  it('serves again once the database is back', async () => {
    await proxy.start();
    const response = await app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=github-prod', headers: { authorization: 'Bearer sk' } });
    expect(response.statusCode).toBe(200);
    expect(response.json().credentials.access_token).toBe('access-1');
  });
});
