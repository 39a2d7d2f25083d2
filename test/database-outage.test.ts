import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../src/db/embedded-postgres.js';
import { createLogger } from '../src/logger.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

/**
 * The database disappears under traffic: a real server process on a PostgreSQL of this file's own, which is
 * stopped (fast shutdown: sessions are cut) for about two seconds and started again on the same data and
 * port while clients keep reading and writing.
 */

const SECRET = 'outage-secret';
const KEY = 'github-outage';
const WORKERS = 4;
const OUTAGE_MS = 2_000;
/** No answer may take longer than this; the pool's acquire timeout (5 s) is the longest a request should wait. */
const ANSWER_BOUND_MS = 10_000;
/** The server must serve again within this long after the database is back. */
const RECOVERY_BOUND_MS = 5_000;
/** Traffic keeps going this long after the database is back, to see the recovery hold. */
const AFTER_RETURN_MS = 4_000;

interface Exchange {
  kind: 'write' | 'read' | 'list';
  connectionId: string | undefined;
  startedAt: number;
  endedAt: number;
  status: number;
  body: unknown;
}

describe('the database goes away under traffic and comes back', () => {
  let root: string;
  let dataDir: string;
  let cluster: EmbeddedCluster | undefined;
  let server: ServerProcess | undefined;
  const exchanges: Exchange[] = [];
  let backAt = 0;

  const headers = { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' };

  async function exchange(kind: Exchange['kind'], connectionId: string | undefined, url: string, init: RequestInit): Promise<Exchange> {
    const startedAt = Date.now();
    let status = 0;
    let body: unknown;
    try {
      // A hang shows up as an abort (status 0) after the bound, never as a stuck test.
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(ANSWER_BOUND_MS + 5_000) });
      status = response.status;
      const text = await response.text();
      body = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch (error) {
      body = String(error);
    }
    const done = { kind, connectionId, startedAt, endedAt: Date.now(), status, body };
    exchanges.push(done);
    return done;
  }

  /** One client: writes a new connection, reads one it was told was saved, lists, and again, until told to stop. */
  async function worker(index: number, running: () => boolean): Promise<void> {
    const baseUrl = server?.baseUrl ?? '';
    const saved: string[] = [];
    for (let n = 0; running(); n++) {
      const connectionId = `w${index}-${n}`;
      const write = await exchange('write', connectionId, `${baseUrl}/connection`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ connection_id: connectionId, provider_config_key: KEY, type: 'OAUTH2', access_token: `token-${connectionId}`, expires_at: '2099-01-01T00:00:00.000Z' }),
      });
      if (write.status === 201) saved.push(connectionId);
      const readId = saved[n % Math.max(saved.length, 1)];
      if (readId) await exchange('read', readId, `${baseUrl}/connection/${readId}?provider_config_key=${KEY}`, { headers });
      await exchange('list', undefined, `${baseUrl}/connection`, { headers });
    }
  }

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'custody-outage-'));
    // As root the database runs as the OS user postgres, which must be able to enter the folder.
    chmodSync(root, 0o755);
    dataDir = path.join(root, 'data');
    const log = createLogger('silent');
    cluster = await startEmbeddedPostgres(dataDir, log);
    const { user, password, port } = cluster.connection;
    const url = `postgres://${encodeURIComponent(String(user))}:${encodeURIComponent(String(password))}@127.0.0.1:${String(port)}/nango`;
    server = await startServerProcess({ NANGO_DATABASE_URL: url, NANGO_SECRET_KEY: SECRET, TELEMETRY: 'false' });
    const created = await fetch(`${server.baseUrl}/config`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ provider_config_key: KEY, provider: 'github', oauth_client_id: 'client-o', oauth_client_secret: 'secret-o', oauth_scopes: 'repo' }),
    });
    expect(created.status).toBe(200);

    let running = true;
    const traffic = Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index, () => running)));
    try {
      await delay(1_000);
      await cluster.stop();
      await delay(OUTAGE_MS);
      // Same data, same port: the server's connection settings stay valid, as with a restarted database host.
      cluster = await startEmbeddedPostgres(dataDir, log, { port: Number(port) });
      backAt = Date.now();
      await delay(AFTER_RETURN_MS);
    } finally {
      running = false;
      await traffic;
    }
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('answers every request with a success or 503 database_unavailable, never another error', () => {
    const unexpected = exchanges.filter((done) => done.status !== 200 && done.status !== 201 && done.status !== 503);
    expect(unexpected).toEqual([]);
    const unavailable = exchanges.filter((done) => done.status === 503);
    // The outage was seen: otherwise this file would test nothing.
    expect(unavailable.length).toBeGreaterThan(0);
    for (const done of unavailable) {
      expect(done.body).toEqual({ error: expect.stringMatching(/database/i), type: 'database_unavailable', payload: {} });
    }
  });

  it(`answers every request within ${ANSWER_BOUND_MS / 1000} s, during the outage too`, () => {
    const slow = exchanges.filter((done) => done.endedAt - done.startedAt > ANSWER_BOUND_MS);
    expect(slow).toEqual([]);
  });

  it(`serves again within ${RECOVERY_BOUND_MS / 1000} s of the database coming back, without a restart`, () => {
    expect(server?.child.exitCode).toBeNull();
    expect(server?.child.signalCode).toBeNull();
    // The recovery point: from this request on, every request succeeded.
    const ordered = [...exchanges].sort((a, b) => a.startedAt - b.startedAt);
    const succeeded = (done: Exchange): boolean => done.status === 200 || done.status === 201;
    let lastFailure = ordered.length - 1;
    while (lastFailure >= 0 && succeeded(ordered[lastFailure] as Exchange)) lastFailure--;
    const recovered = ordered[lastFailure + 1];
    expect(recovered).toBeDefined();
    expect((recovered?.startedAt ?? Infinity) - backAt).toBeLessThan(RECOVERY_BOUND_MS);
    // And it held: plenty of successes after it, in every kind of request.
    const after = ordered.slice(lastFailure + 1);
    expect(new Set(after.map((done) => done.kind))).toEqual(new Set(['write', 'read', 'list']));
  });

  it('keeps every write it answered with a success', async () => {
    const confirmed = exchanges.filter((done) => done.kind === 'write' && done.status === 201).map((done) => String(done.connectionId));
    expect(confirmed.length).toBeGreaterThan(0);
    const client = new pg.Client({ ...cluster?.connection });
    await client.connect();
    try {
      const stored = await client.query<{ connection_id: string; token: string }>(
        `SELECT connection_id, credentials->>'access_token' AS token FROM nango._nango_connections WHERE provider_config_key = $1`,
        [KEY],
      );
      const tokens = new Map(stored.rows.map((row) => [row.connection_id, row.token]));
      const missing = confirmed.filter((connectionId) => tokens.get(connectionId) !== `token-${connectionId}`);
      expect(missing).toEqual([]);
    } finally {
      await client.end();
    }
    // Every read the server answered during the run handed out what had been written.
    const reads = exchanges.filter((done) => done.kind === 'read' && done.status === 200);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((done) => (done.body as { credentials?: { access_token?: unknown } }).credentials?.access_token !== `token-${String(done.connectionId)}`)).toEqual([]);
    // And the server lists them all once the database is back.
    const listed = await fetch(`${server?.baseUrl ?? ''}/connection`, { headers });
    expect(listed.status).toBe(200);
    const ids = new Set(((await listed.json()) as { connections: { connection_id: string }[] }).connections.map((row) => row.connection_id));
    expect(confirmed.filter((connectionId) => !ids.has(connectionId))).toEqual([]);
  });

  it('delivers OAuth results published by another process again after the outage', async () => {
    // The popup's WebSocket is held here; a callback reaching another process is published with NOTIFY, which
    // this process only hears if it opened its LISTEN connection again after the database came back.
    const ws = new WebSocket(`ws://127.0.0.1:${server?.port ?? 0}/`);
    const messages: Record<string, unknown>[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    try {
      await waitFor(() => messages.length > 0, 5_000);
      const wsClientId = String(messages[0]?.['ws_client_id']);
      const result = { message_type: 'success', provider_config_key: KEY, connection_id: 'from-elsewhere', is_pending: false };
      const client = new pg.Client({ ...cluster?.connection });
      await client.connect();
      try {
        // Published again until heard: the listener reconnects on a timer, so the first may come too early.
        const deadline = Date.now() + RECOVERY_BOUND_MS;
        while (messages.length < 2 && Date.now() < deadline) {
          await client.query('SELECT pg_notify($1, $2)', ['custody_oauth_results', JSON.stringify({ wsClientId, message: result })]);
          await waitFor(() => messages.length > 1, 500);
        }
      } finally {
        await client.end();
      }
      expect(messages[1]).toEqual(result);
    } finally {
      ws.terminate();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await delay(20);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
