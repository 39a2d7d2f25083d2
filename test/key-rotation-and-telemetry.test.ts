import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cipher } from '../src/crypto/aes-gcm.js';
import { ConnectionsStore } from '../src/store/connections-store.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { runServerUntilExit, startServerProcess } from './support/server-process.js';
import { catalogWith } from './support/test-providers.js';

const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('Timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('encryption key rotation', () => {
  let database: TestDatabase;
  const env = () => ({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: 'sk' });

  beforeAll(async () => {
    database = await createTestDatabase();
    // Rows sealed with the old key, as a server running with it would have left them.
    const first = await startServerProcess({ ...env(), NANGO_ENCRYPTION_KEY: oldKey });
    await fetch(`${first.baseUrl}/config`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk', 'content-type': 'application/json' },
      body: JSON.stringify({ provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'client-secret', oauth_scopes: 'repo' }),
    });
    await first.stop();
    const store = new ConnectionsStore(database.knex, new Cipher(oldKey));
    for (let batch = 0; batch < 3000; batch += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, offset) => batch + offset).map((index) =>
          store.upsert({ provider_config_key: 'gh', connection_id: `user-${index}`, credentials: { type: 'OAUTH2', access_token: `token-${index}`, raw: {} }, connection_config: {}, metadata: {} }),
        ),
      );
    }
  }, 120_000);

  afterAll(async () => database?.drop());

  it('resumes a rotation killed half-way, after which every row opens with the new key only and the old key is refused', async () => {
    const interrupted = await startServerProcess({ ...env(), NANGO_ENCRYPTION_KEY: newKey, NANGO_ENCRYPTION_KEY_PREVIOUS: oldKey });
    await waitFor(() => interrupted.output().includes('rotation starting'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    await interrupted.stop('SIGKILL');
    const state = await database.knex('_nango_db_config').first();
    expect(state.rotating_from_hash).not.toBeNull();

    // Meanwhile reads work with both keys.
    const resumed = await startServerProcess({ ...env(), NANGO_ENCRYPTION_KEY: newKey, NANGO_ENCRYPTION_KEY_PREVIOUS: oldKey });
    const read = await fetch(`${resumed.baseUrl}/connection/user-2999?provider_config_key=gh`, { headers: { authorization: 'Bearer sk' } });
    expect((await read.json()).credentials.access_token).toBe('token-2999');
    await waitFor(() => resumed.output().includes('rotation complete'), 60_000);
    await resumed.stop();

    const newOnly = new Cipher(newKey);
    const rows = await database.knex('_nango_connections').select('credentials', 'credentials_iv', 'credentials_tag');
    for (const row of rows) {
      expect(newOnly.isSealedWithCurrentKey({ ciphertext: row.credentials.encrypted_credentials, iv: row.credentials_iv, tag: row.credentials_tag })).toBe(true);
    }
    const config = await database.knex('_nango_configs').first();
    expect(newOnly.open({ ciphertext: config.oauth_client_secret, iv: config.oauth_client_secret_iv, tag: config.oauth_client_secret_tag })).toBe('client-secret');

    const withOldKey = await runServerUntilExit({ ...env(), NANGO_ENCRYPTION_KEY: oldKey });
    expect(withOldKey.code).not.toBe(0);
    expect(withOldKey.output).toContain('NANGO_ENCRYPTION_KEY is not the key');

    const withNewKeyOnly = await startServerProcess({ ...env(), NANGO_ENCRYPTION_KEY: newKey });
    const again = await fetch(`${withNewKeyOnly.baseUrl}/connection/user-0?provider_config_key=gh`, { headers: { authorization: 'Bearer sk' } });
    expect((await again.json()).credentials.access_token).toBe('token-0');
    await withNewKeyOnly.stop();
  }, 180_000);
});

describe('telemetry', () => {
  let database: TestDatabase;
  let capture: http.Server;
  let endpoint: string;
  const received: { event: string; properties: Record<string, unknown> }[] = [];
  let overlay: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    capture = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as { event: string; properties: Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(capture.address() as AddressInfo).port}/events`;
    overlay = catalogWith({ 'key-test': { display_name: 'Key test', categories: ['other'], auth_mode: 'API_KEY', docs: 'https://example.com/docs' } }).file;
  });

  afterAll(async () => {
    capture.closeAllConnections();
    await new Promise<void>((resolve) => capture.close(() => resolve()));
    await database?.drop();
  });

  async function exercise(extraEnv: Record<string, string>): Promise<void> {
    const server = await startServerProcess({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: 'tele-secret', NANGO_TELEMETRY_ENDPOINT: endpoint, NANGO_PROVIDERS_FILE: overlay, ...extraEnv });
    const key = `k${randomBytes(3).toString('hex')}`;
    await fetch(`${server.baseUrl}/integrations`, { method: 'POST', headers: { authorization: 'Bearer tele-secret', 'content-type': 'application/json' }, body: JSON.stringify({ unique_key: key, provider: 'key-test' }) });
    await fetch(`${server.baseUrl}/api-auth/api-key/${key}?connection_id=private-user-id`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: 'super-secret-api-key' }) });
    await server.stop();
  }

  it('sends the three documented events with counts and versions only', async () => {
    received.length = 0;
    await exercise({});
    expect(received.map((event) => event.event).sort()).toEqual(['connection_created', 'integration_created', 'server_started']);
    const started = received.find((event) => event.event === 'server_started');
    expect(started?.properties).toMatchObject({ database: 'external', encryption: false, integrations: expect.any(Number), connections: expect.any(Number), version: expect.any(String), node: process.versions.node });
    expect(received.find((event) => event.event === 'connection_created')?.properties).toMatchObject({ auth_mode: 'API_KEY', connections: 1 });
    const text = JSON.stringify(received);
    for (const secret of ['tele-secret', 'super-secret-api-key', 'private-user-id', '127.0.0.1', 'key-test', database.name]) expect(text).not.toContain(secret);
  }, 60_000);

  it('sends nothing with TELEMETRY=false', async () => {
    received.length = 0;
    await exercise({ TELEMETRY: 'false' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toEqual([]);
  }, 60_000);
});
