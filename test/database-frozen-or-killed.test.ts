import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import type { Knex } from 'knex';
import { openDatabase, type Database } from '../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../src/db/embedded-postgres.js';
import { runWaitingStatement } from '../src/db/query-timeouts.js';
import { createLogger } from '../src/logger.js';
import { isDatabaseUnavailable } from '../src/db/database-unavailable.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

/**
 * What an operator sees when PostgreSQL fails under a running server: a frozen database (every PostgreSQL
 * process stopped with SIGSTOP: connections stay open, nothing answers) and an embedded database killed
 * with SIGKILL. Real server processes with their default timeouts; the limits themselves on a real PostgreSQL.
 */

const SECRET = 'database-faults-secret';
const KEY = 'github-faults';
const headers = { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' };
/** The documented bound with the defaults: NANGO_DB_QUERY_TIMEOUT_MS (7 s) plus the pool's wait for a connection (5 s). */
const ANSWER_BOUND_MS = 12_000;
/** Room for a loaded machine on top of the bound; a hang would be far past it. */
const SLACK_MS = 2_000;

interface Answer {
  what: string;
  status: number;
  body: unknown;
  ms: number;
}

async function call(what: string, url: string, init: RequestInit = {}): Promise<Answer> {
  const started = Date.now();
  try {
    // A hang shows up as status 0 after 30 s, never as a stuck test.
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      // not JSON
    }
    return { what, status: response.status, body, ms: Date.now() - started };
  } catch (error) {
    return { what, status: 0, body: String(error), ms: Date.now() - started };
  }
}

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** The postmaster's children (its backends and helpers), from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((candidate) => {
      try {
        const stat = readFileSync(`/proc/${candidate}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    });
}

/** Running, as opposed to gone or dead-but-unreaped (a zombie). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

function newDataDir(prefix: string): { root: string; dataDir: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  // As root the database runs as the OS user postgres, which must be able to enter the folder.
  chmodSync(root, 0o755);
  return { root, dataDir: path.join(root, 'data') };
}

describe('a frozen PostgreSQL (SIGSTOP: connections open, no answers)', () => {
  let root: string;
  let dataDir: string;
  let cluster: EmbeddedCluster | undefined;
  let server: ServerProcess | undefined;
  let frozen: number[] = [];
  const during: Answer[] = [];
  let health: Answer | undefined;
  let ready: Answer | undefined;

  function thaw(): void {
    // Children first, the postmaster last: it must not see its backends stopped once it runs again.
    for (const pid of [...frozen].reverse()) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    frozen = [];
  }

  beforeAll(async () => {
    ({ root, dataDir } = newDataDir('custody-frozen-'));
    cluster = await startEmbeddedPostgres(dataDir, createLogger('silent'));
    const { user, password, port } = cluster.connection;
    const url = `postgres://${encodeURIComponent(String(user))}:${encodeURIComponent(String(password))}@127.0.0.1:${String(port)}/nango`;
    // No timeout variables: the defaults are what is tested.
    server = await startServerProcess({ NANGO_DATABASE_URL: url, NANGO_SECRET_KEY: SECRET, TELEMETRY: 'false' });
    const base = server.baseUrl;
    const created = await call('create', `${base}/config`, { method: 'POST', headers, body: JSON.stringify({ provider_config_key: KEY, provider: 'github', oauth_client_id: 'client-f', oauth_client_secret: 'secret-f', oauth_scopes: 'repo' }) });
    expect(created.status).toBe(200);
    const imported = await call('import', `${base}/connection`, { method: 'POST', headers, body: JSON.stringify({ connection_id: 'user-1', provider_config_key: KEY, type: 'OAUTH2', access_token: 'token-1', expires_at: '2099-01-01T00:00:00.000Z' }) });
    expect(imported.status).toBe(201);
    // Warm the pool: several connections open and idle, as on a server under traffic.
    await Promise.all(Array.from({ length: 6 }, () => call('warm', `${base}/config/${KEY}`, { headers })));

    const postmaster = postmasterPid(dataDir);
    process.kill(postmaster, 'SIGSTOP');
    frozen = [postmaster, ...childrenOf(postmaster)];
    for (const pid of frozen.slice(1)) process.kill(pid, 'SIGSTOP');
    try {
      // More requests than the pool (7) has connections: some hold a stuck connection, the rest wait for one.
      const requests = Array.from({ length: 4 }, (_, n) => [
        call('read integration', `${base}/config/${KEY}`, { headers }),
        call('read connection', `${base}/connection/user-1?provider_config_key=${KEY}`, { headers }),
        call('list connections', `${base}/connections`, { headers }),
        call('write connection', `${base}/connection`, { method: 'POST', headers, body: JSON.stringify({ connection_id: `frozen-${n}`, provider_config_key: KEY, type: 'OAUTH2', access_token: `t-${n}` }) }),
      ]).flat();
      await new Promise((resolve) => setTimeout(resolve, 500));
      [health, ready] = await Promise.all([call('health', `${base}/health`), call('ready', `${base}/ready`)]);
      during.push(...(await Promise.all(requests)));
    } finally {
      thaw();
    }
  }, 90_000);

  afterAll(async () => {
    thaw();
    await server?.stop();
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it(`answers every request 503 database_unavailable within ${ANSWER_BOUND_MS / 1000} s (the query timeout plus the wait for a pooled connection), none hangs`, () => {
    expect(during.length).toBe(16);
    expect(during.filter((answer) => answer.status !== 503).map(({ what, status, ms }) => ({ what, status, ms }))).toEqual([]);
    for (const answer of during) {
      // Each API generation in its own error shape.
      const modern = answer.what === 'list connections';
      expect(answer.body).toEqual(modern ? { error: { code: 'database_unavailable', message: expect.stringMatching(/database/i) } } : { error: expect.stringMatching(/database/i), type: 'database_unavailable', payload: {} });
    }
    expect(during.filter((answer) => answer.ms > ANSWER_BOUND_MS + SLACK_MS).map(({ what, ms }) => ({ what, ms }))).toEqual([]);
  });

  it('keeps answering /health (liveness: the process is fine, restarting it would not help)', () => {
    expect(health?.status).toBe(200);
    expect(health?.body).toEqual({ result: 'ok' });
    expect(health?.ms).toBeLessThan(SLACK_MS);
  });

  it('answers /ready 503 database_unavailable within its 2 s bound (readiness: take it out of rotation)', () => {
    expect(ready?.status).toBe(503);
    expect(ready?.body).toMatchObject({ type: 'database_unavailable' });
    expect(ready?.ms).toBeLessThan(2_000 + SLACK_MS);
  });

  it('serves again, without a restart, once the database resumes', async () => {
    const base = server?.baseUrl ?? '';
    expect(await waitFor(async () => (await call('ready', `${base}/ready`)).status === 200, 15_000)).toBe(true);
    expect(await waitFor(async () => (await call('read', `${base}/connection/user-1?provider_config_key=${KEY}`, { headers })).status === 200, 15_000)).toBe(true);
    const written = await call('write', `${base}/connection`, { method: 'POST', headers, body: JSON.stringify({ connection_id: 'after-thaw', provider_config_key: KEY, type: 'OAUTH2', access_token: 'after' }) });
    expect(written.status).toBe(201);
    expect(server?.child.exitCode).toBeNull();
  }, 40_000);
});

describe('the embedded PostgreSQL killed with SIGKILL', () => {
  let root: string;
  let dataDir: string;
  let server: ServerProcess | undefined;
  const postmasters = new Set<number>();

  const pidNow = (): number => {
    const pid = postmasterPid(dataDir);
    postmasters.add(pid);
    return pid;
  };

  beforeAll(async () => {
    ({ root, dataDir } = newDataDir('custody-killed-'));
    // No database variables: the embedded default, as `npm start` runs it.
    server = await startServerProcess({ NANGO_DATA_DIR: dataDir, NANGO_SECRET_KEY: SECRET, TELEMETRY: 'false' }, 110_000);
    const created = await call('create', `${server.baseUrl}/config`, { method: 'POST', headers, body: JSON.stringify({ provider_config_key: KEY, provider: 'github', oauth_client_id: 'client-k', oauth_client_secret: 'secret-k', oauth_scopes: 'repo' }) });
    expect(created.status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await server?.stop('SIGTERM');
    if (existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))) pidNow();
    for (const pid of postmasters) {
      if (isRunning(pid)) {
        process.kill(pid, 'SIGKILL');
        await waitFor(() => !isRunning(pid), 5_000);
      }
    }
    if (root) rmSync(root, { recursive: true, force: true });
  }, 60_000);

  const restartsLogged = (running: ServerProcess): number => running.output().match(/The embedded PostgreSQL is running again/g)?.length ?? 0;

  it('is started again in place, says so in the log, and the data is still there; /health stays 200 throughout', async () => {
    const running = server as ServerProcess;
    const killed = pidNow();
    process.kill(killed, 'SIGKILL');
    const answers: Answer[] = [];
    const back = await waitFor(async () => {
      answers.push(await call('health', `${running.baseUrl}/health`));
      answers.push(await call('ready', `${running.baseUrl}/ready`));
      return restartsLogged(running) === 1;
    }, 30_000);
    expect(back).toBe(true);
    expect(running.output()).toMatch(new RegExp(`embedded PostgreSQL \\(pid ${killed}\\) was killed \\(SIGKILL\\); starting it again`));
    expect(answers.filter((answer) => answer.what === 'health').every((answer) => answer.status === 200)).toBe(true);
    // /ready said 503 while the database was down, and nothing else than that or 200: never an error or a hang.
    expect(answers.filter((answer) => answer.what === 'ready' && answer.status !== 200 && answer.status !== 503)).toEqual([]);
    expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(2_000 + SLACK_MS);
    expect(await waitFor(async () => (await call('ready', `${running.baseUrl}/ready`)).status === 200, 10_000)).toBe(true);
    const restarted = pidNow();
    expect(restarted).not.toBe(killed);
    expect(isRunning(restarted)).toBe(true);
    const read = await call('read', `${running.baseUrl}/config/${KEY}`, { headers });
    expect(read.status).toBe(200);
    expect((read.body as { config: unknown }).config).toMatchObject({ unique_key: KEY, oauth_client_secret: 'secret-k' });
  }, 60_000);

  it('answers requests made while it is down with 503 database_unavailable, never a hang', async () => {
    const running = server as ServerProcess;
    process.kill(pidNow(), 'SIGKILL');
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('read', `${running.baseUrl}/config/${KEY}`, { headers })));
    expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 503)).toEqual([]);
    expect(answers.filter((answer) => answer.ms > ANSWER_BOUND_MS + SLACK_MS)).toEqual([]);
    expect(await waitFor(() => restartsLogged(running) === 2, 30_000)).toBe(true);
    expect(await waitFor(async () => (await call('read', `${running.baseUrl}/config/${KEY}`, { headers })).status === 200, 10_000)).toBe(true);
  }, 60_000);

  it('that keeps dying stops the server with exit code 1 and a plain reason, so a supervisor starts it afresh', async () => {
    const running = server as ServerProcess;
    const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
    // Two deaths so far; three more are restarted, the sixth within ten minutes is a crash loop.
    for (let death = 3; death <= 5; death++) {
      process.kill(pidNow(), 'SIGKILL');
      expect(await waitFor(() => restartsLogged(running) === death, 30_000)).toBe(true);
    }
    process.kill(pidNow(), 'SIGKILL');
    expect(await exited).toBe(1);
    server = undefined;
    expect(running.output()).toMatch(/its 6th death within 10 minutes; not starting it again/);
    expect(running.output()).toMatch(/The server stops now \(exit code 1\)/);
  }, 120_000);
});

describe('NANGO_DB_STATEMENT_TIMEOUT_MS and NANGO_DB_QUERY_TIMEOUT_MS', () => {
  it('default to 5 s on the database and 7 s on the server, the query timeout following the statement timeout', () => {
    expect(loadConfig({}).databaseTimeouts).toEqual({ statementMs: 5_000, queryMs: 7_000 });
    expect(loadConfig({ NANGO_DB_STATEMENT_TIMEOUT_MS: '20000' }).databaseTimeouts).toEqual({ statementMs: 20_000, queryMs: 22_000 });
    expect(loadConfig({ NANGO_DB_STATEMENT_TIMEOUT_MS: '0', NANGO_DB_QUERY_TIMEOUT_MS: '0' }).databaseTimeouts).toEqual({ statementMs: 0, queryMs: 0 });
  });

  it('refuse a query timeout that would give up before the database cancels a slow statement, naming both', () => {
    expect(() => loadConfig({ NANGO_DB_STATEMENT_TIMEOUT_MS: '10000', NANGO_DB_QUERY_TIMEOUT_MS: '8000' })).toThrow(ConfigError);
    expect(() => loadConfig({ NANGO_DB_STATEMENT_TIMEOUT_MS: '10000', NANGO_DB_QUERY_TIMEOUT_MS: '8000' })).toThrow(/NANGO_DB_QUERY_TIMEOUT_MS \(8000\) must be larger than NANGO_DB_STATEMENT_TIMEOUT_MS \(10000\)/);
  });

  describe('on a real PostgreSQL', () => {
    let database: TestDatabase;
    let opened: Database | undefined;
    const timeouts = { statementMs: 300, queryMs: 600 };

    beforeAll(async () => {
      database = await createTestDatabase();
      const config = loadConfig({ NANGO_DATABASE_URL: database.url, NANGO_DB_STATEMENT_TIMEOUT_MS: '300', NANGO_DB_QUERY_TIMEOUT_MS: '600' });
      opened = await openDatabase(config.database, config.databaseTimeouts, createLogger('silent'));
    });

    afterAll(async () => {
      await opened?.close();
      await database?.drop();
    });

    const bounded = (): Knex => (opened as Database).knex;

    it('cancel a statement running past the statement timeout, which answers 503 database_unavailable', async () => {
      const error = await bounded().raw('SELECT pg_sleep(1)').then(() => undefined, (caught: unknown) => caught);
      expect((error as { code?: string }).code).toBe('57014');
      expect(isDatabaseUnavailable(error)).toBe(true);
      // The connection is fine afterwards.
      expect((await bounded().raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });

    it('never cut the pool the server runs long work on (migrations, encrypting rows, key rotation)', async () => {
      await expect((opened as Database).maintenanceKnex.raw('SELECT pg_sleep(1)')).resolves.toBeDefined();
    });

    it('let a statement that waits for another process\'s lock wait that long, and hold again after it', async () => {
      await bounded().transaction(async (trx) => {
        await runWaitingStatement(trx, timeouts, 1_000, 'SELECT pg_sleep(?)', [0.8]);
        const after = await trx.raw('SELECT pg_sleep(0.5)').then(() => undefined, (caught: unknown) => caught);
        expect((after as { code?: string }).code).toBe('57014');
      }).catch((error: unknown) => {
        // The cancelled statement aborts the transaction; only that outcome is expected here.
        if ((error as { code?: string }).code !== '57014') throw error;
      });
    });
  });
});
