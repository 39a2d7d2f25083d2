import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { newEncryptionKey } from './support/nango-format.js';
import { startServer, type RunningServer } from './support/server-run.js';

/**
 * Secrets never reach the log, even at debug level: not the secret key (right or wrong), client secrets,
 * tokens, OAuth codes and states, the encryption key or the database password. The start-up lines tell the
 * operator what they need: encryption on or off, the port, and the callback URL to register.
 */

const SERVER_URL = 'https://custody.example.test';
const CALLBACK_URL = `${SERVER_URL}/oauth/callback`;

/** JSON for machines (stdout is a pipe here, so JSON is also the default), and the readable format for people. */
const FORMATS = [
  { format: 'json', env: {} },
  { format: 'pretty', env: { LOG_FORMAT: 'pretty' } },
] as const;

describe.each(FORMATS)('a server at LOG_LEVEL=debug with a secret key and an encryption key, logging $format', ({ format, env }) => {
  let database: TestDatabase;
  let server: RunningServer | undefined;
  let output = '';
  let stdoutLines: string[] = [];
  const secretKey = 'sk-live-7f3a9c1e5b2d4f60';
  const encryptionKey = newEncryptionKey();
  const secrets = {
    secretKey,
    secretKeyAsBasic: Buffer.from(`${secretKey}:`).toString('base64'),
    wrongKey: 'sk-wrong-0d9e8c7b6a5f4e3d',
    wrongKeyAsBasic: Buffer.from('sk-wrong-0d9e8c7b6a5f4e3d:').toString('base64'),
    clientSecret: 'cs-create-1a2b3c4d5e6f7a8b',
    updatedClientSecret: 'cs-update-9f8e7d6c5b4a3f2e',
    rejectedClientSecret: 'cs-rejected-5e4d3c2b1a0f9e8d',
    malformedBodySecret: 'cs-malformed-3c2b1a0f9e8d7c6b',
    accessToken: 'at-import-4b5c6d7e8f9a0b1c',
    refreshToken: 'rt-import-2c3d4e5f6a7b8c9d',
    idToken: 'idt-raw-8e9f0a1b2c3d4e5f',
    oauth1TokenSecret: 'ots-import-6d7e8f9a0b1c2d3e',
    code: 'authcode-0a1b2c3d4e5f6a7b',
    state: 'state-9b8a7f6e5d4c3b2a',
    queryAccessToken: 'at-query-5f6e7d8c9b0a1f2e',
    encryptionKey,
    databasePassword: inject('postgres').password,
  };
  const auth = { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' };

  async function call(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${server?.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startServer({
      NANGO_DATABASE_URL: database.url,
      NANGO_SECRET_KEY: secretKey,
      NANGO_ENCRYPTION_KEY: encryptionKey,
      NANGO_SERVER_URL: SERVER_URL,
      LOG_LEVEL: 'debug',
      TELEMETRY: 'false',
      ...env,
    });

    const config = { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'client-id', oauth_client_secret: secrets.clientSecret, oauth_scopes: 'repo' };
    expect((await call('/config', { method: 'POST', headers: auth, body: JSON.stringify(config) })).status).toBe(200);
    expect((await call('/config', { method: 'PUT', headers: auth, body: JSON.stringify({ ...config, oauth_client_secret: secrets.updatedClientSecret }) })).status).toBe(200);
    // Refused bodies that carry a secret: an unknown field, a wrong type, and JSON that does not parse.
    expect((await call('/config', { method: 'POST', headers: auth, body: JSON.stringify({ ...config, provider_config_key: 'other', oauth_client_secret: secrets.rejectedClientSecret, unexpected: true }) })).status).toBe(400);
    expect((await call('/config', { method: 'POST', headers: auth, body: JSON.stringify({ ...config, provider_config_key: 'other', oauth_client_secret: secrets.rejectedClientSecret, oauth_client_id: 42 }) })).status).toBe(400);
    expect((await call('/config', { method: 'POST', headers: auth, body: `{"oauth_client_secret": "${secrets.malformedBodySecret}", ` })).status).toBe(400);

    const imported = await call('/connection', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        connection_id: 'user-1',
        provider_config_key: 'github-prod',
        type: 'OAUTH2',
        access_token: secrets.accessToken,
        refresh_token: secrets.refreshToken,
        expires_at: '2099-01-01T00:00:00.000Z',
        raw: { access_token: secrets.accessToken, id_token: secrets.idToken },
      }),
    });
    expect(imported.status).toBe(201);
    const oauth1 = await call('/connection', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ connection_id: 'user-2', provider_config_key: 'github-prod', type: 'OAUTH1', oauth_token: 'public-oauth-token', oauth_token_secret: secrets.oauth1TokenSecret }),
    });
    expect(oauth1.status).toBe(201);

    const read = await call('/connection/user-1?provider_config_key=github-prod', { headers: auth });
    expect(((await read.json()) as { credentials: { access_token: string } }).credentials.access_token).toBe(secrets.accessToken);
    expect((await call('/connection/user-2?provider_config_key=github-prod', { headers: auth })).status).toBe(200);
    expect((await call('/config/github-prod', { headers: auth })).status).toBe(200);
    expect((await call('/config', { headers: { authorization: `Basic ${secrets.secretKeyAsBasic}` } })).status).toBe(200);

    expect((await call('/config', { headers: { authorization: `Bearer ${secrets.wrongKey}` } })).status).toBe(401);
    expect((await call('/connection', { headers: { authorization: `Basic ${secrets.wrongKeyAsBasic}` } })).status).toBe(401);

    // OAuth codes and states in query strings; whatever the answer, the values must not be logged.
    await call(`/oauth/callback?code=${secrets.code}&state=${secrets.state}`).then((response) => response.text()).catch(() => undefined);
    // An unknown path (404, or the dashboard page for unknown GETs): the URL is logged all the same.
    await call(`/no-such-route?code=${secrets.code}&state=${secrets.state}`).then((response) => response.text());
    await call(`/connection/user-1?provider_config_key=github-prod&access_token=${secrets.queryAccessToken}`, { headers: auth }).catch(() => undefined);

    // Stop cleanly so every buffered line is written before the assertions.
    expect(await server.stop('SIGTERM')).toBe(0);
    output = server.output();
    stdoutLines = server.stdout().split('\n').filter((line) => line.trim() !== '');
  }, 90_000);

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await database?.drop();
  });

  it('logged the requests (the check below is not vacuous)', () => {
    expect(output).toContain('/connection/user-1');
    expect(output.split('\n').length).toBeGreaterThan(20);
  });

  it('logs URLs with their secret query parameters blanked', () => {
    expect(output).toContain('/no-such-route?code=[REDACTED]&state=[REDACTED]');
    expect(output).toContain('/oauth/callback?code=[REDACTED]&state=[REDACTED]');
  });

  it.each(Object.keys(secrets))('never logs the %s', (name) => {
    const value = secrets[name as keyof typeof secrets];
    expect(value.length).toBeGreaterThan(8);
    expect(output).not.toContain(value);
  });

  it('says at start that encryption is on', () => {
    expect(output).toMatch(/Encryption enabled/);
  });

  it('says at start which port it listens on', () => {
    expect(output).toContain(`listening on port ${server?.port}`);
  });

  it('says at start which OAuth callback URL to register', () => {
    expect(output).toContain(CALLBACK_URL);
    expect(output).toMatch(/Register this OAuth callback URL/);
  });

  it('says at start where the dashboard is, where the secret key comes from, and the next step', () => {
    expect(output).toContain(`Dashboard: ${SERVER_URL}/ (on this machine: http://localhost:${server?.port}/): sign in with any user name and the secret key as the password.`);
    expect(output).toContain('The secret key is NANGO_SECRET_KEY from the environment.');
    expect(output).toMatch(/Next step: add an integration in the dashboard, or with the CLI \(custody integration:create/);
  });

  it.runIf(format === 'json')('writes every event as one JSON object with its level, time and message, for machines', () => {
    for (const line of stdoutLines) expect(JSON.parse(line)).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });
  });

  it.runIf(format === 'pretty')('writes every event as one readable line: time, level and message, then its other fields', () => {
    for (const line of stdoutLines) expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/);
    expect(stdoutLines).toContainEqual(expect.stringMatching(/^\[[\d:.]+\] INFO: \[req-[0-9a-z]+\] request completed \{"method":"GET","url":"\/config\/github-prod",/));
    expect(stdoutLines).toContainEqual(expect.stringMatching(/^\[[\d:.]+\] INFO: .*Server listening on port \d+/));
  });
});

describe('a server without an encryption key or a secret key', () => {
  let database: TestDatabase;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startServer({ NANGO_DATABASE_URL: database.url, TELEMETRY: 'false' });
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('says at start that encryption is off', () => {
    expect(server?.output()).toMatch(/Encryption disabled/);
  });

  it('warns at start that the API is open without NANGO_SECRET_KEY', () => {
    expect(server?.output()).toMatch(/NANGO_SECRET_KEY is not set/);
  });
});
