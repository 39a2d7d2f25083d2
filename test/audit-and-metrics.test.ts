import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { parsePrometheusText } from './support/prometheus-text.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/** Who touched this token: the audit trail, listed with filters; and /metrics in the Prometheus text format. */
let database: TestDatabase;
let test: TestApp;
const auth = { authorization: 'Bearer audit-secret' };

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'audit-secret' });
  const inject = (method: 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT', url: string, payload?: object) => test.app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) });
  await inject('POST', '/config', { provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' });
  await inject('POST', '/connection', { connection_id: 'u1', provider_config_key: 'gh', type: 'OAUTH2', access_token: 't1' });
  await inject('GET', '/connection/u1?provider_config_key=gh');
  await inject('GET', '/connections/u1?provider_config_key=gh');
  await inject('POST', '/connections/metadata', { connection_id: 'u1', provider_config_key: 'gh', metadata: { a: 1 } });
  await inject('GET', '/integrations/gh?include=credentials');
  await inject('PATCH', '/integrations/gh', { display_name: 'GitHub' });
  await inject('GET', '/connection/nope?provider_config_key=gh');
  await inject('DELETE', '/connection/u1?provider_config_key=gh');
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

async function auditLog(query = '') {
  const response = await test.app.inject({ method: 'GET', url: `/audit-log${query}`, headers: auth });
  expect(response.statusCode).toBe(200);
  return response.json() as { data: { action: string; route: string; principal: string; connection_id: string | null; provider_config_key: string | null; at: string }[]; next_cursor: string | null };
}

describe('the audit trail', () => {
  it('records every credential read and change, newest first, with the route and the principal', async () => {
    const { data } = await auditLog();
    expect(data.map((entry) => entry.action)).toEqual([
      'connection.delete',
      'integration.update',
      'integration.credentials_read',
      'connection.update',
      'credentials.read',
      'credentials.read',
      'connection.create',
      'integration.create',
    ]);
    expect(data.find((entry) => entry.route === 'GET /connections/:connectionId')).toMatchObject({ action: 'credentials.read', principal: 'secret_key', connection_id: 'u1', provider_config_key: 'gh' });
    expect(data.find((entry) => entry.route === 'GET /connection/:connectionId')).toMatchObject({ action: 'credentials.read' });
  });

  it('says how many identical entries each listed row stands for', async () => {
    const { data } = await auditLog('?connection_id=u1&action=credentials.read');
    expect(data.map((entry) => (entry as { count?: unknown }).count)).toEqual([1, 1]);
  });

  it('records nothing for a request that failed', async () => {
    const { data } = await auditLog('?connection_id=nope');
    expect(data).toEqual([]);
  });

  it('filters by connection and action', async () => {
    const { data } = await auditLog('?connection_id=u1&action=credentials.read');
    expect(data).toHaveLength(2);
    expect(data.every((entry) => entry.connection_id === 'u1' && entry.action === 'credentials.read')).toBe(true);
  });

  it('pages with a cursor', async () => {
    const first = await auditLog('?limit=3');
    expect(first.data).toHaveLength(3);
    const second = await auditLog(`?limit=3&cursor=${first.next_cursor}`);
    expect(second.data.map((entry) => entry.action)).toEqual(['connection.update', 'credentials.read', 'credentials.read']);
  });

  it('filters by time', async () => {
    expect((await auditLog(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).data).toEqual([]);
  });

  it('is readable with the secret key only', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/audit-log' });
    expect(response.statusCode).toBe(401);
  });

  it('refuses a malformed filter by name', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/audit-log?since=yesterday', headers: auth });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('since');
  });

  it('never stores a token or a secret', async () => {
    const rows = await database.knex('_custody_audit_log');
    const text = JSON.stringify(rows);
    expect(text).not.toContain('t1');
    expect(text).not.toMatch(/"secret"/);
  });
});

describe('/metrics', () => {
  it('answers the Prometheus text format with request counters by route template', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const samples = parsePrometheusText(response.body);
    const requests = samples.get('custody_http_requests_total') ?? [];
    expect(requests).toContainEqual({ labels: { method: 'GET', route: '/connections/:connectionId', status: '200' }, value: 1 });
    expect(samples.get('custody_http_errors_total')).toContainEqual({ labels: { method: 'GET', route: '/connection/:connectionId', status: '400' }, value: 1 });
    expect(samples.has('custody_process_resident_memory_bytes')).toBe(true);
  });

  it('never labels a metric with a connection id', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(response.body).not.toContain('u1');
  });

  it('needs the secret key', async () => {
    expect((await test.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
  });
});

describe('audit retention (NANGO_AUDIT_RETENTION_DAYS)', () => {
  let retained: TestDatabase;
  const DAY = 24 * 60 * 60 * 1000;

  beforeAll(async () => {
    retained = await createTestDatabase();
  });

  afterAll(async () => {
    await retained?.drop();
  });

  it('drops the entries older than the retention when the server starts, and keeps the newer ones', async () => {
    const now = Date.now();
    const written = [
      ['400-days-old', 400 * DAY],
      ['31-days-old', 31 * DAY],
      ['29-days-old', 29 * DAY],
      ['just-now', 60_000],
    ] as const;
    await retained.knex('_custody_audit_log').insert(
      written.map(([connectionId, age]) => ({ action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', provider_config_key: 'gh', connection_id: connectionId, at: new Date(now - age) })),
    );
    const server = await buildTestApp(retained, { NANGO_SECRET_KEY: 'audit-secret', NANGO_AUDIT_RETENTION_DAYS: '30' });
    try {
      const response = await server.app.inject({ method: 'GET', url: '/audit-log', headers: auth });
      expect(response.json().data.map((entry: { connection_id: string }) => entry.connection_id)).toEqual(['just-now', '29-days-old']);
    } finally {
      await server.close();
    }
  });
});
