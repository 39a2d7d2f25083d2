import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Cleanup } from './support/cleanup.js';
import { concurrentReads, type ReadOutcome } from './support/concurrent-reads.js';
import { describeContext, machineContext } from './support/machine.js';
import { ms, table, verdict } from './support/markdown.js';
import { median } from './support/percentile.js';
import { startBenchPostgres } from './support/postgres.js';
import { progress } from './support/progress.js';
import { localOAuth2Provider, writeProvidersFile } from './support/providers-file.js';
import { freshKeys, startServerOnDatabase } from './support/server-on-database.js';
import type { BenchSettings } from './support/settings.js';
import { makeTempDir } from './support/temp-dir.js';
import { startTokenEndpoint } from './support/token-endpoint.js';

/**
 * Benchmark 3: one connection whose token has expired, read by many concurrent readers spread over two
 * server processes on one database. Exactly one refresh request may reach the provider (the processes
 * share the work through an advisory lock); reported: how long until every reader holds the new token.
 */
const KEY = 'bench';
const BUSY = 'busy-user';

interface Round {
  label: string;
  /** Readers answered with anything but 200. */
  failedReaders: number;
  refreshRequests: number;
  spentTokenRequests: number;
  readersWithNewToken: number;
  firstRefreshMs: number | undefined;
  allAnsweredMs: number;
  medianReaderMs: number;
}

export async function benchmarkRefresh(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const dir = makeTempDir('refresh', cleanup);
  const database = await startBenchPostgres(cleanup);
  const token = await startTokenEndpoint(settings.tokenDelayMs);
  cleanup.add('token endpoint', () => token.close());
  const providersFile = writeProvidersFile(dir, { 'bench-oauth': localOAuth2Provider(token.origin) });
  const keys = freshKeys();
  const options = { database, keys, providersFile, cwd: dir, logLevel: settings.logLevel };
  const [a, b] = await Promise.all([startServerOnDatabase(options, cleanup), startServerOnDatabase(options, cleanup)]);
  const baseUrls = [a.server.baseUrl, b.server.baseUrl];
  await a.api.createIntegration(KEY, 'bench-oauth');

  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  cleanup.add('client sockets', () => agent.destroy());
  const read = (connectionId: string): Promise<ReadOutcome[]> =>
    concurrentReads(agent, baseUrls, `/connection/${connectionId}?provider_config_key=${KEY}`, a.api.authorization, settings.refreshReaders);

  // A valid token first: opens every reader's socket and warms both processes, then the same race without a refresh, as the baseline.
  await a.api.importOAuth2(KEY, 'steady-user', { access_token: 'steady-access-token' });
  await read('steady-user');
  const baselineStart = performance.now();
  const baseline = await read('steady-user');
  const rounds: Round[] = [summarise('no refresh (token valid)', baseline, baselineStart, 'steady-access-token', [])];

  for (let round = 1; round <= settings.refreshRounds; round++) {
    progress(`refresh: round ${round} of ${settings.refreshRounds}`);
    const refreshToken = `seed-refresh-token-${round}`;
    // Re-imported expired every round: the server seals it, and the next read must refresh it.
    await a.api.importOAuth2(KEY, BUSY, { access_token: `stale-access-token-${round}`, refresh_token: refreshToken, expires_at: new Date(Date.now() - 60_000).toISOString() });
    token.expect(refreshToken);
    const started = performance.now();
    const outcomes = await read(BUSY);
    const fresh = token.lastAccessToken();
    rounds.push(summarise(`expired, round ${round}`, outcomes, started, fresh, token.refreshes()));
  }

  const races = rounds.slice(1);
  const exactlyOnce = races.every((round) => round.refreshRequests === 1 && round.spentTokenRequests === 0);
  const allFresh = races.every((round) => round.readersWithNewToken === settings.refreshReaders);
  const rows = rounds.map((round) => [
    round.label,
    String(round.refreshRequests),
    `${round.readersWithNewToken} / ${settings.refreshReaders}`,
    String(round.failedReaders),
    round.firstRefreshMs === undefined ? '–' : ms(round.firstRefreshMs),
    ms(round.allAnsweredMs),
    ms(round.medianReaderMs),
  ]);

  return [
    '## Refresh under contention',
    '',
    describeContext(
      context,
      `${settings.refreshReaders} concurrent \`GET /connection/:id\` of one connection, alternating between two server processes on one PostgreSQL, ` +
        `${settings.refreshRounds} rounds; the local token endpoint answers after ${settings.tokenDelayMs} ms (a provider's latency) and rotates refresh tokens. No duration setting applies.`,
      'the readers and the token endpoint, in the benchmark process',
    ),
    '',
    table(['Round', 'Refresh requests at the provider', 'Readers with the new token', 'Failed readers', 'Refresh request arrived (ms)', 'All readers answered (ms)', 'Median reader (ms)'], rows),
    '',
    `Exactly one refresh request reached the token endpoint in every round, none with a spent refresh token: ${verdict(exactlyOnce)}. ` +
      `Every reader got the new token: ${verdict(allFresh)}. Time until all ${settings.refreshReaders} readers had the new token: ` +
      `median ${ms(median(races.map((round) => round.allAnsweredMs)))} ms over ${races.length} rounds, of which ${settings.tokenDelayMs} ms is the token endpoint's own delay. ` +
      'Times are from the moment the readers were started; the first row is the same race on a valid token.',
  ].join('\n');
}

function summarise(label: string, outcomes: ReadOutcome[], started: number, expectedToken: string | undefined, refreshes: { at: number; accepted: boolean }[]): Round {
  const first = refreshes[0];
  return {
    label,
    failedReaders: outcomes.filter((outcome) => outcome.status !== 200).length,
    refreshRequests: refreshes.length,
    spentTokenRequests: refreshes.filter((refresh) => !refresh.accepted).length,
    readersWithNewToken: outcomes.filter((outcome) => expectedToken !== undefined && outcome.accessToken === expectedToken).length,
    firstRefreshMs: first === undefined ? undefined : first.at - started,
    allAnsweredMs: Math.max(...outcomes.map((outcome) => outcome.doneAt)) - started,
    medianReaderMs: median(outcomes.map((outcome) => outcome.doneAt - started)),
  };
}
