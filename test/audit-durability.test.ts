import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditInsertText } from '../src/db/audit-commit.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServer, type RunningServer } from './support/server-run.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';
import { startUpstream, type UpstreamServer } from './support/upstream-server.js';

/**
 * The audit trail's promise (docs/security.md, "Audit trail durability"): a credential read is answered only once its
 * entry is committed in PostgreSQL, so a server process killed at any moment, even by SIGKILL in the middle of a
 * load, has lost no entry of a read it answered; and a graceful stop (SIGTERM) writes every entry it holds,
 * the proxy's gathered ones included, before it exits. Both commit modes (NANGO_AUDIT_SYNCHRONOUS_COMMIT) keep it.
 */
const SECRET = 'sk-audit-durability';
const READERS = 16;
const auth = { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' };

let database: TestDatabase;
let upstream: UpstreamServer;
let providersFile: string;
const servers: RunningServer[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  upstream = await startUpstream();
  providersFile = catalogWith({ 'durable-api': oidcTestProvider(upstream.origin) }).file;
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')));
  await upstream?.close();
  await database?.drop();
});

async function start(env: Record<string, string> = {}): Promise<RunningServer> {
  const server = await startServer({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: SECRET, NANGO_PROVIDERS_FILE: providersFile, TELEMETRY: 'false', LOG_LEVEL: 'info', ...env });
  servers.push(server);
  return server;
}

/** An integration of its own (named like the connection) and the connection in it. */
async function createConnection(server: RunningServer, connectionId: string): Promise<void> {
  const config = { provider_config_key: connectionId, provider: 'durable-api', oauth_client_id: 'cid', oauth_client_secret: 'csecret-durable', oauth_scopes: 'read' };
  const configAnswer = await fetch(`${server.baseUrl}/config`, { method: 'POST', headers: auth, body: JSON.stringify(config) });
  expect(configAnswer.status).toBe(200);
  const connection = { connection_id: connectionId, provider_config_key: connectionId, type: 'OAUTH2', access_token: `at-${connectionId}-0123456789`, expires_at: '2099-01-01T00:00:00.000Z' };
  expect((await fetch(`${server.baseUrl}/connection`, { method: 'POST', headers: auth, body: JSON.stringify(connection) })).status).toBe(201);
}

/**
 * `READERS` clients sending `path` one after another on kept-alive sockets until the server goes away; counts the
 * answers received whole with a 200 (a read whose answer was cut off does not count as answered).
 */
function loadUntilGone(server: RunningServer, path: string, headers: Record<string, string>): { answered: () => number; done: Promise<void> } {
  let answered = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: READERS });
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      const request = http.get(`${server.baseUrl}${path}`, { agent, headers }, (response) => {
        response.resume();
        // 'close' comes whether the body ended or the socket died under it; only a whole 200 counts.
        response.on('close', () => {
          const whole = response.complete;
          if (whole && response.statusCode === 200) answered++;
          resolve(whole);
        });
      });
      request.on('error', () => resolve(false));
    });
  const reader = async (): Promise<void> => {
    while (await one());
  };
  const done = Promise.all(Array.from({ length: READERS }, reader)).then(() => agent.destroy());
  return { answered: () => answered, done };
}

/** Waits (within a generous bound: the suite runs on a busy machine) until `enough` holds. */
async function waitUntil(enough: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 45_000;
  while (!enough()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await sleep(50);
  }
}

async function entries(action: string, connectionId: string): Promise<number> {
  // A row counts the identical entries one group insert wrote together (test/audit-folding.test.ts).
  const [row] = (await database.knex('_custody_audit_log').where({ action, connection_id: connectionId }).sum({ count: 'count' })) as { count: string | null }[];
  return Number(row?.count ?? 0);
}

describe('a server process killed with SIGKILL under load', () => {
  it.each([
    ['off', 'the default: commits without waiting for the disk flush'],
    ['on', 'commits after the disk flush'],
  ])('has committed an entry for every credential read it answered (NANGO_AUDIT_SYNCHRONOUS_COMMIT=%s, %s)', async (mode) => {
    const server = await start({ NANGO_AUDIT_SYNCHRONOUS_COMMIT: mode });
    const connectionId = `killed-${mode}`;
    await createConnection(server, connectionId);
    const load = loadUntilGone(server, `/connection/${connectionId}?provider_config_key=${connectionId}`, auth);
    // Kill at a moment unrelated to any one request, once reads are well under way.
    await waitUntil(() => load.answered() >= 100, '100 answered reads');
    await sleep(Math.random() * 200);
    await server.stop('SIGKILL');
    await load.done;

    expect(await entries('credentials.read', connectionId)).toBeGreaterThanOrEqual(load.answered());
  }, 120_000);
});

describe('a server process stopped with SIGTERM under load', () => {
  it('writes every entry it holds before it exits, the proxy calls it gathered included', async () => {
    const server = await start();
    const connectionId = 'graceful';
    await createConnection(server, connectionId);
    const first = await fetch(`${server.baseUrl}/proxy/durable-items`, { headers: { ...auth, 'connection-id': connectionId, 'provider-config-key': connectionId } });
    expect(first.status).toBe(200);
    const reads = loadUntilGone(server, `/connection/${connectionId}?provider_config_key=${connectionId}`, auth);
    const proxied = loadUntilGone(server, '/proxy/durable-items', { ...auth, 'connection-id': connectionId, 'provider-config-key': connectionId });
    await waitUntil(() => proxied.answered() >= 50 && reads.answered() >= 50, '50 answered reads and proxy calls');
    expect(await server.stop('SIGTERM')).toBe(0);
    await Promise.all([reads.done, proxied.done]);

    expect(await entries('credentials.read', connectionId)).toBeGreaterThanOrEqual(reads.answered());
    expect(await entries('credentials.use', connectionId)).toBeGreaterThanOrEqual(proxied.answered());
  }, 120_000);
});

describe("the audit insert's commit (NANGO_AUDIT_SYNCHRONOUS_COMMIT)", () => {
  /** Runs the insert the audit trail would, into a scratch table, and reports the commit mode it ran under and the connection's mode afterwards. */
  async function commitModes(mode: 'on' | 'off'): Promise<{ during: string; after: string }> {
    const client = new pg.Client(database.connection);
    await client.connect();
    try {
      await client.query('CREATE TEMP TABLE scratch_entries (action text)');
      const text = `${auditInsertText('INSERT INTO scratch_entries (action)', 'entries.*', 'unnest($1::text[]) AS entries', mode)} RETURNING current_setting('synchronous_commit') AS mode`;
      const { rows } = await client.query<{ mode: string }>({ text, values: [['credentials.read', 'credentials.read']] });
      const after = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      return { during: rows[0]?.mode ?? '', after: after.rows[0]?.synchronous_commit ?? '' };
    } finally {
      await client.end();
    }
  }

  it('by default commits without waiting for the disk flush, and leaves the connection as it found it', async () => {
    expect(await commitModes('off')).toEqual({ during: 'off', after: 'on' });
  });

  it('with NANGO_AUDIT_SYNCHRONOUS_COMMIT=true keeps the database\'s own setting', async () => {
    expect(await commitModes('on')).toEqual({ during: 'on', after: 'on' });
  });
});
