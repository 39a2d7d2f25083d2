import { Nango } from '@nangohq/node';
import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import { Nango as SeedNango } from 'nango-node-016';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigsStore } from '../src/store/configs-store.js';
import type { StoredCredentials } from '../src/credentials/registry.js';
import { ConnectionsStore } from '../src/store/connections-store.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { buildTestApp, listenOnLoopback } from './support/test-app.js';
import type { TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { echoJson, startUpstream, type SeenRequest, type UpstreamServer } from './support/upstream-server.js';

/**
 * `ALL /proxy/*` against provider APIs played by local servers: credentials per auth mode, bodies streamed
 * both ways, retries, timeouts, redirects, Base-Url-Override, and both SDK generations.
 */
const SECRET = 'secret';
const TIMEOUT_MS = 1_500;
let database: TestDatabase;
let test: TestApp;
let host: string;
let api: UpstreamServer; // the providers' API
let allowed: UpstreamServer; // a host the operator allows for Base-Url-Override
let other: UpstreamServer; // a host nobody allowed
let deadPort: number;

beforeAll(async () => {
  [api, allowed, other] = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
  deadPort = await freePort();
  database = await createTestDatabase();
  const docs = 'https://example.com/docs';
  const oauth2 = { display_name: 'Proxy OAuth2', auth_mode: 'OAUTH2', authorization_url: `${api.origin}/authorize`, token_url: `${api.origin}/token`, docs };
  const { catalog } = catalogWith({
    'proxy-oauth2': { ...oauth2, proxy: { base_url: `${api.origin}/api/` } },
    'proxy-legacy': { ...oauth2, base_api_url: `${api.origin}/legacy` },
    'proxy-nobase': { ...oauth2 },
    'proxy-ratelimited': { ...oauth2, proxy: { base_url: api.origin, retry: { error_code: 403, remaining: 'x-ratelimit-remaining', at: 'x-ratelimit-reset' } } },
    'proxy-dead': { ...oauth2, proxy: { base_url: `http://127.0.0.1:${deadPort}` } },
    'proxy-key-header': { display_name: 'Key in a header', auth_mode: 'API_KEY', docs, proxy: { base_url: api.origin, headers: { 'X-Api-Key': '${apiKey}' } } },
    'proxy-key-query': { display_name: 'Key in the query', auth_mode: 'API_KEY', docs, proxy: { base_url: api.origin, query: { api_key: '${apiKey}' } } },
    'proxy-key-plain': { display_name: 'Key, no template headers', auth_mode: 'API_KEY', docs, proxy: { base_url: api.origin } },
    'proxy-basic': { display_name: 'Basic', auth_mode: 'BASIC', docs, proxy: { base_url: api.origin } },
    'proxy-cc': { display_name: 'Client credentials', auth_mode: 'OAUTH2_CC', token_url: `${api.origin}/token`, docs, proxy: { base_url: api.origin } },
    'proxy-none': { display_name: 'Public API', auth_mode: 'NONE', docs, proxy: { base_url: `${api.origin}/tenants/\${connectionConfig.tenant}`, headers: { 'x-tenant': '${connectionConfig.tenant}' } } },
  });
  const env = { NANGO_SECRET_KEY: SECRET, NANGO_PROXY_TIMEOUT_MS: String(TIMEOUT_MS), NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS: allowed.host };
  test = await buildTestApp(database, env, { providers: catalog, providerTimeoutMs: 2_000 });
  host = await listenOnLoopback(test);

  const configs = new ConfigsStore(database.knex, undefined);
  for (const [key, provider] of [['oauth2', 'proxy-oauth2'], ['legacy', 'proxy-legacy'], ['nobase', 'proxy-nobase'], ['dead', 'proxy-dead'], ['ratelimited', 'proxy-ratelimited']]) {
    const created = await send('/config', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider_config_key: key, provider, oauth_client_id: 'consumer-key', oauth_client_secret: 'consumer-secret', oauth_scopes: 'read' }) });
    expect(created.status).toBe(200);
  }
  for (const [key, provider] of [['key-header', 'proxy-key-header'], ['key-query', 'proxy-key-query'], ['key-plain', 'proxy-key-plain'], ['basic', 'proxy-basic'], ['cc', 'proxy-cc'], ['none', 'proxy-none']] as const) {
    await configs.insert(key, { provider, oauth_client_id: null, oauth_client_secret: null, oauth_scopes: null });
  }
  for (const key of ['oauth2', 'legacy', 'nobase', 'dead', 'ratelimited']) await importOAuth2(key, 'u1', { access_token: `token-${key}` });
  const connections = new ConnectionsStore(database.knex, undefined);
  const stored: [string, StoredCredentials, Record<string, unknown>][] = [
    ['key-header', { type: 'API_KEY', apiKey: 'key-123' }, {}],
    ['key-query', { type: 'API_KEY', apiKey: 'key-456' }, {}],
    ['key-plain', { type: 'API_KEY', apiKey: 'key-789' }, {}],
    ['basic', { type: 'BASIC', username: 'ada', password: 'pa:ss' }, {}],
    ['cc', { type: 'OAUTH2_CC', token: 'cc-token', expires_at: new Date(Date.now() + 3_600_000).toISOString(), client_id: 'id', client_secret: 'secret', raw: {} }, {}],
    ['none', { type: 'NONE' }, { tenant: 'acme' }],
  ];
  for (const [key, credentials, connectionConfig] of stored) {
    await connections.upsert({ provider_config_key: key, connection_id: 'u1', credentials, connection_config: connectionConfig, metadata: {} });
  }
});

afterAll(async () => {
  await test?.close();
  await Promise.all([api?.close(), allowed?.close(), other?.close()]);
  await database?.drop();
});

beforeEach(() => {
  for (const upstream of [api, allowed, other]) {
    upstream.requests.length = 0;
    upstream.answer = echoJson;
  }
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** A raw HTTP call to our server: the path is sent byte for byte, bodies are not decoded, any method works. */
function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | string; chunks?: Buffer[]; chunkDelayMs?: number } = {}): Promise<Answer> {
  const started = Date.now();
  const url = new URL(host);
  // Node frames a DELETE or OPTIONS body only when told how: say it explicitly for every method.
  const framing: Record<string, string> = init.chunks ? { 'transfer-encoding': 'chunked' } : init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {};
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, path, method: init.method ?? 'GET', headers: { authorization: `Bearer ${SECRET}`, ...framing, ...init.headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), ms: Date.now() - started }));
      },
    );
    request.on('error', reject);
    if (init.chunks) {
      const chunks = [...init.chunks];
      const next = (): void => {
        const chunk = chunks.shift();
        if (!chunk) return void request.end();
        request.write(chunk);
        if (init.chunkDelayMs) setTimeout(next, init.chunkDelayMs);
        else next();
      };
      next();
    } else request.end(init.body);
  });
}

function proxyHeaders(key: string, connectionId = 'u1', extra: Record<string, string> = {}): Record<string, string> {
  return { 'connection-id': connectionId, 'provider-config-key': key, ...extra };
}

async function importOAuth2(key: string, connectionId: string, fields: Record<string, unknown>): Promise<void> {
  const response = await send('/connection', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ connection_id: connectionId, provider_config_key: key, type: 'OAUTH2', ...fields }) });
  expect(response.status).toBe(201);
}

const json = (answer: Answer): Record<string, unknown> => JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const only = (): SeenRequest => {
  expect(api.requests).toHaveLength(1);
  return api.requests[0] as SeenRequest;
};

describe('the upstream request', () => {
  it('joins the base URL and the path and forwards the query string as it came', async () => {
    const answer = await send('/proxy/items/42%2F7?q=a%20b&tag=1&tag=2&empty=', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(200);
    const seen = only();
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/api/items/42%2F7?q=a%20b&tag=1&tag=2&empty=');
    expect(seen.headers.authorization).toBe('Bearer token-oauth2');
  });

  it('relays long paths (beyond the router\'s parameter limit)', async () => {
    const long = `${'segment/'.repeat(400)}end`;
    expect((await send(`/proxy/${long}`, { headers: proxyHeaders('oauth2') })).status).toBe(200);
    expect(only().url).toBe(`/api/${long}`);
  });

  it('trims extra slashes, uses the legacy base_api_url, and proxies /proxy itself to the base URL', async () => {
    await send('/proxy//nested/', { headers: proxyHeaders('legacy') });
    await send('/proxy', { headers: proxyHeaders('oauth2') });
    expect(api.requests.map((request) => request.url)).toEqual(['/legacy/nested/', '/api/']);
  });

  it('forwards Nango-Proxy-* headers and Content-Type, and none of the caller\'s own headers', async () => {
    await send('/proxy/echo', {
      method: 'POST',
      headers: proxyHeaders('oauth2', 'u1', {
        'content-type': 'text/plain',
        'nango-proxy-x-trace': 'abc',
        'nango-proxy-accept': 'application/vnd.test+json',
        cookie: 'session=1',
        'x-private': 'do not forward',
        retries: '0',
        'user-agent': 'caller-agent',
      }),
      body: 'hello',
    });
    const seen = only();
    expect(seen.headers).toMatchObject({ 'x-trace': 'abc', accept: 'application/vnd.test+json', 'content-type': 'text/plain', authorization: 'Bearer token-oauth2' });
    for (const name of ['cookie', 'x-private', 'connection-id', 'provider-config-key', 'retries', 'nango-proxy-x-trace']) expect(seen.headers).not.toHaveProperty(name);
    expect(seen.headers['user-agent']).toMatch(/^custody-proxy\//);
    expect(seen.headers.host).toBe(api.host);
  });

  it('lets Nango-Proxy-User-Agent replace the default User-Agent but refuses Nango-Proxy-Host', async () => {
    await send('/proxy/ua', { headers: proxyHeaders('oauth2', 'u1', { 'nango-proxy-user-agent': 'my-app/1.0' }) });
    expect(only().headers['user-agent']).toBe('my-app/1.0');
    const refused = await send('/proxy/ua', { headers: proxyHeaders('oauth2', 'u1', { 'nango-proxy-host': 'evil.example' }) });
    expect(refused.status).toBe(400);
    expect(json(refused)).toMatchObject({ type: 'invalid_headers' });
  });

  it('sends a JSON body unchanged', async () => {
    const body = JSON.stringify({ name: 'Ada', nested: { list: [1, 2, 3] }, unicode: 'é✓' });
    await send('/proxy/people', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/json' }), body });
    const seen = only();
    expect(seen.method).toBe('POST');
    expect(seen.body.toString('utf8')).toBe(body);
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('relays any method: PROPFIND with a body, REPORT, OPTIONS, DELETE with a body; TRACE is refused', async () => {
    const xml = '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>';
    await send('/proxy/dav/calendars/', { method: 'PROPFIND', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/xml', 'nango-proxy-depth': '1' }), body: xml });
    await send('/proxy/dav/calendars/', { method: 'REPORT', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/xml' }), body: xml });
    await send('/proxy/things', { method: 'OPTIONS', headers: proxyHeaders('oauth2') });
    await send('/proxy/things/1', { method: 'DELETE', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/json' }), body: '{"reason":"test"}' });
    expect(api.requests.map((request) => [request.method, request.body.toString('utf8')])).toEqual([
      ['PROPFIND', xml],
      ['REPORT', xml],
      ['OPTIONS', ''],
      ['DELETE', '{"reason":"test"}'],
    ]);
    expect(api.requests[0]?.headers['depth']).toBe('1');
    const trace = await send('/proxy/things', { method: 'TRACE', headers: proxyHeaders('oauth2') });
    expect(trace.status).toBe(405);
    expect(api.requests).toHaveLength(4);
  });
});

describe('bodies', () => {
  it('streams a 5 MB binary body upstream and a 5 MB binary answer back, byte for byte', async () => {
    const payload = randomBytes(5 * 1024 * 1024);
    api.answer = (request, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(request.body.length) }).end(request.body);
    const answer = await send('/proxy/blobs', { method: 'PUT', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/octet-stream' }), body: payload });
    expect(answer.status).toBe(200);
    expect(sha256(only().body)).toBe(sha256(payload));
    expect(answer.body.length).toBe(payload.length);
    expect(sha256(answer.body)).toBe(sha256(payload));
    expect(answer.headers['content-type']).toBe('application/octet-stream');
  });

  it('streams a chunked upload (no Content-Length) unchanged', async () => {
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
    const answer = await send('/proxy/upload', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/octet-stream' }), chunks });
    expect(answer.status).toBe(200);
    expect(sha256(only().body)).toBe(sha256(Buffer.concat(chunks)));
  });
});

describe('the upstream answer', () => {
  it('comes back with its status, its headers minus hop-by-hop ones, and its body', async () => {
    api.answer = (_request, res) => {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.writeHead(201, { 'content-type': 'text/csv', 'x-ratelimit-remaining': '41', etag: '"v1"', connection: 'keep-alive, x-hop', 'x-hop': 'private', 'keep-alive': 'timeout=5' }).end('id,name\n1,Ada\n');
    };
    const answer = await send('/proxy/report.csv', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(201);
    expect(answer.body.toString()).toBe('id,name\n1,Ada\n');
    expect(answer.headers).toMatchObject({ 'content-type': 'text/csv', 'x-ratelimit-remaining': '41', etag: '"v1"', 'set-cookie': ['a=1', 'b=2'] });
    expect(answer.headers).not.toHaveProperty('x-hop');
    expect(answer.headers['keep-alive']).not.toBe('timeout=5');
  });

  it('passes upstream errors through as they are (status and body), not as proxy errors', async () => {
    api.answer = (_request, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
    const answer = await send('/proxy/missing', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(404);
    expect(json(answer)).toEqual({ message: 'Not Found' });
  });

  it('answers 502 for a status HTTP does not allow', async () => {
    api.answer = (_request, res) => res.writeHead(999).end('denied');
    const answer = await send('/proxy/odd', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(502);
    expect(json(answer)).toMatchObject({ type: 'upstream_unreachable' });
  });

  it('relays HEAD (headers only) and 204', async () => {
    api.answer = (request, res) => (request.method === 'HEAD' ? res.writeHead(200, { 'content-length': '1234', 'x-kind': 'head' }).end() : res.writeHead(204).end());
    const head = await send('/proxy/file', { method: 'HEAD', headers: proxyHeaders('oauth2') });
    expect(head.status).toBe(200);
    expect(head.headers).toMatchObject({ 'content-length': '1234', 'x-kind': 'head' });
    const empty = await send('/proxy/file', { method: 'DELETE', headers: proxyHeaders('oauth2') });
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
  });

  it('passes compressed bodies through untouched, and decodes them with Decompress: true', async () => {
    const text = 'compressible text '.repeat(500);
    const gzipped = gzipSync(text);
    api.answer = (_request, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': String(gzipped.length) }).end(gzipped);
    const raw = await send('/proxy/text', { headers: proxyHeaders('oauth2') });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.body.equals(gzipped)).toBe(true);
    expect(api.requests[0]?.headers['accept-encoding']).toBeUndefined();
    const decoded = await send('/proxy/text', { headers: proxyHeaders('oauth2', 'u1', { decompress: 'true' }) });
    expect(decoded.status).toBe(200);
    expect(decoded.headers).not.toHaveProperty('content-encoding');
    expect(decoded.body.toString()).toBe(text);
    expect(api.requests[1]?.headers['accept-encoding']).toBe('gzip, deflate, br');
  });
});

describe('credentials per auth mode', () => {
  it('OAUTH2: a token that expires within 15 minutes is refreshed before the call', async () => {
    await importOAuth2('oauth2', 'expiring', { access_token: 'old-token', refresh_token: 'refresh-1', expires_at: new Date(Date.now() + 60_000).toISOString() });
    api.answer = (request, res) => {
      if (request.url === '/token') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'new-token', refresh_token: 'refresh-2', expires_in: 3600 }));
      echoJson(request, res);
    };
    await send('/proxy/me', { headers: proxyHeaders('oauth2', 'expiring') });
    expect(api.requests.map((request) => request.url)).toEqual(['/token', '/api/me']);
    expect(api.requests[1]?.headers.authorization).toBe('Bearer new-token');
  });

  it('a call after the credentials changed carries the new ones, not those the previous calls were sent with', async () => {
    await importOAuth2('oauth2', 'rotated', { access_token: 'first-token' });
    await send('/proxy/one', { headers: proxyHeaders('oauth2', 'rotated') });
    await send('/proxy/two', { headers: proxyHeaders('oauth2', 'rotated') });
    await importOAuth2('oauth2', 'rotated', { access_token: 'second-token' });
    await send('/proxy/three', { headers: proxyHeaders('oauth2', 'rotated') });
    expect(api.requests.map((request) => request.headers.authorization)).toEqual(['Bearer first-token', 'Bearer first-token', 'Bearer second-token']);
  });

  it('API_KEY: the template\'s header, the template\'s query parameter, or Bearer without template auth', async () => {
    await send('/proxy/a', { headers: proxyHeaders('key-header') });
    await send('/proxy/b?page=2', { headers: proxyHeaders('key-query') });
    await send('/proxy/c', { headers: proxyHeaders('key-plain') });
    const [header, query, plain] = api.requests;
    expect(header?.headers['x-api-key']).toBe('key-123');
    expect(header?.headers.authorization).toBeUndefined();
    expect(query?.url).toBe('/b?page=2&api_key=key-456');
    expect(query?.headers.authorization).toBeUndefined();
    expect(plain?.headers.authorization).toBe('Bearer key-789');
  });

  it('BASIC, OAUTH2_CC and NONE (with connection_config interpolated into the base URL and headers)', async () => {
    await send('/proxy/basic', { headers: proxyHeaders('basic') });
    await send('/proxy/cc', { headers: proxyHeaders('cc') });
    await send('/proxy/public', { headers: proxyHeaders('none') });
    const [basic, cc, none] = api.requests;
    expect(basic?.headers.authorization).toBe(`Basic ${Buffer.from('ada:pa:ss').toString('base64')}`);
    expect(cc?.headers.authorization).toBe('Bearer cc-token');
    expect(none?.url).toBe('/tenants/acme/public');
    expect(none?.headers['x-tenant']).toBe('acme');
    expect(none?.headers.authorization).toBeUndefined();
  });
});

describe('retries', () => {
  function flaky(failures: number, status = 503, headers: Record<string, string> = {}): void {
    let left = failures;
    api.answer = (request, res) => {
      if (left-- > 0) return void res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('try later');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, body: request.body.toString() }));
    };
  }

  it('retries 503s with backoff up to the Retries header, resending the same body', async () => {
    flaky(2);
    const answer = await send('/proxy/flaky', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { retries: '3', 'content-type': 'application/json' }), body: '{"n":1}' });
    expect(answer.status).toBe(200);
    expect(json(answer)).toEqual({ ok: true, body: '{"n":1}' });
    expect(api.requests).toHaveLength(3);
    expect(api.requests.map((request) => request.body.toString())).toEqual(['{"n":1}', '{"n":1}', '{"n":1}']);
    expect(answer.ms).toBeGreaterThanOrEqual(250); // 100 ms + 200 ms of backoff
  });

  it('does not retry without a Retries header (the SDK default is 0)', async () => {
    flaky(1);
    const answer = await send('/proxy/flaky', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(503);
    expect(answer.body.toString()).toBe('try later');
    expect(api.requests).toHaveLength(1);
  });

  it('gives the last failure back when the retries run out', async () => {
    flaky(5, 500);
    const answer = await send('/proxy/flaky', { headers: proxyHeaders('oauth2', 'u1', { retries: '2' }) });
    expect(answer.status).toBe(500);
    expect(api.requests).toHaveLength(3);
  });

  it('honours Retry-After on a 429', async () => {
    flaky(1, 429, { 'retry-after': '1' });
    const answer = await send('/proxy/limited', { headers: proxyHeaders('oauth2', 'u1', { retries: '1' }) });
    expect(answer.status).toBe(200);
    expect(api.requests).toHaveLength(2);
    expect(answer.ms).toBeGreaterThanOrEqual(950);
  });

  it('answers at once when Retry-After asks for more than the proxy waits', async () => {
    flaky(1, 429, { 'retry-after': '120' });
    const answer = await send('/proxy/limited', { headers: proxyHeaders('oauth2', 'u1', { retries: '3' }) });
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('120');
    expect(api.requests).toHaveLength(1);
    expect(answer.ms).toBeLessThan(1_000);
  });

  it('retries the statuses named in Retry-On, and not 4xx otherwise', async () => {
    flaky(1, 404);
    expect((await send('/proxy/eventually', { headers: proxyHeaders('oauth2', 'u1', { retries: '1', 'retry-on': '404,409' }) })).status).toBe(200);
    flaky(1, 404);
    expect((await send('/proxy/eventually', { headers: proxyHeaders('oauth2', 'u1', { retries: '1' }) })).status).toBe(404);
    expect(api.requests).toHaveLength(3);
  });

  it('retries a small chunked body (buffered), but streams a body over the buffer limit once, without retries', async () => {
    flaky(1);
    const small = [Buffer.from('part-1,'), Buffer.from('part-2')];
    const retried = await send('/proxy/chunked', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { retries: '2', 'content-type': 'text/plain' }), chunks: small });
    expect(retried.status).toBe(200);
    expect(api.requests.map((request) => request.body.toString())).toEqual(['part-1,part-2', 'part-1,part-2']);

    api.requests.length = 0;
    flaky(1);
    const large = Array.from({ length: 48 }, () => randomBytes(64 * 1024)); // 3 MiB, above the 1 MiB replay buffer
    const once = await send('/proxy/chunked', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { retries: '2', 'content-type': 'application/octet-stream' }), chunks: large });
    expect(once.status).toBe(503);
    expect(api.requests).toHaveLength(1);
    expect(sha256(api.requests[0]?.body ?? Buffer.alloc(0))).toBe(sha256(Buffer.concat(large)));
  });

  it('retries the template\'s rate-limit status only while its "remaining" header reads 0, until its reset time', async () => {
    let calls = 0;
    api.answer = (request, res) => {
      calls++;
      if (calls === 1) return void res.writeHead(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000)) }).end('rate limited');
      if (calls === 2) return void res.writeHead(403, { 'x-ratelimit-remaining': '12' }).end('really forbidden');
      echoJson(request, res);
    };
    const answer = await send('/proxy/repos', { headers: proxyHeaders('ratelimited', 'u1', { retries: '3' }) });
    expect(answer.status).toBe(403);
    expect(answer.body.toString()).toBe('really forbidden');
    expect(api.requests).toHaveLength(2);
  });

  it('caps Retries at 10', async () => {
    api.answer = (_request, res) => res.writeHead(503).end();
    const answer = await send('/proxy/down', { headers: proxyHeaders('oauth2', 'u1', { retries: '50', 'retry-on': '' }) });
    expect([503, 504]).toContain(answer.status);
    expect(api.requests.length).toBeLessThanOrEqual(11);
  });

  it('rejects a malformed Retries or Retry-On header', async () => {
    const malformed: Record<string, string>[] = [{ retries: 'many' }, { retries: '-1' }, { 'retry-on': '404,abc' }, { decompress: 'maybe' }];
    for (const headers of malformed) {
      const answer = await send('/proxy/x', { headers: proxyHeaders('oauth2', 'u1', headers) });
      expect(answer.status).toBe(400);
      expect(json(answer)).toMatchObject({ type: 'invalid_headers' });
    }
    expect(api.requests).toHaveLength(0);
  });
});

describe('timeouts and unreachable upstreams', () => {
  it('answers 504 upstream_timeout when the upstream does not answer in time', async () => {
    api.answer = () => undefined;
    const answer = await send('/proxy/slow', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(504);
    expect(json(answer)).toMatchObject({ type: 'upstream_timeout', payload: {} });
    expect(String(json(answer)['error'])).toContain('1.5 s');
    expect(answer.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(answer.ms).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('retries do not extend the deadline', async () => {
    api.answer = (_request, res) => void setTimeout(() => res.writeHead(503).end(), 600);
    const answer = await send('/proxy/slow', { headers: proxyHeaders('oauth2', 'u1', { retries: '10' }) });
    expect([503, 504]).toContain(answer.status);
    expect(answer.ms).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('cuts a body that stalls half-way', async () => {
    api.answer = (_request, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first half…');
    };
    await expect(send('/proxy/stall', { headers: proxyHeaders('oauth2') })).rejects.toThrow();
  });

  it('bounds a slow upload by inactivity, not by its total duration', async () => {
    const chunks = Array.from({ length: 4 }, (_, index) => Buffer.from(`chunk-${index};`));
    const answer = await send('/proxy/slow-upload', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'text/plain' }), chunks, chunkDelayMs: 600 });
    expect(answer.status).toBe(200);
    expect(answer.ms).toBeGreaterThan(TIMEOUT_MS);
    expect(only().body.toString()).toBe('chunk-0;chunk-1;chunk-2;chunk-3;');
  });

  it('answers 502 when the upstream drops the connection before the body', async () => {
    api.answer = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000', 'content-encoding': 'gzip' });
      res.flushHeaders();
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const answer = await send('/proxy/broken', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(502);
    expect(answer.headers['content-type']).toContain('application/json');
    expect(answer.headers).not.toHaveProperty('content-encoding');
    expect(json(answer)).toMatchObject({ type: 'upstream_unreachable' });
  });

  it('answers 502 when a small body breaks before its declared length arrives', async () => {
    api.answer = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const answer = await send('/proxy/half', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(502);
    expect(json(answer)).toMatchObject({ type: 'upstream_unreachable' });
  });

  it('answers 504 when a small body stalls before its declared length arrives', async () => {
    api.answer = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":');
    };
    const answer = await send('/proxy/half-stalled', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(504);
    expect(json(answer)).toMatchObject({ type: 'upstream_timeout' });
  });

  it('relays a small answer whole, with its own length and type', async () => {
    api.answer = (_request, res) => res.writeHead(201, { 'content-type': 'application/vnd.api+json', 'content-length': '11', 'x-request-id': 'r-1' }).end('{"ok":true}');
    const answer = await send('/proxy/small', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(201);
    expect(answer.body.toString()).toBe('{"ok":true}');
    expect(answer.headers).toMatchObject({ 'content-type': 'application/vnd.api+json', 'content-length': '11', 'x-request-id': 'r-1' });
  });

  it('answers 502 when a body it was asked to decompress is not what its encoding says', async () => {
    api.answer = (_request, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end('this is not gzip');
    const answer = await send('/proxy/garbled', { headers: proxyHeaders('oauth2', 'u1', { decompress: 'true' }) });
    expect(answer.status).toBe(502);
    expect(String(json(answer)['error'])).toContain('decompressed');
  });

  it('answers 502 upstream_unreachable when nothing listens there', async () => {
    const answer = await send('/proxy/anything', { headers: proxyHeaders('dead') });
    expect(answer.status).toBe(502);
    expect(json(answer)).toMatchObject({ type: 'upstream_unreachable' });
    expect(String(json(answer)['error'])).toContain('ECONNREFUSED');
  });
});

describe('redirects', () => {
  it('follows a same-origin redirect for GET with the credentials', async () => {
    api.answer = (request, res) => (request.url === '/api/old' ? res.writeHead(301, { location: '/api/new?x=1' }).end() : echoJson(request, res));
    const answer = await send('/proxy/old', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(200);
    expect(json(answer)).toMatchObject({ url: '/api/new?x=1' });
    expect(api.requests.map((request) => [request.url, request.headers.authorization])).toEqual([
      ['/api/old', 'Bearer token-oauth2'],
      ['/api/new?x=1', 'Bearer token-oauth2'],
    ]);
  });

  it('passes a redirect to another origin back to the caller, without following it', async () => {
    api.answer = (_request, res) => res.writeHead(302, { location: `${other.origin}/signed-download?sig=abc` }).end();
    const answer = await send('/proxy/download', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(`${other.origin}/signed-download?sig=abc`);
    expect(other.requests).toHaveLength(0);
  });

  it('passes redirects of other methods back as they are', async () => {
    api.answer = (_request, res) => res.writeHead(303, { location: '/api/created/1' }).end();
    const answer = await send('/proxy/create', { method: 'POST', headers: proxyHeaders('oauth2', 'u1', { 'content-type': 'application/json' }), body: '{}' });
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toBe('/api/created/1');
    expect(api.requests).toHaveLength(1);
  });

  it('stops after 5 redirects and passes the sixth back', async () => {
    api.answer = (request, res) => res.writeHead(302, { location: `/api/loop${request.url.length}` }).end();
    const answer = await send('/proxy/loop', { headers: proxyHeaders('oauth2') });
    expect(answer.status).toBe(302);
    expect(api.requests).toHaveLength(6);
  });
});

describe('Base-Url-Override', () => {
  it('sends the call to a host the operator allows', async () => {
    const answer = await send('/proxy/v2/things?a=1', { headers: proxyHeaders('oauth2', 'u1', { 'base-url-override': `${allowed.origin}/eu/` }) });
    expect(answer.status).toBe(200);
    expect(api.requests).toHaveLength(0);
    expect(allowed.requests[0]?.url).toBe('/eu/v2/things?a=1');
    expect(allowed.requests[0]?.headers.authorization).toBe('Bearer token-oauth2');
  });

  it('refuses any other host, before anything is sent; the answer says what the operator must do', async () => {
    const answer = await send('/proxy/things', { headers: proxyHeaders('oauth2', 'u1', { 'base-url-override': other.origin }) });
    expect(answer.status).toBe(400);
    // Base-Url-Override marks a modern client: the modern error shape.
    expect(json(answer)).toMatchObject({ error: { code: 'invalid_headers' } });
    expect((json(answer)['error'] as { message: string }).message).toContain('NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS');
    expect(other.requests).toHaveLength(0);
    const notHttp = await send('/proxy/things', { headers: proxyHeaders('oauth2', 'u1', { 'base-url-override': 'file:///etc/passwd' }) });
    expect(notHttp.status).toBe(400);
  });

  it('treats an empty Base-Url-Override as none', async () => {
    expect((await send('/proxy/things', { headers: proxyHeaders('oauth2', 'u1', { 'base-url-override': '' }) })).status).toBe(200);
    expect(api.requests[0]?.url).toBe('/api/things');
  });

  it('is refused for every host when the operator allows none (the default)', async () => {
    const plain = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET }, { providers: catalogWith({ 'proxy-oauth2': { display_name: 'P', auth_mode: 'OAUTH2', authorization_url: `${api.origin}/a`, token_url: `${api.origin}/t`, docs: 'https://example.com', proxy: { base_url: `${api.origin}/api` } } }).catalog, providerTimeoutMs: 2_000 });
    try {
      const answer = await plain.app.inject({ method: 'GET', url: '/proxy/things', headers: { authorization: `Bearer ${SECRET}`, ...proxyHeaders('oauth2', 'u1', { 'base-url-override': allowed.origin }) } });
      expect(answer.statusCode).toBe(400);
      expect(answer.json()).toMatchObject({ error: { code: 'invalid_headers' } });
      expect(allowed.requests).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });
});

describe('errors', () => {
  it('needs the secret key', async () => {
    const answer = await send('/proxy/x', { headers: { ...proxyHeaders('oauth2'), authorization: '' } });
    expect(answer.status).toBe(401);
    expect(json(answer)).toMatchObject({ type: 'missing_auth_header' });
    expect((await send('/proxy/x', { headers: { ...proxyHeaders('oauth2'), authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(api.requests).toHaveLength(0);
  });

  it('answers 400 for a missing Connection-Id or Provider-Config-Key (seed shape for plain requests)', async () => {
    const noConnection = await send('/proxy/x', { headers: { 'provider-config-key': 'oauth2' } });
    expect(noConnection.status).toBe(400);
    expect(json(noConnection)).toMatchObject({ type: 'missing_connection_id', payload: {} });
    expect(String(json(noConnection)['error'])).toContain('Connection-Id');
    const noKey = await send('/proxy/x', { headers: { 'connection-id': 'u1' } });
    expect(noKey.status).toBe(400);
    expect(json(noKey)).toMatchObject({ type: 'missing_provider_config_key' });
    expect(String(json(noKey)['error'])).toContain('Provider-Config-Key');
  });

  it('answers in the modern shape for modern clients', async () => {
    const answer = await send('/proxy/x', { headers: { 'connection-id': 'u1', 'nango-activity-log-id': '' } });
    expect(answer.status).toBe(400);
    expect(json(answer)).toEqual({ error: { code: 'missing_provider_config_key', message: expect.stringContaining('Provider-Config-Key') as unknown } });
  });

  it('answers the connection service\'s own error for an unknown connection', async () => {
    const answer = await send('/proxy/x', { headers: proxyHeaders('oauth2', 'nobody') });
    expect(answer.status).toBe(400);
    expect(json(answer)).toMatchObject({ type: 'unkown_connection' });
  });

  it('explains a provider without a base URL', async () => {
    const answer = await send('/proxy/x', { headers: proxyHeaders('nobase') });
    expect(answer.status).toBe(400);
    expect(json(answer)).toMatchObject({ type: 'missing_base_api_url' });
    expect(String(json(answer)['error'])).toContain('proxy.base_url');
  });

  it('records each relayed call in the audit trail, never the token', async () => {
    await send('/proxy/audited', { headers: proxyHeaders('oauth2') });
    // The entry is written beside the answer, not before it: wait for it (briefly).
    const auditedCall = () => database.knex('_custody_audit_log').where({ action: 'credentials.use', provider_config_key: 'oauth2' }).whereRaw(`details->>'upstream' LIKE '%/api/audited'`);
    for (let waited = 0; waited < 5_000 && (await auditedCall()).length === 0; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    const rows = (await auditedCall().orderBy('id', 'desc')) as { details: Record<string, unknown>; principal: string }[];
    expect(rows[0]).toMatchObject({ principal: 'secret_key', details: { method: 'GET', upstream: `${api.origin}/api/audited`, status: 200 } });
    const logs = test.logs.join('\n');
    for (const secret of ['token-oauth2', 'key-123', 'key-456', 'cc-token', 'user-token-secret', 'consumer-secret']) expect(logs).not.toContain(secret);
    expect(logs).toContain('Proxy: relayed a request.');
  });
});

describe('the SDKs', () => {
  it('@nangohq/node 0.71.10: proxy() with params, custom headers and retries, and the get/post/put/patch/delete helpers', async () => {
    const nango = new Nango({ host, secretKey: SECRET });
    const response = await nango.proxy({ endpoint: '/users', providerConfigKey: 'oauth2', connectionId: 'u1', params: { page: '2' }, headers: { 'X-Team': 'core' }, retries: 2 });
    expect(response.status).toBe(200);
    expect(response.data).toEqual({ method: 'GET', url: '/api/users?page=2' });
    expect(only().headers).toMatchObject({ 'x-team': 'core', authorization: 'Bearer token-oauth2' });
    expect(only().headers).not.toHaveProperty('nango-is-sync');

    api.requests.length = 0;
    const config = { providerConfigKey: 'oauth2', connectionId: 'u1', data: { title: 'x' } };
    await nango.post({ endpoint: 'items', ...config });
    await nango.put({ endpoint: 'items/1', ...config });
    await nango.patch({ endpoint: 'items/1', ...config });
    await nango.delete({ endpoint: 'items/1', ...config });
    await nango.get({ endpoint: 'items/1', providerConfigKey: 'oauth2', connectionId: 'u1' });
    expect(api.requests.map((request) => [request.method, request.url, request.body.toString()])).toEqual([
      ['POST', '/api/items', '{"title":"x"}'],
      ['PUT', '/api/items/1', '{"title":"x"}'],
      ['PATCH', '/api/items/1', '{"title":"x"}'],
      ['DELETE', '/api/items/1', '{"title":"x"}'],
      ['GET', '/api/items/1', ''],
    ]);
    expect(api.requests[0]?.headers['content-type']).toContain('application/json');
  });

  it('@nangohq/node 0.71.10 gets modern error bodies', async () => {
    const nango = new Nango({ host, secretKey: SECRET });
    const failure = (await nango.proxy({ endpoint: '/x', providerConfigKey: 'oauth2', connectionId: 'nobody' }).catch((error: unknown) => error)) as { response: { status: number; data: unknown } };
    expect(failure.response.status).toBe(404);
    expect(failure.response.data).toMatchObject({ error: { code: 'unknown_connection' } });
    const override = (await nango.proxy({ endpoint: '/x', providerConfigKey: 'oauth2', connectionId: 'u1', baseUrlOverride: other.origin }).catch((error: unknown) => error)) as { response: { status: number; data: unknown } };
    expect(override.response.status).toBe(400);
    expect(override.response.data).toMatchObject({ error: { code: 'invalid_headers' } });
  });

  it('@nangohq/node 0.16.0 (seed): proxy/get/post/patch/delete with its own headers, and seed error bodies', async () => {
    const nango = new SeedNango({ host, secretKey: SECRET });
    const response = await nango.get({ endpoint: '/users', providerConfigKey: 'oauth2', connectionId: 'u1', retries: 1 });
    expect(response.data).toEqual({ method: 'GET', url: '/api/users' });
    await nango.post({ endpoint: 'items', providerConfigKey: 'oauth2', connectionId: 'u1', data: { a: 1 } });
    await nango.patch({ endpoint: 'items/1', providerConfigKey: 'oauth2', connectionId: 'u1', data: { a: 2 } });
    await nango.delete({ endpoint: 'items/1', providerConfigKey: 'oauth2', connectionId: 'u1' });
    expect(api.requests.map((request) => [request.method, request.url, request.body.toString()])).toEqual([
      ['GET', '/api/users', ''],
      ['POST', '/api/items', '{"a":1}'],
      ['PATCH', '/api/items/1', '{"a":2}'],
      ['DELETE', '/api/items/1', ''],
    ]);
    const failure = (await nango.get({ endpoint: '/x', providerConfigKey: 'oauth2', connectionId: 'nobody' }).catch((error: unknown) => error)) as { response: { status: number; data: unknown } };
    expect(failure.response.status).toBe(400);
    expect(failure.response.data).toMatchObject({ type: 'unkown_connection', payload: {} });
  });
});
