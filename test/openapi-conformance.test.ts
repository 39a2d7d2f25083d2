import type { AddressInfo } from 'node:net';
import { Nango } from '@nangohq/node';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { PUBLISHED_ERROR, PUBLISHED_OPERATIONS } from './support/nango-published-facts.js';
import { startRecordingForwarder, type Exchange, type RecordingForwarder } from './support/recording-forwarder.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';
import { startUpstream, type UpstreamServer } from './support/upstream-server.js';

/**
 * The OpenAPI document (`GET /openapi.json`) is built from the routes' own zod schemas. This spec holds it to the
 * server (every route is in it, and every answer the real clients get fits it) and to Nango's published
 * specification (the statuses and fields of the operations both servers share, written down in
 * test/support/nango-published-facts.ts).
 */
const SECRET_KEY = 'conformance-secret';
type Json = Record<string, unknown>;
let database: TestDatabase;
let test: TestApp;
let upstream: UpstreamServer;
let forwarder: RecordingForwarder;
let nango: Nango;
let document: Json;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

beforeAll(async () => {
  database = await createTestDatabase();
  upstream = await startUpstream();
  const { catalog } = catalogWith({ 'conformance-api': oidcTestProvider(upstream.origin) });
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY }, { providers: catalog });
  await test.app.listen({ port: 0, host: '127.0.0.1' });
  forwarder = await startRecordingForwarder(`http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`);
  nango = new Nango({ host: forwarder.origin, secretKey: SECRET_KEY });
  const response = await test.app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${SECRET_KEY}` } });
  expect(response.statusCode).toBe(200);
  document = response.json();
  await exerciseTheApi();
});

afterAll(async () => {
  await forwarder?.close();
  await test?.close();
  await upstream?.close();
  await database?.drop();
});

/** What a migrating backend does: the real SDK for what it offers, plain HTTP for the deprecated paths. */
async function exerciseTheApi(): Promise<void> {
  await nango.listProviders({});
  await nango.getProvider({ provider: 'github' });
  await nango.createIntegration({ provider: 'conformance-api', unique_key: 'api', credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret', scopes: 'read' } });
  await nango.createIntegration({ provider: 'github', unique_key: 'scratch', credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret' } });
  await nango.listIntegrations();
  await nango.getIntegration({ uniqueKey: 'api' }, { include: ['credentials', 'webhook'] });
  await nango.updateIntegration({ uniqueKey: 'scratch' }, { display_name: 'Scratch' });
  await nango.deleteIntegration('scratch');
  for (const connectionId of ['u1', 'u2']) {
    await http('POST', '/connections', { provider_config_key: 'api', connection_id: connectionId, credentials: { type: 'OAUTH2', access_token: `token-${connectionId}`, refresh_token: `refresh-${connectionId}` } });
  }
  await nango.listConnections();
  await nango.getConnection('api', 'u1');
  await nango.getToken('api', 'u1');
  await nango.setMetadata('api', 'u1', { plan: 'pro' });
  await nango.updateMetadata('api', ['u1', 'u2'], { seats: 3 });
  await nango.patchConnection({ connectionId: 'u1', provider_config_key: 'api' }, { tags: { team: 'core' } });
  await nango.get({ endpoint: '/v1/me', providerConfigKey: 'api', connectionId: 'u1' });
  const session = await nango.createConnectSession({ end_user: { id: 'eu-1', email: 'eu@example.com' }, allowed_integrations: ['api'] });
  await nango.createReconnectSession({ connection_id: 'u1', integration_id: 'api', end_user: { id: 'eu-1' } });
  await http('GET', '/connect/session', undefined, `Bearer ${session.data.token}`);
  await http('DELETE', '/connect/session', undefined, `Bearer ${session.data.token}`);
  // The deprecated paths, as older backends call them.
  await http('GET', '/connection');
  await http('GET', '/connection/u1?provider_config_key=api');
  await http('POST', '/connection/metadata', { connection_id: 'u1', provider_config_key: 'api', metadata: { plan: 'team' } });
  await http('PATCH', '/connection/metadata', { connection_id: ['u1', 'u2'], provider_config_key: 'api', metadata: { seats: 4 } });
  await http('POST', '/connection/u1/metadata', { plan: 'pro' }, undefined, { 'provider-config-key': 'api' });
  await http('PATCH', '/connection/u1/metadata', { seats: 5 }, undefined, { 'provider-config-key': 'api' });
  await http('POST', '/connection', { connection_id: 'u3', provider_config_key: 'api', access_token: 'token-u3' });
  await http('DELETE', '/connection/u3?provider_config_key=api');
  await nango.deleteConnection('api', 'u2');
  // Errors a client meets.
  await http('GET', '/connections/nobody?provider_config_key=api');
  await http('GET', '/integrations/nobody');
  await http('POST', '/integrations', { provider: 'github' });
  await http('GET', '/connections', undefined, 'Bearer wrong-key');
  await http('GET', '/connection/nobody?provider_config_key=api');
  await http('GET', '/config/nobody');
}

async function http(method: string, path: string, body?: unknown, authorization = `Bearer ${SECRET_KEY}`, headers: Record<string, string> = {}): Promise<void> {
  await fetch(`${forwarder.origin}${path}`, {
    method,
    headers: { authorization, ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The document's operation whose path template matches a request path. */
function operationFor(method: string, path: string): { template: string; operation: Json } | undefined {
  const paths = document['paths'] as Record<string, Record<string, Json>>;
  const templates = Object.keys(paths).sort((a, b) => (a.includes('{') ? 1 : 0) - (b.includes('{') ? 1 : 0));
  for (const template of templates) {
    const pattern = new RegExp(`^${template.replace(/\{path\}/, '.+').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    const operation = paths[template]?.[method.toLowerCase()];
    if (operation && pattern.test(path)) return { template, operation };
  }
  return undefined;
}

const validators = new Map<unknown, ValidateFunction>();
function validatorOf(schema: Json): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    // The document's components travel with the schema, so its `#/components/schemas/…` references resolve.
    validate = ajv.compile({ ...schema, components: document['components'] });
    validators.set(schema, validate);
  }
  return validate;
}

function jsonSchemaOf(operation: Json, status: number): Json | undefined {
  const response = (operation['responses'] as Record<string, Json>)[String(status)];
  return (response?.['content'] as Record<string, { schema?: Json }> | undefined)?.['application/json']?.schema;
}

function describeExchange(exchange: Exchange): string {
  return `${exchange.method} ${exchange.path} → ${exchange.status}`;
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and names this server', () => {
    expect(document['openapi']).toBe('3.1.0');
    expect(document['servers']).toEqual([{ url: test.config.serverUrl }]);
  });

  it('describes every route of the API the server registers, and nothing it does not serve', () => {
    const undocumented = test.app.routeList
      .filter(({ method }) => ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method))
      .filter(({ url }) => !/^\/api\/v1\//.test(url) && !url.startsWith('/docs/') && url !== '/proxy' && !isWebPage(url) && !isNotSupported(url))
      .map(({ method, url }) => `${method} ${url.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\/\*$/, '/{path}')}`)
      .filter((route) => {
        const [method = '', path = ''] = route.split(' ');
        return !(document['paths'] as Record<string, Json>)[path]?.[method.toLowerCase()];
      });
    expect(undocumented).toEqual([]);
    const registered = new Set(test.app.routeList.map(({ method, url }) => `${method} ${url.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\/\*$/, '/{path}')}`));
    const unserved = Object.entries(document['paths'] as Record<string, Json>).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`)).filter((route) => !registered.has(route));
    expect(unserved).toEqual([]);
  });

  it('has a schema for every JSON answer that compiles as JSON Schema 2020-12', () => {
    for (const operations of Object.values(document['paths'] as Record<string, Record<string, Json>>)) {
      for (const operation of Object.values(operations)) {
        for (const status of Object.keys(operation['responses'] as Json)) {
          const schema = jsonSchemaOf(operation, Number(status));
          if (schema) expect(() => validatorOf(schema)).not.toThrow();
        }
      }
    }
  });

  it('holds no secret: neither the server\'s key nor any example value', () => {
    const text = JSON.stringify(document);
    expect(text).not.toContain(SECRET_KEY);
    expect(text).not.toMatch(/"examples?"\s*:/);
  });
});

describe('what the clients got', () => {
  it('every request the real @nangohq/node and the plain HTTP calls made is an operation of the document, answered with a status it lists', () => {
    expect(forwarder.exchanges.length).toBeGreaterThan(30);
    const misfits = forwarder.exchanges
      .map((exchange) => ({ exchange, found: operationFor(exchange.method, exchange.path) }))
      .filter(({ exchange, found }) => !found || !(found.operation['responses'] as Json)[String(exchange.status)])
      .map(({ exchange }) => describeExchange(exchange));
    expect(misfits).toEqual([]);
  });

  it('every JSON answer fits the document\'s schema for its status', () => {
    const misfits: string[] = [];
    for (const exchange of forwarder.exchanges) {
      const found = operationFor(exchange.method, exchange.path);
      const schema = found && jsonSchemaOf(found.operation, exchange.status);
      if (!schema || !exchange.contentType.includes('json')) continue;
      const validate = validatorOf(schema);
      if (!validate(JSON.parse(exchange.body))) misfits.push(`${describeExchange(exchange)}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(misfits).toEqual([]);
  });
});

describe('Nango\'s published specification', () => {
  it('every shared operation the clients called answered the published success status and fields', () => {
    const misfits: string[] = [];
    const seen = new Set<string>();
    for (const exchange of forwarder.exchanges) {
      const found = operationFor(exchange.method, exchange.path);
      const published = found && PUBLISHED_OPERATIONS[`${exchange.method} ${found.template}`];
      if (!found || !published || exchange.status >= 400) continue;
      seen.add(`${exchange.method} ${found.template}`);
      if (exchange.status !== published.status) misfits.push(`${describeExchange(exchange)}: published ${published.status}`);
      if (!published.schema) continue;
      const validate = ajv.compile(published.schema);
      if (!validate(JSON.parse(exchange.body))) misfits.push(`${describeExchange(exchange)}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(misfits).toEqual([]);
    expect([...seen].sort()).toEqual(Object.keys(PUBLISHED_OPERATIONS).sort());
  });

  it('the document lists the published success status of every shared operation, and requires the published fields', () => {
    const misfits: string[] = [];
    for (const [key, published] of Object.entries(PUBLISHED_OPERATIONS)) {
      const [method = '', path = ''] = key.split(' ');
      const operation = (document['paths'] as Record<string, Record<string, Json>>)[path]?.[method.toLowerCase()];
      if (!operation || !(operation['responses'] as Json)[String(published.status)]) {
        misfits.push(`${key}: no ${published.status} in the document`);
        continue;
      }
      const required = (published.schema?.['required'] ?? []) as string[];
      const ours = resolve(jsonSchemaOf(operation, published.status));
      const missing = required.filter((field) => !((ours?.['required'] ?? []) as string[]).includes(field));
      if (missing.length > 0) misfits.push(`${key}: the document does not require ${missing.join(', ')}`);
    }
    expect(misfits).toEqual([]);
  });

  it('every modern error answered has Nango\'s StdError shape', () => {
    const modernErrors = forwarder.exchanges.filter((exchange) => exchange.status >= 400 && !exchange.path.startsWith('/config') && !/^\/connection\/(?!metadata)[^/]+$/.test(exchange.path) && exchange.path !== '/connection');
    expect(modernErrors.length).toBeGreaterThanOrEqual(4);
    const validate = ajv.compile(PUBLISHED_ERROR);
    expect(modernErrors.filter((exchange) => !validate(JSON.parse(exchange.body))).map(describeExchange)).toEqual([]);
  });
});

/** A schema, or the component it references. */
function resolve(schema: Json | undefined): Json | undefined {
  const ref = schema?.['$ref'];
  if (typeof ref !== 'string') return schema;
  return ((document['components'] as Json)['schemas'] as Record<string, Json>)[ref.replace('#/components/schemas/', '')];
}

function isWebPage(url: string): boolean {
  return url === '/' || url === '/*' || url.startsWith('/connect') && !url.startsWith('/connect/session') || url.startsWith('/assets');
}

function isNotSupported(url: string): boolean {
  return /^\/(records|sync|action|scripts|environment-variables|flow)\b/.test(url) || url.startsWith('/integrations/:uniqueKey/functions') || url === '/integrations/quickstart' || url === '/providers/:provider/templates';
}
