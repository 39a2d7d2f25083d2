import pg from 'pg';
import { loadConfig } from '../src/config.js';
import type { Cleanup } from './support/cleanup.js';
import { startHelper } from './support/helper-process.js';
import { measure, type LoadTarget } from './support/load.js';
import { measurePaced } from './support/paced-load.js';
import { describeContext, machineContext } from './support/machine.js';
import { ms, percent, rate, table, verdict } from './support/markdown.js';
import { alternate, medianShareOf, mediansAgainstFloor, type MedianRow, type Round, type Row } from './support/rounds.js';
import { startBenchPostgres } from './support/postgres.js';
import { progress } from './support/progress.js';
import { localOAuth2Provider, writeProvidersFile } from './support/providers-file.js';
import { connectionRowId } from './support/row-id.js';
import { seedConnections } from './support/seed-connections.js';
import type { ServerApi } from './support/server-api.js';
import { freshKeys, startServerOnDatabase } from './support/server-on-database.js';
import type { BenchSettings } from './support/settings.js';
import { makeTempDir } from './support/temp-dir.js';

/**
 * Benchmark 1: the server's read paths beside the floor, in one run on one PostgreSQL.
 * - `GET /connection/:id` (seed) with encryption on: every read decrypts.
 * - `GET /connections` (modern list, first page) with `listConnections` connections present.
 * - `GET /proxy/…` against a local upstream.
 * Floors: a bare Fastify route doing one SELECT by primary key (same pool size), and the upstream called directly.
 */
const KEY = 'bench';
const READER = 'reader';
/** Targets: cached reads at least the floor's throughput, reads with the cache off at least 70 % of it. */
const CACHED_TARGET = 1;
const UNCACHED_TARGET = 0.7;
const PROXY_TARGET_MS = 1;
/** Target: the proxy's closed-loop throughput at least this share of the bare relay's, in the same round. */
const PROXY_RELAY_TARGET = 0.7;
const DIRECT = 'upstream called directly';
const RELAY = 'a bare node:http relay (no auth, lookup or audit)';
const PROXY = '`GET /proxy/items`';
const CACHED = '`GET /connection/:id` (seed, decrypts, audited)';
const FLUSHED = '`GET /connection/:id`, `NANGO_AUDIT_SYNCHRONOUS_COMMIT=true`';
const UNCACHED = '`GET /connection/:id`, `NANGO_CONNECTION_CACHE_SIZE=0`';
const PEER = 'peer (`BENCH_PEER_URL`)';

/** The upstream called directly, the bare relay and the proxy, at one connection count. */
interface ProxyRuns {
  direct: Row;
  relay: Row;
  proxy: Row;
}

/**
 * A floor's row, then each measured row beside it: its share of the floor's throughput (when `throughput`) and
 * the p50 it adds to the floor's (when `added`). Every table of this section is built from these rows.
 */
function rowsAgainstFloor(floor: Row, measured: Row[], columns: { throughput: boolean; added: boolean }): string[][] {
  const row = ({ name, result }: Row, share: string, added: string): string[] => [
    name,
    String(result.connections),
    rate(result.requestsPerSecond),
    ms(result.p50Ms),
    ms(result.p99Ms),
    ...(columns.throughput ? [share] : []),
    ...(columns.added ? [added] : []),
    cpuCell(result.serverCpuMicros),
    String(result.failures),
  ];
  return [
    row(floor, '100 % (floor)', '–'),
    ...measured.map((other) => row(other, percent(other.result.requestsPerSecond / floor.result.requestsPerSecond), ms(other.result.p50Ms - floor.result.p50Ms))),
  ];
}

/** Paced proxy runs: the direct call as the floor, then the relay and the proxy with the p50 each adds. */
function pacedTableRows(runs: ProxyRuns[]): string[][] {
  return runs.flatMap(({ direct, relay, proxy }) => rowsAgainstFloor(direct, [relay, proxy], { throughput: false, added: true }));
}

/**
 * Closed-loop proxy rounds at one connection count, as medians: the direct call, the relay and the proxy, with
 * their shares of the direct call's and (the proxy) of the relay's throughput, each the median of the shares
 * measured in the same round.
 */
function closedLoopProxyRows(rounds: Round[]): string[][] {
  const medians = mediansAgainstFloor(rounds);
  const direct = medians.find((row) => row.name === DIRECT);
  return medians.map((row) => [
    row.name,
    String(row.connections),
    rate(row.requestsPerSecond),
    ms(row.p50Ms),
    ms(row.p99Ms),
    row.name === DIRECT ? '100 % (floor)' : percent(row.share),
    row.name === PROXY ? percent(medianShareOf(rounds, PROXY, RELAY)) : row.name === RELAY ? '100 %' : '–',
    row.name === DIRECT || !direct ? '–' : ms(row.p50Ms - direct.p50Ms),
    cpuCell(row.serverCpuMicros),
    String(row.failures),
  ]);
}

/** CPU per answer of the answering process, in µs ("–" where it could not be read). */
function cpuCell(micros: number | undefined): string {
  return micros === undefined ? '–' : Math.round(micros).toString();
}

export async function benchmarkReads(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const dir = makeTempDir('reads', cleanup);
  const database = await startBenchPostgres(cleanup);
  const upstream = await startHelper('upstream', {}, cleanup);
  const providersFile = writeProvidersFile(dir, { 'bench-api': localOAuth2Provider(upstream.origin) });
  const keys = freshKeys();
  const { server, api } = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel }, cleanup);
  const relay = await startHelper('relay', { RELAY_UPSTREAM: upstream.origin }, cleanup);

  await api.createIntegration(KEY, 'bench-api');
  // Imported through the API, so the server itself seals the row that is read.
  await api.importOAuth2(KEY, READER, { access_token: 'reader-access-token' });

  const auth = api.authorization;
  const proxyTargets = {
    direct: { url: `${upstream.origin}/api/items`, pid: upstream.pid },
    relay: { url: `${relay.origin}/relay/items`, pid: relay.pid },
    proxy: { url: `${server.baseUrl}/proxy/items`, headers: { ...auth, 'connection-id': READER, 'provider-config-key': KEY }, pid: server.pid },
  } satisfies Record<string, LoadTarget>;
  await checkProxy(proxyTargets.proxy);

  const run = async (name: string, target: LoadTarget, connections: number): Promise<Row> => {
    progress(`reads: ${name} at ${connections} connections`);
    return { name, result: await measure(target, connections, settings.durationSeconds, settings.warmupSeconds) };
  };
  const readSections = settings.readsOnlyProxy ? [] : await measureReads({ settings, database, keys, providersFile, dir, server, api, run }, cleanup);

  // Closed loop, in alternating rounds as the reads: the upstream, the relay and the proxy once per round at each
  // connection count, and at one connection (what the proxy adds to a single request, with no queueing).
  const proxyConcurrencies = [...settings.concurrencies, 1];
  const proxyRounds = new Map<number, Round[]>(proxyConcurrencies.map((connections) => [connections, []]));
  for (let index = 0; index < settings.rounds; index++) {
    for (const connections of proxyConcurrencies) {
      progress(`reads: proxy round ${index + 1} of ${settings.rounds}`);
      const plan: [string, LoadTarget][] = [
        [DIRECT, proxyTargets.direct],
        [RELAY, proxyTargets.relay],
        [PROXY, proxyTargets.proxy],
      ];
      const done: Row[] = [];
      for (const [name, target] of alternate(plan, index)) done.push(await run(name, target, connections));
      const byName = (name: string): Row => done.find((row) => row.name === name) as Row;
      proxyRounds.get(connections)?.push({ floor: byName(DIRECT), measured: [byName(RELAY), byName(PROXY)] });
    }
  }
  // The same connection counts at a steady pace the server keeps up with: what the proxy adds to a request under load, without the closed loop's queue.
  const paced = async (name: string, target: LoadTarget, connections: number): Promise<Row> => {
    progress(`reads: ${name} paced at ${settings.pacedRate}/s over ${connections} connections`);
    return { name, result: await measurePaced(target, connections, settings.pacedRate, settings.durationSeconds, settings.warmupSeconds) };
  };
  const pacedProxies: ProxyRuns[] = [];
  for (const connections of settings.concurrencies) {
    pacedProxies.push({
      direct: await paced(DIRECT, proxyTargets.direct, connections),
      relay: await paced('a bare node:http relay', proxyTargets.relay, connections),
      proxy: await paced(PROXY, proxyTargets.proxy, connections),
    });
  }

  const closedRows = [...proxyRounds.values()].flatMap(closedLoopProxyRows);
  const pacedRows = pacedTableRows(pacedProxies);
  const closedVerdicts = [...proxyRounds.values()].map((rounds) => {
    const medians = mediansAgainstFloor(rounds);
    const p50 = (name: string): number => medians.find((row) => row.name === name)?.p50Ms ?? Number.NaN;
    const connections = rounds[0]?.floor.result.connections ?? 0;
    const share = medianShareOf(rounds, PROXY, RELAY);
    const added = p50(PROXY) - p50(DIRECT);
    const throughput = connections === 1 ? '' : `, ${percent(share)} of the relay's throughput (target ≥ ${percent(PROXY_RELAY_TARGET)}) ${verdict(share >= PROXY_RELAY_TARGET)}`;
    return `at ${connections} connection${connections === 1 ? '' : 's'}: +${ms(added)} ms ${verdict(added < PROXY_TARGET_MS)} (the bare relay: +${ms(p50(RELAY) - p50(DIRECT))} ms)${throughput}`;
  });
  const pacedVerdicts = pacedProxies.map(({ direct, relay, proxy }) => {
    const added = proxy.result.p50Ms - direct.result.p50Ms;
    return `at ${proxy.result.connections} connections: +${ms(added)} ms ${verdict(added < PROXY_TARGET_MS)} (the bare relay: +${ms(relay.result.p50Ms - direct.result.p50Ms)} ms)`;
  });

  return [
    '## Reads beside the floor',
    '',
    describeContext(
      context,
      `Each figure is ${settings.durationSeconds} s of autocannon (pipelining 1) after a ${settings.warmupSeconds} s warm-up; ` +
        `${settings.rounds} alternating rounds (the floor and every route once per round, the order reversed every other round), medians over the rounds; ` +
        (settings.readsOnlyProxy ? 'only the proxy rows (`BENCH_READS_ONLY=proxy`); ' : `${settings.listConnections.toLocaleString('en-US')} connections in the database (VACUUM ANALYZE and CHECKPOINT after inserting them); `) +
        `a pg pool of ${loadConfig({}).database.poolMax} in the server (its default)${settings.readsOnlyProxy ? '' : ' and in the floor'}; encryption on; audit on; LOG_LEVEL=${settings.logLevel}.`,
    ),
    '',
    'Latencies are computed from every 2xx response\'s own latency (fractional milliseconds). "vs floor" is the median over rounds of the route\'s ' +
      'requests/s divided by the floor\'s in the same round. "Load generator CPU" is the CPU autocannon\'s process used during the run, in cores: ' +
      'CPU the server and PostgreSQL did not get. "Server CPU per request" is the CPU (user and system, from `/proc`) the answering process used ' +
      'during the run divided by the answers it gave, in µs: disturbed less than requests/s by other work on the machine. ' +
      '"Failures" counts non-2xx answers, socket errors and timeouts, summed over rounds.',
    '',
    ...readSections,
    '### The proxy, against the upstream called directly',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'Throughput vs direct', 'vs relay', 'p50 added (ms)', 'Server CPU per request (µs)', 'Failures'], closedRows),
    '',
    `Targets: the proxy adds < ${PROXY_TARGET_MS} ms at p50 and keeps ≥ ${percent(PROXY_RELAY_TARGET)} of the bare relay's throughput. Closed loop, ${closedVerdicts.join('; ')}. ` +
      'Under a closed-loop load every connection waits for its previous answer, so at 10 and 50 connections the p50 mostly measures queueing ' +
      '(connections ÷ throughput), which the bare relay, doing nothing but forward, pays as well (its rows); ' +
      'the 1-connection rows are the latency the proxy adds to a lone request, and the paced runs below show what it adds under load.',
    '',
    `### The proxy at a steady ${rate(settings.pacedRate)} requests/s`,
    '',
    `Open loop: requests leave every ${ms(1000 / settings.pacedRate)} ms whatever the answers do, round-robin over that many kept-alive connections ` +
      '(one socket each), from a node:http client in the benchmark process; a request whose connection is still busy waits, and the wait counts. ' +
      'At a pace the server keeps up with, the p50 is what a request takes rather than the queue a closed loop builds.',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'p50 added (ms)', 'Server CPU per request (µs)', 'Failures'], pacedRows),
    '',
    `Target: the proxy adds < ${PROXY_TARGET_MS} ms at p50. At a steady pace, ${pacedVerdicts.join('; ')}.`,
    '',
    PER_REQUEST_WORK,
  ].join('\n');
}

/** What the server does per request, written under the tables. */
const PER_REQUEST_WORK =
  'What the server does per request, beside the floor\'s one statement: `GET /connection/:id` and the proxy find the connection and its integration ' +
  'in the process\'s connection cache (`NANGO_CONNECTION_CACHE_SIZE`; the first read of a connection, and every read in the `=0` row, runs one prepared ' +
  'statement instead), decrypt the credentials (the integration\'s client secret only when a refresh or an OAuth 1.0a signature needs it), check the secret key, and record an audit-trail entry: committed before ' +
  '`GET /connection/:id` answers (concurrent requests share one insert, whose commit does not wait for the disk flush unless ' +
  '`NANGO_AUDIT_SYNCHRONOUS_COMMIT=true`: the row so named), written beside the answer for the proxy, which then calls the upstream over a ' +
  'kept-alive socket. `GET /connections` reads the newest page of 100 joined with their integrations and returns them all (100 rows against the floor\'s one). ' +
  'The bare relay shows what one more hop through a Node.js process costs on this machine, before any of the proxy\'s own work.';

interface ReadsContext {
  settings: BenchSettings;
  database: Awaited<ReturnType<typeof startBenchPostgres>>;
  keys: ReturnType<typeof freshKeys>;
  providersFile: string;
  dir: string;
  server: { baseUrl: string };
  api: ServerApi;
  run: (name: string, target: LoadTarget, connections: number) => Promise<Row>;
}

/** The credential reads and the list beside their floors, in alternating rounds: the sections before the proxy's. */
async function measureReads(context: ReadsContext, cleanup: Cleanup): Promise<string[]> {
  const { settings, database, keys, providersFile, dir, server, api, run } = context;
  // The same server without its connection cache: what a process gets that cannot LISTEN (PgBouncer in transaction mode).
  const uncached = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel, env: { NANGO_CONNECTION_CACHE_SIZE: '0' } }, cleanup);
  // The same server with every audit entry flushed to disk before the answer: the durability option the default trades away.
  const flushed = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel, env: { NANGO_AUDIT_SYNCHRONOUS_COMMIT: 'true' } }, cleanup);
  progress(`reads: inserting ${settings.listConnections - 1} more connections`);
  await seedConnections(database.connection, { providerConfigKey: KEY, prefix: 'listed-', count: settings.listConnections - 1, encryptionKey: keys.encryptionKey });
  const rowId = await connectionRowId(database.connection, KEY, READER);
  // The seeding's dead tuples, statistics and dirty pages are dealt with now, not by autovacuum or a checkpoint during the first runs.
  await settleDatabase(database.connection);
  // The floor's pool is as large as the server's default pool (NANGO_DB_POOL_MAX unset).
  const poolMax = loadConfig({}).database.poolMax;
  const floor = await startHelper('floor', { FLOOR_DATABASE_URL: database.url, FLOOR_POOL_MAX: String(poolMax) }, cleanup);

  const auth = api.authorization;
  const targets = {
    floor: { url: `${floor.origin}/connections/${rowId}` },
    listFloor: { url: `${floor.origin}/connections` },
    get: { url: `${server.baseUrl}/connection/${READER}?provider_config_key=${KEY}`, headers: auth },
    getFlushed: { url: `${flushed.server.baseUrl}/connection/${READER}?provider_config_key=${KEY}`, headers: auth },
    getUncached: { url: `${uncached.server.baseUrl}/connection/${READER}?provider_config_key=${KEY}`, headers: auth },
    list: { url: `${server.baseUrl}/connections`, headers: auth },
  } satisfies Record<string, LoadTarget>;
  const sizes = await checkAnswers(api, targets);
  const peer: LoadTarget | undefined = settings.peer ? { url: settings.peer.url, ...(settings.peer.authorization ? { headers: { authorization: settings.peer.authorization } } : {}) } : undefined;
  if (peer) await checkPeer(peer);

  const listName = `\`GET /connections\` (first page of 100, ${settings.listConnections.toLocaleString('en-US')} present)`;
  // Alternating rounds: the floor and every route once per round, in an order that flips each round; medians over rounds.
  const reads = new Map<number, { reads: Round[]; lists: Round[] }>(settings.concurrencies.map((connections) => [connections, { reads: [], lists: [] }]));
  for (let index = 0; index < settings.rounds; index++) {
    for (const connections of settings.concurrencies) {
      progress(`reads: round ${index + 1} of ${settings.rounds}`);
      const plan: [string, LoadTarget][] = [
        ['floor: one SELECT by primary key', targets.floor],
        [CACHED, targets.get],
        [FLUSHED, targets.getFlushed],
        [UNCACHED, targets.getUncached],
        ...(peer ? [[PEER, peer] as [string, LoadTarget]] : []),
        ['floor: the same page of 100, one SELECT', targets.listFloor],
        [listName, targets.list],
      ];
      const done: Row[] = [];
      for (const [name, target] of alternate(plan, index)) done.push(await run(name, target, connections));
      const byName = (name: string): Row => done.find((row) => row.name === name) as Row;
      const [floorRow, ...routeRows] = plan.slice(0, peer ? 5 : 4).map(([name]) => byName(name));
      const collected = reads.get(connections) as { reads: Round[]; lists: Round[] };
      collected.reads.push({ floor: floorRow as Row, measured: [...routeRows, byName(listName)] });
      collected.lists.push({ floor: byName('floor: the same page of 100, one SELECT'), measured: [byName(listName)] });
    }
  }

  const readMedians = [...reads.values()].map((collected) => mediansAgainstFloor(collected.reads));
  const listMedians = [...reads.values()].map((collected) => mediansAgainstFloor(collected.lists));
  const readRows = readMedians.flatMap((rows) => rows.map(medianCells));
  const listRows = listMedians.flatMap((rows) => rows.map(medianCells));
  const readVerdicts = readMedians.flatMap((rows) =>
    rows
      .filter((row) => row.name === CACHED || row.name === UNCACHED)
      .map((row) => {
        const target = row.name === CACHED ? CACHED_TARGET : UNCACHED_TARGET;
        return `${row.name} at ${row.connections}: ${percent(row.share)} of the floor, target ≥ ${percent(target)} ${verdict(row.share >= target)}`;
      }),
  );
  return [
    '### Credential reads and the list, against one `SELECT` by primary key',
    '',
    `The floor answers ${sizes.floor} bytes (the row's id, keys, sealed credentials, configuration, metadata and dates); the credential read ${sizes.get}.`,
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'vs floor', 'Load generator CPU', 'Failures'], readRows),
    '',
    `Targets: ${readVerdicts.join('; ')}.`,
    '',
    '### The list, against the same page read bare',
    '',
    'The floor above returns one row; the list returns 100. Here the floor process reads the same page (the same columns and join, one `SELECT`) and returns it as JSON.',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'vs floor', 'Load generator CPU', 'Failures'], listRows),
    '',
  ];
}

/** A median row as table cells. */
function medianCells(row: MedianRow): string[] {
  const share = row.share === 1 && row.name.startsWith('floor') ? '100 % (floor)' : percent(row.share);
  return [row.name, String(row.connections), rate(row.requestsPerSecond), ms(row.p50Ms), ms(row.p99Ms), share, row.generatorCpu.toFixed(2), String(row.failures)];
}

/** Vacuums, analyses and checkpoints the seeded database, so no background work of the seeding runs while the floor is measured. */
async function settleDatabase(connection: pg.ClientConfig): Promise<void> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

/** One request of each kind before measuring: the read returns the imported token, the list is not empty. Returns the answer sizes. */
async function checkAnswers(api: ServerApi, targets: Record<'floor' | 'get', LoadTarget>): Promise<{ floor: number; get: number }> {
  const connection = (await api.getJson(`/connection/${READER}?provider_config_key=${KEY}`)) as { credentials?: { access_token?: string } };
  if (connection.credentials?.access_token !== 'reader-access-token') throw new Error('GET /connection/:id did not return the imported token.');
  const list = (await api.getJson('/connections')) as { connections?: unknown[] };
  if (!Array.isArray(list.connections) || list.connections.length === 0) throw new Error('GET /connections returned no connections.');
  const size = async (target: LoadTarget): Promise<number> => (await (await fetch(target.url, { headers: target.headers ?? {} })).arrayBuffer()).byteLength;
  return { floor: await size(targets.floor), get: await size(targets.get) };
}

/** The proxy reaches the upstream with the imported token before it is measured. */
async function checkProxy(target: LoadTarget): Promise<void> {
  const response = await fetch(target.url, { headers: target.headers ?? {} });
  const body = await response.text();
  if (response.status !== 200 || !body.includes('Grace')) throw new Error(`The proxy answered ${response.status}: ${body.slice(0, 300)}`);
}

/** The peer must answer its read with a 2xx before it is measured: a wrong URL or key would only measure errors. */
async function checkPeer(peer: LoadTarget): Promise<void> {
  const response = await fetch(peer.url, { headers: peer.headers ?? {} });
  if (response.status < 200 || response.status >= 300) throw new Error(`BENCH_PEER_URL answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
}
