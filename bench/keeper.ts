import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Cleanup } from './support/cleanup.js';
import { measure, type LoadResult } from './support/load.js';
import { describeContext, machineContext } from './support/machine.js';
import { ms, table, verdict } from './support/markdown.js';
import { startBenchPostgres, type BenchPostgres } from './support/postgres.js';
import { progress } from './support/progress.js';
import { localOAuth2Provider, writeProvidersFile } from './support/providers-file.js';
import { seedConnections } from './support/seed-connections.js';
import type { ServerApi } from './support/server-api.js';
import { freshKeys, startServerOnDatabase } from './support/server-on-database.js';
import type { BenchSettings } from './support/settings.js';
import { makeTempDir } from './support/temp-dir.js';

/**
 * Benchmark 5: the token keeper on `scaleConnections` connections (100,000 by default) of which 1 % fall due.
 * What one sweep costs the database (statements, scans, time), and what it does to the p50 of a credential read
 * made meanwhile (it must not rise by more than 20 %).
 */
const KEY = 'bench';
const SWEEP_SECONDS = 10;
const READERS = 10;

interface TableStats {
  seq_scan: number;
  seq_tup_read: number;
  idx_scan: number;
  n_tup_upd: number;
  xact_commit: number;
  statements: number;
}

export async function benchmarkKeeper(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const count = settings.scaleConnections;
  const due = Math.max(1, Math.round(count / 100));
  const dir = makeTempDir('keeper', cleanup);
  const database = await startBenchPostgres(cleanup, { countStatements: true });
  const provider = await startRefreshEndpoint();
  cleanup.add('token endpoint', () => provider.close());
  const providersFile = writeProvidersFile(dir, { 'bench-oauth': localOAuth2Provider(provider.origin) });
  const keys = freshKeys();
  const { server, api } = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel, env: { NANGO_REFRESH_SWEEP_SECONDS: String(SWEEP_SECONDS) } }, cleanup);
  await api.createIntegration(KEY, 'bench-oauth');
  progress(`keeper: inserting ${count} connections, none due`);
  await seedConnections(database.connection, { providerConfigKey: KEY, prefix: 'user-', count: count - due, encryptionKey: keys.encryptionKey });
  // On the schedule but not due: in the index, as renewable connections are.
  await query(database, `UPDATE nango._nango_connections SET refresh_due_at = now() + interval '1 day' + make_interval(secs => id) WHERE connection_id LIKE 'user-%'`);
  await api.importOAuth2(KEY, 'reader', { access_token: 'reader-access-token' });
  await query(database, 'ANALYZE nango._nango_connections');
  const target = { url: `${server.baseUrl}/connection/reader?provider_config_key=${KEY}`, headers: api.authorization };

  progress('keeper: read p50 with no sweep work');
  const baseline = await measure(target, READERS, settings.durationSeconds, settings.warmupSeconds);

  progress(`keeper: ${due} connections due; one sweep, nothing else running`);
  const quietFrom = provider.received();
  await importDue(api, due, 'quiet');
  const before = await tableStats(database);
  const quiet = await provider.waitForRefreshes(due, 60_000 + 3 * SWEEP_SECONDS * 1000, quietFrom);
  await sleep(1_000);
  const after = await tableStats(database);

  progress(`keeper: ${due} connections due again; reads while the sweep runs`);
  await importDue(api, due, 'busy');
  await provider.waitForRefreshes(1, 60_000 + 3 * SWEEP_SECONDS * 1000, provider.received());
  const busyStart = provider.received();
  const during = await measure(target, READERS, settings.durationSeconds, 0);
  const refreshedDuring = provider.received() - busyStart;

  const cost = difference(after, before);
  const rise = during.p50Ms / baseline.p50Ms - 1;
  return [
    '## Token keeper: one sweep over 100,000 connections',
    '',
    describeContext(
      context,
      `${count.toLocaleString('en-US')} connections, ${due.toLocaleString('en-US')} (1 %) due; NANGO_REFRESH_SWEEP_SECONDS=${SWEEP_SECONDS} (refreshes spread over it), ` +
        `NANGO_REFRESH_CONCURRENCY 10 bounded to 5 by the default pool of 7; the local token endpoint answers at once and refuses a spent refresh token; reads are ${settings.durationSeconds} s of autocannon at ${READERS} connections.`,
      'autocannon and the token endpoint, in the benchmark process',
    ),
    '',
    '### What one sweep costs the database',
    '',
    table(
      ['Due connections refreshed', 'Sweep (first to last refresh, ms)', 'Statements', 'Statements per refresh', 'Transactions', 'Sequential scans of connections', 'Rows they read', 'Index scans of connections', 'Spent tokens presented'],
      [[`${quiet.count} / ${due}`, ms(quiet.spanMs), String(cost.statements), (cost.statements / Math.max(1, quiet.count)).toFixed(1), String(cost.xact_commit), String(cost.seq_scan), String(cost.seq_tup_read), String(cost.idx_scan), String(provider.spent())]],
    ),
    '',
    'Statements are counted by PostgreSQL (`pg_stat_statements`, every statement of every client during the sweep, LISTEN/NOTIFY and the audit trail included); scans from `pg_stat_user_tables`.',
    '',
    '### A credential read while a sweep runs',
    '',
    table(['Reads', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'Failures', 'Refreshes meanwhile'], [
      ['no sweep work', rateOf(baseline), ms(baseline.p50Ms), ms(baseline.p99Ms), String(baseline.failures), '0'],
      [`during a sweep of ${due.toLocaleString('en-US')}`, rateOf(during), ms(during.p50Ms), ms(during.p99Ms), String(during.failures), String(refreshedDuring)],
    ]),
    '',
    `The read p50 rose by ${(rise * 100).toFixed(0)} % during the sweep (target: at most 20 %): ${verdict(rise <= 0.2)}.`,
  ].join('\n');
}

function rateOf(result: LoadResult): string {
  return Math.round(result.requestsPerSecond).toLocaleString('en-US');
}

async function importDue(api: Pick<ServerApi, 'importOAuth2'>, due: number, round: string): Promise<void> {
  // Due in half a minute (the refresh margin is 15 minutes): after the import, so the sweep is measured alone.
  const expiresAt = new Date(Date.now() + 15 * 60_000 + 30_000).toISOString();
  for (let start = 0; start < due; start += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, due - start) }, (_, offset) =>
        api.importOAuth2(KEY, `due-${start + offset}`, { access_token: `access-${round}-${start + offset}`, refresh_token: `refresh-${round}-${start + offset}`, expires_at: expiresAt }),
      ),
    );
  }
}

async function query(database: BenchPostgres, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client(database.connection);
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

async function tableStats(database: BenchPostgres): Promise<TableStats> {
  const tableRow = (await query(database, `SELECT seq_scan, seq_tup_read, idx_scan, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'nango' AND relname = '_nango_connections'`)).rows[0] as Record<string, string>;
  const db = (await query(database, 'SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0] as Record<string, string>;
  const statements = await query(database, 'SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements').then((result) => Number((result.rows[0] as { calls: string }).calls)).catch(() => NaN);
  // The statistics collector reports with a delay; a snapshot taken at once would miss the last changes.
  await query(database, 'SELECT pg_stat_clear_snapshot()');
  return { seq_scan: Number(tableRow['seq_scan']), seq_tup_read: Number(tableRow['seq_tup_read']), idx_scan: Number(tableRow['idx_scan']), n_tup_upd: Number(tableRow['n_tup_upd']), xact_commit: Number(db['xact_commit']), statements };
}

function difference(after: TableStats, before: TableStats): TableStats {
  const keys = Object.keys(after) as (keyof TableStats)[];
  return Object.fromEntries(keys.map((key) => [key, after[key] - before[key]])) as unknown as TableStats;
}

/** A token endpoint that rotates every refresh token and refuses one presented twice. */
async function startRefreshEndpoint() {
  const spentTokens = new Set<string>();
  let received = 0;
  let spent = 0;
  const times: number[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const token = params.get('refresh_token') ?? '';
      received++;
      times.push(performance.now());
      if (spentTokens.has(token) || !token) {
        spent++;
        response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
      spentTokens.add(token);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `${token}-access`, refresh_token: `${token}-next`, expires_in: 3600, token_type: 'Bearer' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    spent: () => spent,
    /** Waits until `wanted` more refreshes than `from` arrived; returns how many and the span between the first and last. */
    async waitForRefreshes(wanted: number, timeoutMs: number, from = received): Promise<{ count: number; spanMs: number }> {
      const deadline = performance.now() + timeoutMs;
      while (received - from < wanted && performance.now() < deadline) await sleep(50);
      const window = times.slice(from);
      return { count: received - from, spanMs: window.length > 1 ? (window.at(-1) ?? 0) - (window[0] ?? 0) : 0 };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
