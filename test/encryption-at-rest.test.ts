import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Cipher } from '../src/crypto/aes-gcm.js';
import { reconcileEncryption } from '../src/crypto/encryption-startup.js';
import { createLogger } from '../src/logger.js';
import { EncryptionStateStore } from '../src/store/encryption-state-store.js';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { nangoKeyFingerprint, nangoOpen, nangoOpenCredentials, nangoSeal, nangoSealedCredentials, newEncryptionKey } from './support/nango-format.js';
import { runServerToExit } from './support/server-run.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * NANGO_ENCRYPTION_KEY: client secrets and credentials are stored AES-256-GCM-encrypted in Nango's on-disk
 * format. Every check of the stored bytes here uses the test's own node:crypto code (support/nango-format.ts),
 * never the server's.
 */

const github = { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'client-id-1', oauth_client_secret: 'client-secret-plaintext-1', oauth_scopes: 'repo,user' };
const tokens = { access_token: 'access-token-plaintext-1', refresh_token: 'refresh-token-plaintext-1' };
const farFuture = '2099-01-01T00:00:00.000Z';
const silent = createLogger('silent');
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

async function rawConfig(database: TestDatabase, key = github.provider_config_key) {
  return database.knex('_nango_configs').where({ unique_key: key }).first();
}

async function rawConnection(database: TestDatabase, connectionId: string) {
  return database.knex('_nango_connections').where({ connection_id: connectionId }).first();
}

async function createConfigAndConnection(test: TestApp, connectionId = 'user-1'): Promise<void> {
  expect((await test.app.inject({ method: 'POST', url: '/config', payload: github })).statusCode).toBe(200);
  const imported = await test.app.inject({
    method: 'POST',
    url: '/connection',
    payload: { connection_id: connectionId, provider_config_key: github.provider_config_key, type: 'OAUTH2', ...tokens, expires_at: farFuture, metadata: { team: 'blue' } },
  });
  expect(imported.statusCode).toBe(201);
}

describe('with NANGO_ENCRYPTION_KEY set', () => {
  let database: TestDatabase;
  let test: TestApp;
  const key = newEncryptionKey();

  beforeAll(async () => {
    database = await createTestDatabase();
    test = await buildTestApp(database, { NANGO_ENCRYPTION_KEY: key });
  });

  afterAll(async () => {
    await test?.close();
    await database?.drop();
  });

  beforeEach(async () => {
    await deleteIntegrations(database);
  });

  it('stores a client secret encrypted (Nango format) and answers it in clear', async () => {
    await test.app.inject({ method: 'POST', url: '/config', payload: github });
    const row = await rawConfig(database);
    expect(row.oauth_client_secret).not.toBe(github.oauth_client_secret);
    expect(row.oauth_client_secret).toMatch(BASE64);
    expect(Buffer.from(row.oauth_client_secret_iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(row.oauth_client_secret_tag, 'base64')).toHaveLength(16);
    expect(JSON.stringify(row)).not.toContain(github.oauth_client_secret);
    expect(nangoOpen(key, { ciphertext: row.oauth_client_secret, iv: row.oauth_client_secret_iv, tag: row.oauth_client_secret_tag })).toBe(github.oauth_client_secret);

    const one = (await test.app.inject({ method: 'GET', url: '/config/github-prod' })).json().config;
    expect(one).toMatchObject({ oauth_client_secret: github.oauth_client_secret, oauth_client_secret_iv: row.oauth_client_secret_iv, oauth_client_secret_tag: row.oauth_client_secret_tag });
    const list = (await test.app.inject({ method: 'GET', url: '/config' })).json().configs;
    expect(list).toEqual([expect.objectContaining({ unique_key: 'github-prod', oauth_client_secret: github.oauth_client_secret })]);
  });

  it('keeps the client secret encrypted after an update', async () => {
    await test.app.inject({ method: 'POST', url: '/config', payload: github });
    await test.app.inject({ method: 'PUT', url: '/config', payload: { ...github, oauth_client_secret: 'client-secret-plaintext-2' } });
    const row = await rawConfig(database);
    expect(JSON.stringify(row)).not.toContain('client-secret-plaintext-2');
    expect(nangoOpen(key, { ciphertext: row.oauth_client_secret, iv: row.oauth_client_secret_iv, tag: row.oauth_client_secret_tag })).toBe('client-secret-plaintext-2');
    expect((await test.app.inject({ method: 'GET', url: '/config/github-prod' })).json().config.oauth_client_secret).toBe('client-secret-plaintext-2');
  });

  it('uses a fresh IV for every value, so equal secrets do not give equal ciphertexts', async () => {
    await test.app.inject({ method: 'POST', url: '/config', payload: github });
    await test.app.inject({ method: 'POST', url: '/config', payload: { ...github, provider_config_key: 'github-staging' } });
    const [a, b] = [await rawConfig(database, 'github-prod'), await rawConfig(database, 'github-staging')];
    expect(a.oauth_client_secret_iv).not.toBe(b.oauth_client_secret_iv);
    expect(a.oauth_client_secret).not.toBe(b.oauth_client_secret);
  });

  it('stores credentials as {"encrypted_credentials": "<base64>"} with the tokens nowhere in the row, and answers them in clear', async () => {
    await createConfigAndConnection(test);
    const row = await rawConnection(database, 'user-1');
    expect(row.credentials).toEqual({ encrypted_credentials: expect.stringMatching(BASE64) });
    expect(Buffer.from(row.credentials_iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(row.credentials_tag, 'base64')).toHaveLength(16);
    const rawText = JSON.stringify(row);
    expect(rawText).not.toContain(tokens.access_token);
    expect(rawText).not.toContain(tokens.refresh_token);
    expect(nangoOpenCredentials(key, row)).toMatchObject({ type: 'OAUTH2', ...tokens, expires_at: farFuture });
    // connection_config and metadata stay plaintext, as in Nango.
    expect(row.metadata).toEqual({ team: 'blue' });

    const response = await test.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=github-prod' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      connection_id: 'user-1',
      provider_config_key: 'github-prod',
      credentials: { type: 'OAUTH2', ...tokens, expires_at: farFuture },
      metadata: { team: 'blue' },
    });
    // The sealed form's IV and tag are storage details, not part of the answer.
    expect(response.json()).not.toHaveProperty('credentials_iv');
    expect(response.json()).not.toHaveProperty('credentials_tag');
  });

  it('answers a client secret that Nango encrypted', async () => {
    const sealed = nangoSeal(key, 'secret-sealed-by-nango');
    await database.knex('_nango_configs').insert({
      unique_key: 'from-nango',
      provider: 'github',
      oauth_client_id: 'nango-client',
      oauth_client_secret: sealed.ciphertext,
      oauth_client_secret_iv: sealed.iv,
      oauth_client_secret_tag: sealed.tag,
      oauth_scopes: 'repo',
      account_id: 0,
    });
    const response = await test.app.inject({ method: 'GET', url: '/config/from-nango' });
    expect(response.statusCode).toBe(200);
    expect(response.json().config).toMatchObject({ unique_key: 'from-nango', oauth_client_id: 'nango-client', oauth_client_secret: 'secret-sealed-by-nango', oauth_client_secret_iv: sealed.iv, oauth_client_secret_tag: sealed.tag });
  });

  it('answers connection credentials that Nango encrypted', async () => {
    await test.app.inject({ method: 'POST', url: '/config', payload: github });
    const credentials = { type: 'OAUTH2', access_token: 'nango-access-token', refresh_token: 'nango-refresh-token', expires_at: farFuture, raw: { access_token: 'nango-access-token', token_type: 'bearer', scope: 'repo' } };
    await database.knex('_nango_connections').insert({
      provider_config_key: 'github-prod',
      connection_id: 'sealed-by-nango',
      account_id: 0,
      connection_config: JSON.stringify({ 'connectionConfig.params.subdomain': 'acme' }),
      metadata: JSON.stringify({}),
      ...nangoSealedCredentials(key, credentials),
    });
    const response = await test.app.inject({ method: 'GET', url: '/connection/sealed-by-nango?provider_config_key=github-prod' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ credentials, connection_config: { 'connectionConfig.params.subdomain': 'acme' } });
  });

  it('records the fingerprint of the key in _nango_db_config, with the encryption complete', async () => {
    const rows = await database.knex('_nango_db_config').select('encryption_key_hash', 'encryption_complete');
    expect(rows).toEqual([{ encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: true }]);
  });
});

describe('without NANGO_ENCRYPTION_KEY', () => {
  let database: TestDatabase;
  let test: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    test = await buildTestApp(database);
  });

  afterAll(async () => {
    await test?.close();
    await database?.drop();
  });

  it('stores client secrets and credentials in plain text, with null IV and tag columns', async () => {
    await createConfigAndConnection(test);
    const config = await rawConfig(database);
    expect(config).toMatchObject({ oauth_client_secret: github.oauth_client_secret, oauth_client_secret_iv: null, oauth_client_secret_tag: null });
    const connection = await rawConnection(database, 'user-1');
    expect(connection).toMatchObject({ credentials: expect.objectContaining({ type: 'OAUTH2', ...tokens }), credentials_iv: null, credentials_tag: null });
  });

  it('records no key fingerprint', async () => {
    const rows = await database.knex('_nango_db_config').select('encryption_key_hash');
    expect(rows.filter((row) => row.encryption_key_hash !== null)).toEqual([]);
  });
});

describe('the first start with a key', () => {
  let database: TestDatabase;
  const opened: TestApp[] = [];
  const key = newEncryptionKey();

  beforeEach(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    for (const test of opened.splice(0)) await test.close();
    await database?.drop();
  });

  async function open(env: Record<string, string> = {}): Promise<TestApp> {
    const test = await buildTestApp(database, env);
    opened.push(test);
    return test;
  }

  it('encrypts the rows written before the key was set, and records the key fingerprint', async () => {
    await createConfigAndConnection(await open(), 'user-1');
    const accountBefore = await database.knex('_nango_accounts').where({ id: 0 }).first();
    expect(accountBefore.secret_key_iv).toBeNull();

    const test = await open({ NANGO_ENCRYPTION_KEY: key });

    const config = await rawConfig(database);
    expect(config.oauth_client_secret_iv).toEqual(expect.any(String));
    expect(JSON.stringify(config)).not.toContain(github.oauth_client_secret);
    expect(nangoOpen(key, { ciphertext: config.oauth_client_secret, iv: config.oauth_client_secret_iv, tag: config.oauth_client_secret_tag })).toBe(github.oauth_client_secret);
    const connection = await rawConnection(database, 'user-1');
    expect(connection.credentials).toEqual({ encrypted_credentials: expect.any(String) });
    expect(JSON.stringify(connection)).not.toContain(tokens.access_token);
    expect(nangoOpenCredentials(key, connection)).toMatchObject({ type: 'OAUTH2', ...tokens });
    // Nango encrypts the account's secret key too.
    const account = await database.knex('_nango_accounts').where({ id: 0 }).first();
    expect(nangoOpen(key, { ciphertext: account.secret_key, iv: account.secret_key_iv, tag: account.secret_key_tag })).toBe(accountBefore.secret_key);

    expect(await database.knex('_nango_db_config').select('encryption_key_hash', 'encryption_complete')).toEqual([
      { encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: true },
    ]);
    expect((await test.app.inject({ method: 'GET', url: '/config/github-prod' })).json().config.oauth_client_secret).toBe(github.oauth_client_secret);
    expect((await test.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=github-prod' })).json().credentials).toMatchObject(tokens);
  });

  it('resumes an interrupted encryption: finishes the plaintext rows and leaves the encrypted ones as they are', async () => {
    const sealedSecret = nangoSeal(key, 'secret-a');
    await database.knex('_nango_configs').insert([
      { unique_key: 'a', provider: 'github', oauth_client_id: 'id-a', oauth_client_secret: sealedSecret.ciphertext, oauth_client_secret_iv: sealedSecret.iv, oauth_client_secret_tag: sealedSecret.tag, oauth_scopes: 'repo', account_id: 0 },
      { unique_key: 'b', provider: 'github', oauth_client_id: 'id-b', oauth_client_secret: 'secret-b', oauth_scopes: 'repo', account_id: 0 },
      { unique_key: 'c', provider: 'github', oauth_client_id: 'id-c', oauth_client_secret: 'secret-c', oauth_scopes: 'repo', account_id: 0 },
    ]);
    const credentialsOf = (id: string) => ({ type: 'OAUTH2', access_token: `token-${id}`, raw: { access_token: `token-${id}` } });
    await database.knex('_nango_connections').insert([
      { provider_config_key: 'a', connection_id: 'conn-1', account_id: 0, connection_config: '{}', metadata: '{}', ...nangoSealedCredentials(key, credentialsOf('conn-1')) },
      { provider_config_key: 'a', connection_id: 'conn-2', account_id: 0, connection_config: '{}', metadata: '{}', credentials: JSON.stringify(credentialsOf('conn-2')) },
      { provider_config_key: 'b', connection_id: 'conn-3', account_id: 0, connection_config: '{}', metadata: '{}', credentials: JSON.stringify(credentialsOf('conn-3')) },
    ]);
    await database.knex('_nango_db_config').delete();
    await database.knex('_nango_db_config').insert({ encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: false });
    const alreadySealedConfig = await rawConfig(database, 'a');
    const alreadySealedConnection = await rawConnection(database, 'conn-1');

    const test = await open({ NANGO_ENCRYPTION_KEY: key });

    expect(await rawConfig(database, 'a')).toEqual(alreadySealedConfig);
    expect(await rawConnection(database, 'conn-1')).toEqual(alreadySealedConnection);
    for (const unique of ['a', 'b', 'c']) {
      const row = await rawConfig(database, unique);
      expect(nangoOpen(key, { ciphertext: row.oauth_client_secret, iv: row.oauth_client_secret_iv, tag: row.oauth_client_secret_tag })).toBe(`secret-${unique}`);
    }
    for (const id of ['conn-1', 'conn-2', 'conn-3']) {
      const row = await rawConnection(database, id);
      expect(JSON.stringify(row)).not.toContain(`token-${id}`);
      expect(nangoOpenCredentials(key, row)).toEqual(credentialsOf(id));
    }
    expect(await database.knex('_nango_db_config').select('encryption_key_hash', 'encryption_complete')).toEqual([
      { encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: true },
    ]);
    expect((await test.app.inject({ method: 'GET', url: '/connection/conn-3?provider_config_key=b' })).json().credentials).toEqual(credentialsOf('conn-3'));
  });
});

describe('a database encrypted with another key', () => {
  let database: TestDatabase;
  const originalKey = newEncryptionKey();
  const otherKey = newEncryptionKey();
  let configBefore: Record<string, unknown>;
  let stateBefore: unknown;

  beforeAll(async () => {
    database = await createTestDatabase();
    const test = await buildTestApp(database, { NANGO_ENCRYPTION_KEY: originalKey });
    try {
      await createConfigAndConnection(test);
    } finally {
      await test.close();
    }
    configBefore = await rawConfig(database);
    stateBefore = await database.knex('_nango_db_config').select('*');
  });

  afterAll(async () => {
    await database?.drop();
  });

  afterEach(async () => {
    // Nothing a refused start does may change the database.
    expect(await rawConfig(database)).toEqual(configBefore);
    expect(await database.knex('_nango_db_config').select('*')).toEqual(stateBefore);
  });

  it('refuses to start with a different key, naming NANGO_ENCRYPTION_KEY', async () => {
    await expect(reconcileEncryption(new EncryptionStateStore(database.knex), new Cipher(otherKey), silent)).rejects.toThrow(/NANGO_ENCRYPTION_KEY/);
  });

  it('refuses to start with the key removed, naming NANGO_ENCRYPTION_KEY', async () => {
    await expect(reconcileEncryption(new EncryptionStateStore(database.knex), undefined, silent)).rejects.toThrow(/NANGO_ENCRYPTION_KEY/);
  });

  it('still starts with the original key', async () => {
    await expect(reconcileEncryption(new EncryptionStateStore(database.knex), new Cipher(originalKey), silent)).resolves.toEqual({ rotationPending: false });
  });

  it.each([
    ['a different key', { NANGO_ENCRYPTION_KEY: otherKey }],
    ['the key removed', {}],
  ])('a server process started with %s exits non-zero with one line on stderr naming NANGO_ENCRYPTION_KEY', async (_case, env: Record<string, string>) => {
    const exited = await runServerToExit({ NANGO_DATABASE_URL: database.url, ...env });
    expect(exited.code).not.toBe(0);
    expect(exited.code).not.toBeNull();
    const lines = exited.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('NANGO_ENCRYPTION_KEY');
    expect(exited.stdout).not.toMatch(/listening/i);
  });
});
