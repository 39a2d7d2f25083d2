import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSecretQueryParameter, redactUrl } from '../src/logger.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import type { AddressInfo } from 'node:net';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { NGINX_BINARY, startNginx } from './support/nginx.js';
import { noteSecrets } from './support/secret-watch.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { echoJson, startUpstream, type UpstreamServer } from './support/upstream-server.js';

/**
 * Issue 18, finding 5: someone with access to the server's logs or its audit trail looked there for
 * credentials. The built-in Telegram template puts the bot token in the URL path (`…/bot${apiKey}`), and
 * callers put keys in query strings (`?secret_key=`); neither value may reach a log line (written here at
 * debug level) or an audit row. The Telegram template is the built-in one with its host moved to loopback.
 */
const BOT_TOKEN = '123456789:AAE-bot-token-secret-value';
const QUERY_SECRETS: Record<string, string> = {
  secret_key: 'query-secret-key-value',
  api_key: 'query-api-key-value',
  apiKey: 'query-apikey-camel-value',
  key: 'query-plain-key-value',
  token: 'query-token-value',
  // Not access_token: with the Bearer header the proxy sends, RFC 6750 has the API refuse a second token.
  refresh_token: 'query-refresh-token-value',
  password: 'query-password-value',
  client_secret: 'query-client-secret-value',
  secret: 'query-secret-value',
  sig: 'query-sig-value',
  signature: 'query-signature-value',
};

let database: TestDatabase;
let upstream: UpstreamServer;
let test: TestApp;

beforeAll(async () => {
  noteSecrets('finding 5 spec', [BOT_TOKEN, ...Object.values(QUERY_SECRETS)]);
  database = await createTestDatabase();
  upstream = await startUpstream();
  const telegram = loadProviderCatalog().get('telegram');
  expect(telegram?.proxy?.base_url).toBe('https://api.telegram.org/bot${apiKey}');
  const { catalog } = catalogWith({ telegram: { ...telegram, proxy: { ...telegram?.proxy, base_url: `${upstream.origin}/bot\${apiKey}` } } });
  test = await buildTestApp(database, {}, { providers: catalog });
  expect((await test.app.inject({ method: 'POST', url: '/integrations', payload: { unique_key: 'telegram', provider: 'telegram' } })).statusCode).toBe(200);
  const connected = await test.app.inject({ method: 'POST', url: '/api-auth/api-key/telegram?connection_id=bot-1', payload: { apiKey: BOT_TOKEN } });
  expect(connected.statusCode).toBe(200);
});

afterAll(async () => {
  await test?.close();
  await upstream?.close();
  await database?.drop();
});

beforeEach(() => {
  upstream.requests.length = 0;
  upstream.answer = echoJson;
});

const proxy = (path: string, headers: Record<string, string> = {}) =>
  test.app.inject({ method: 'GET', url: `/proxy${path}`, headers: { 'connection-id': 'bot-1', 'provider-config-key': 'telegram', ...headers } });

/** Every audit row, and the audit trail as the API serves it; the proxy's entries are written just after its answer. */
async function auditText(entries: number): Promise<string> {
  const deadline = Date.now() + 5_000;
  let rows = await database.knex('_custody_audit_log').where({ action: 'credentials.use' });
  while (rows.length < entries && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    rows = await database.knex('_custody_audit_log').where({ action: 'credentials.use' });
  }
  expect(rows.length).toBeGreaterThanOrEqual(entries);
  const api = await test.app.inject({ method: 'GET', url: '/audit-log' });
  return JSON.stringify(rows) + api.body;
}

function expectNowhere(texts: string[], secret: string): void {
  for (const text of texts) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encodeURIComponent(secret));
  }
}

let proxied = 0;
async function proxyCall(path: string, headers: Record<string, string> = {}) {
  const response = await proxy(path, headers);
  proxied += 1;
  return response;
}

describe('a Telegram bot token, which the template puts in the URL path', () => {
  it('reaches Telegram, but no log line and no audit row: both show /bot[REDACTED]/…', async () => {
    const response = await proxyCall('/getMe');
    expect(response.statusCode).toBe(200);
    expect(upstream.requests[0]?.url).toBe(`/bot${BOT_TOKEN}/getMe`);
    const audit = await auditText(proxied);
    expectNowhere([test.logs.join(''), audit], BOT_TOKEN);
    expect(test.logs.join('')).toContain('/bot[REDACTED]/getMe');
    expect(audit).toContain('/bot[REDACTED]/getMe');
  });

  it('stays out of the retry and redirect log lines too', async () => {
    let calls = 0;
    upstream.answer = (request, res) => {
      calls += 1;
      if (calls === 1) return void res.writeHead(503, { 'retry-after': '0' }).end();
      if (calls === 2) return void res.writeHead(302, { location: `/bot${BOT_TOKEN}/getMe-moved` }).end();
      echoJson(request, res);
    };
    const response = await proxyCall('/getMe', { retries: '1' });
    expect(response.statusCode).toBe(200);
    expect(upstream.requests.map((request) => request.url)).toEqual([`/bot${BOT_TOKEN}/getMe`, `/bot${BOT_TOKEN}/getMe`, `/bot${BOT_TOKEN}/getMe-moved`]);
    const logs = test.logs.join('');
    expect(logs).toContain('Proxy: retrying the upstream call.');
    expect(logs).toContain('/bot[REDACTED]/getMe-moved');
    expectNowhere([logs, await auditText(proxied)], BOT_TOKEN);
  });
});

describe('keys a caller puts in the query string', () => {
  it('are forwarded upstream, and blanked in the request log; the audit trail records no query at all', async () => {
    const query = new URLSearchParams({ ...QUERY_SECRETS, offset: '5' }).toString();
    const response = await proxyCall(`/getUpdates?${query}`);
    expect(response.statusCode).toBe(200);
    expect(upstream.requests[0]?.url).toBe(`/bot${BOT_TOKEN}/getUpdates?${query}`);
    const logs = test.logs.join('');
    expect(logs).toContain('secret_key=[REDACTED]');
    expect(logs).toContain('offset=5');
    const audit = await auditText(proxied);
    for (const secret of Object.values(QUERY_SECRETS)) expectNowhere([logs, audit], secret);
  });

  it.each(['secret_key', 'api_key', 'apiKey', 'x-api-key', 'key', 'token', 'access_token', 'refresh_token', 'id_token', 'password', 'client_secret', 'secret', 'sig', 'signature', 'X-Amz-Signature', 'X-Amz-Credential', 'subscription-key', 'private_key', 'session_token', 'hmac', 'code', 'state', 'params[api_key]', 'credentials[apiKey]'])(
    'counts %s as a parameter that can carry a secret',
    (name) => {
      expect(isSecretQueryParameter(name)).toBe(true);
      expect(redactUrl(`/x?${encodeURIComponent(name)}=value-of-it`)).toBe(`/x?${encodeURIComponent(name)}=[REDACTED]`);
    },
  );

  it.each(['provider_config_key', 'connection_id', 'limit', 'offset', 'cursor', 'params[subdomain]', 'authorization_params[prompt]', 'ws_client_id'])('leaves %s readable', (name) => {
    expect(isSecretQueryParameter(name)).toBe(false);
  });
});

describe.skipIf(!NGINX_BINARY)('the access log of the shipped nginx.conf, in front of the server', () => {
  const basicKey = 'seed-basic-user-secret-key';
  const refererToken = 'referer-connect-session-token';
  const oauthCode = 'callback-code-secret-value';

  it('names method, path and status, never a query string, a Basic user name or a Referer', async () => {
    noteSecrets('finding 5 spec (nginx)', [basicKey, refererToken, oauthCode]);
    await test.app.listen({ port: 0, host: '127.0.0.1' });
    const nginx = await startNginx((test.app.server.address() as AddressInfo).port);
    try {
      const headers = { 'connection-id': 'bot-1', 'provider-config-key': 'telegram', referer: `https://app.example.com/connect?session_token=${refererToken}` };
      const proxied = await fetch(`${nginx.baseUrl}/proxy/getMe?${new URLSearchParams(QUERY_SECRETS)}`, { headers });
      expect(proxied.status).toBe(200);
      await fetch(`${nginx.baseUrl}/config`, { headers: { authorization: `Basic ${Buffer.from(`${basicKey}:`).toString('base64')}` } });
      await fetch(`${nginx.baseUrl}/oauth/callback?code=${oauthCode}&state=7f0c1c8e-0000-4000-8000-000000000000`);
      const deadline = Date.now() + 5_000;
      while (nginx.accessLog().trim().split('\n').length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const log = nginx.accessLog();
      expect(log).toContain('"GET /proxy/getMe HTTP/1.1" 200');
      expect(log).toContain('"GET /oauth/callback HTTP/1.1" 400');
      for (const secret of [basicKey, refererToken, oauthCode, ...Object.values(QUERY_SECRETS)]) expectNowhere([log], secret);
    } finally {
      await nginx.stop();
    }
  });
});
