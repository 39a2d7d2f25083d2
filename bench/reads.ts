import pg from 'pg';
import { loadConfig } from '../src/config.js';
import type { Cleanup } from './support/cleanup.js';
import { startHelper } from './support/helper-process.js';
import { measure, type LoadTarget, type ServingProcesses } from './support/load.js';
import { measurePaced } from './support/paced-load.js';
import { describeContext, machineContext } from './support/machine.js';
import { ms, percent, rate, table, verdict } from './support/markdown.js';
import { alternate, mediansAgainstFloor, type MedianRow, type Round, type Row } from './support/rounds.js';
import { startBenchPostgres } from './support/postgres.js';
import { clusterCpuSeconds, processCpuSeconds } from './support/process-cpu.js';
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
const CACHED = '`GET /connection/:id` (seed, decrypts, audited)';
const FLUSHED = '`GET /connection/:id`, `NANGO_AUDIT_SYNCHRONOUS_COMMIT=true`';
const UNCACHED = '`GET /connection/:id`, `NANGO_CONNECTION_CACHE_SIZE=0`';
const PEER = 'peer (`BENCH_PEER_URL`)';
/** Item 6: the proxy's closed-loop throughput at 10 connections against a bare relay's. */
const PROXY_RELAY_TARGET = 0.7;
const DIRECT = 'upstream called directly';
const RELAY = 'a bare node:http relay (no auth, lookup or audit)';
const PROXY = '`GET /proxy/items` (authenticated, looked up, audited)';

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
    String(result.failures),
  ];
  return [
    row(floor, '100 % (floor)', '–'),
    ...measured.map((other) => row(other, percent(other.result.requestsPerSecond / floor.result.requestsPerSecond), ms(other.result.p50Ms - floor.result.p50Ms))),
  ];
}

/** Proxy runs: the direct call as the floor, then the relay and the proxy with the p50 each adds (and, closed loop, their share of its throughput). */
function proxyTableRows(runs: ProxyRuns[], { throughput }: { throughput: boolean }): string[][] {
  return runs.flatMap(({ direct, relay, proxy }) => rowsAgainstFloor(direct, [relay, proxy], { throughput, added: true }));
}

export async function benchmarkReads(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const dir = makeTempDir('reads', cleanup);
  const database = await startBenchPostgres(cleanup);
  const upstream = await startHelper('upstream', {}, cleanup);
  const providersFile = writeProvidersFile(dir, { 'bench-api': localOAuth2Provider(upstream.origin) });
  const keys = freshKeys();
  const { server, api } = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel }, cleanup);
  // The same server without its connection cache: what a process gets that cannot LISTEN (PgBouncer in transaction mode).
  const uncached = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel, env: { NANGO_CONNECTION_CACHE_SIZE: '0' } }, cleanup);
  // The same server with every audit entry flushed to disk before the answer: the durability option the default trades away.
  const flushed = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel, env: { NANGO_AUDIT_SYNCHRONOUS_COMMIT: 'true' } }, cleanup);
  const relay = await startHelper('relay', { RELAY_UPSTREAM: upstream.origin }, cleanup);

  await api.createIntegration(KEY, 'bench-api');
  // Imported through the API, so the server itself seals the row that is read.
  await api.importOAuth2(KEY, READER, { access_token: 'reader-access-token' });
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
    direct: { url: `${upstream.origin}/api/items` },
    relay: { url: `${relay.origin}/relay/items` },
    proxy: { url: `${server.baseUrl}/proxy/items`, headers: { ...auth, 'connection-id': READER, 'provider-config-key': KEY } },
  } satisfies Record<string, LoadTarget>;
  const sizes = await checkAnswers(api, targets);
  const peer: LoadTarget | undefined = settings.peer ? { url: settings.peer.url, ...(settings.peer.authorization ? { headers: { authorization: settings.peer.authorization } } : {}) } : undefined;
  if (peer) await checkPeer(peer);

  // Whose CPU each measured route costs: the process serving it and the benchmark's PostgreSQL (none for the peer, which is not ours to read).
  const postgresCpu = (): number | undefined => {
    const postmaster = database.postmasterPid();
    return postmaster === undefined ? undefined : clusterCpuSeconds(postmaster);
  };
  const servedBy = (pid: number): ServingProcesses => ({ server: () => processCpuSeconds(pid), postgres: postgresCpu });
  const serving = new Map<LoadTarget, ServingProcesses>([
    [targets.floor, servedBy(floor.pid)],
    [targets.listFloor, servedBy(floor.pid)],
    [targets.get, servedBy(server.pid)],
    [targets.list, servedBy(server.pid)],
    [targets.getFlushed, servedBy(flushed.server.pid)],
    [targets.getUncached, servedBy(uncached.server.pid)],
    [targets.direct, servedBy(upstream.pid)],
    [targets.relay, servedBy(relay.pid)],
    [targets.proxy, servedBy(server.pid)],
  ]);
  const run = async (name: string, target: LoadTarget, connections: number): Promise<Row> => {
    progress(`reads: ${name} at ${connections} connections`);
    return { name, result: await measure(target, connections, settings.durationSeconds, settings.warmupSeconds, serving.get(target)) };
  };
  const proxyRuns = async (connections: number): Promise<ProxyRuns> => ({
    direct: await run('upstream called directly', targets.direct, connections),
    relay: await run('a bare node:http relay (no auth, lookup or audit)', targets.relay, connections),
    proxy: await run('`GET /proxy/items`', targets.proxy, connections),
  });
  const listName = `\`GET /connections\` (first page of 100, ${settings.listConnections.toLocaleString('en-US')} present)`;
  // Alternating rounds: the floor and every route once per round, in an order that flips each round; medians over rounds.
  const reads = new Map<number, { reads: Round[]; lists: Round[]; proxies: Round[] }>(settings.concurrencies.map((connections) => [connections, { reads: [], lists: [], proxies: [] }]));
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
        [DIRECT, targets.direct],
        [RELAY, targets.relay],
        [PROXY, targets.proxy],
      ];
      const done: Row[] = [];
      for (const [name, target] of alternate(plan, index)) done.push(await run(name, target, connections));
      const byName = (name: string): Row => done.find((row) => row.name === name) as Row;
      const [floorRow, ...routeRows] = plan.slice(0, peer ? 5 : 4).map(([name]) => byName(name));
      const collected = reads.get(connections) as { reads: Round[]; lists: Round[]; proxies: Round[] };
      collected.reads.push({ floor: floorRow as Row, measured: [...routeRows, byName(listName)] });
      collected.lists.push({ floor: byName('floor: the same page of 100, one SELECT'), measured: [byName(listName)] });
      // The proxy's yardstick is the bare relay (issue 23, item 6); the upstream called directly shows what each hop adds.
      collected.proxies.push({ floor: byName(RELAY), measured: [byName(DIRECT), byName(PROXY)] });
    }
  }
  // One connection: what the proxy adds to a single request, with no queueing behind other requests.
  const unloaded = await proxyRuns(1);
  // The same connection counts at a steady pace the server keeps up with: what the proxy adds to a request under load, without the closed loop's queue.
  const paced = async (name: string, target: LoadTarget, connections: number): Promise<Row> => {
    progress(`reads: ${name} paced at ${settings.pacedRate}/s over ${connections} connections`);
    return { name, result: await measurePaced(target, connections, settings.pacedRate, settings.durationSeconds, settings.warmupSeconds) };
  };
  const pacedProxies: ProxyRuns[] = [];
  for (const connections of settings.concurrencies) {
    pacedProxies.push({
      direct: await paced('upstream called directly', targets.direct, connections),
      relay: await paced('a bare node:http relay', targets.relay, connections),
      proxy: await paced('`GET /proxy/items`', targets.proxy, connections),
    });
  }

  const readMedians = [...reads.values()].map((collected) => mediansAgainstFloor(collected.reads));
  const listMedians = [...reads.values()].map((collected) => mediansAgainstFloor(collected.lists));
  const readRows = readMedians.flatMap((rows) => rows.map(medianCells));
  const listRows = listMedians.flatMap((rows) => rows.map(medianCells));
  const proxyMedians = [...reads.values()].map((collected) => mediansAgainstFloor(collected.proxies));
  const closedProxyRows = proxyMedians.flatMap((rows) => rows.map(proxyCells));
  const unloadedRows = proxyTableRows([unloaded], { throughput: true });
  const pacedRows = proxyTableRows(pacedProxies, { throughput: false });

  const readVerdicts = readMedians.flatMap((rows) =>
    rows
      .filter((row) => row.name === CACHED || row.name === UNCACHED)
      .map((row) => {
        const target = row.name === CACHED ? CACHED_TARGET : UNCACHED_TARGET;
        return `${row.name} at ${row.connections}: ${percent(row.share)} of the floor, target ≥ ${percent(target)} ${verdict(row.share >= target)}`;
      }),
  );
  const proxyVerdict = ({ direct, relay, proxy }: ProxyRuns): string => {
    const added = proxy.result.p50Ms - direct.result.p50Ms;
    const relayAdded = relay.result.p50Ms - direct.result.p50Ms;
    return `at ${proxy.result.connections} connection${proxy.result.connections === 1 ? '' : 's'}: +${ms(added)} ms ${verdict(added < PROXY_TARGET_MS)} (the bare relay: +${ms(relayAdded)} ms)`;
  };
  const relayVerdicts = proxyMedians.map((rows) => {
    const proxy = rows.find((row) => row.name === PROXY) as MedianRow;
    return `at ${proxy.connections} connections: ${percent(proxy.share)} of the relay's requests/s ${proxy.connections === 10 ? verdict(proxy.share >= PROXY_RELAY_TARGET) : '(not a target)'}`;
  });
  const addedVerdicts = proxyMedians.map((rows) => {
    const p50 = (name: string): number => (rows.find((row) => row.name === name) as MedianRow).p50Ms;
    return `at ${(rows[0] as MedianRow).connections} connections: +${ms(p50(PROXY) - p50(DIRECT))} ms (the bare relay: +${ms(p50(RELAY) - p50(DIRECT))} ms)`;
  });
  const unloadedVerdict = proxyVerdict(unloaded);
  const pacedVerdicts = pacedProxies.map(proxyVerdict);

  return [
    '## Reads beside the floor',
    '',
    describeContext(
      context,
      `Each figure is ${settings.durationSeconds} s of autocannon (pipelining 1) after a ${settings.warmupSeconds} s warm-up; ` +
        `${settings.rounds} alternating rounds (the floor and every route once per round, the order reversed every other round), medians over the rounds; ` +
        `${settings.listConnections.toLocaleString('en-US')} connections in the database (VACUUM ANALYZE and CHECKPOINT after inserting them); ` +
        `a pg pool of ${poolMax} in the server (its default) and in the floor; encryption on; audit on; LOG_LEVEL=${settings.logLevel}.`,
    ),
    '',
    'Latencies are computed from every 2xx response\'s own latency (fractional milliseconds). "vs floor" is the median over rounds of the route\'s ' +
      'requests/s divided by the floor\'s in the same round. "Server CPU" and "PostgreSQL CPU" are the CPU time (user and system, from /proc) ' +
      'the process serving the route (the floor\'s own process for the floor) and every process of the benchmark\'s PostgreSQL used during the ' +
      'run, divided by the requests answered, medians over rounds; the machine\'s other load disturbs them far less than requests/s, so a route ' +
      'that costs less CPU per request than the floor is cheaper however the throughput figures fell ("–": not ours to read, as a peer). ' +
      '"Load generator CPU" is the CPU autocannon\'s process used during the run, in cores: ' +
      'CPU the server and PostgreSQL did not get. "Failures" counts non-2xx answers, socket errors and timeouts, summed over rounds.',
    '',
    '### Credential reads and the list, against one `SELECT` by primary key',
    '',
    `The floor answers ${sizes.floor} bytes (the row's id, keys, sealed credentials, configuration, metadata and dates); the credential read ${sizes.get}.`,
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'vs floor', ...CPU_COLUMNS, 'Load generator CPU', 'Failures'], readRows),
    '',
    `Targets: ${readVerdicts.join('; ')}.`,
    '',
    '### The list, against the same page read bare',
    '',
    'The floor above returns one row; the list returns 100. Here the floor process reads the same page (the same columns and join, one `SELECT`) and returns it as JSON.',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'vs floor', ...CPU_COLUMNS, 'Load generator CPU', 'Failures'], listRows),
    '',
    '### The proxy, against a bare relay',
    '',
    'In the same alternating rounds as the reads. The bare relay (bench/helpers/relay.ts) is the yardstick: a node:http server that forwards ' +
      'each request to the upstream over a kept-alive socket and streams the answer back, with no authentication, lookup, credentials or audit. ' +
      '"Server CPU" is the upstream\'s own process for the direct row, the relay\'s for the relay, the server\'s for the proxy.',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'vs relay', ...CPU_COLUMNS, 'Load generator CPU', 'Failures'], closedProxyRows),
    '',
    `Target (closed loop, 10 connections): the proxy at ≥ ${percent(PROXY_RELAY_TARGET)} of the bare relay's requests/s, the median of the same-round ratios. ` +
      `Measured ${relayVerdicts.join('; ')}. The p50 it adds to the upstream called directly, ${addedVerdicts.join('; ')}: ` +
      'under a closed-loop load every connection waits for its previous answer, so at these connection counts the p50 mostly measures queueing ' +
      '(connections ÷ throughput), which the relay pays as well.',
    '',
    '### The proxy on one connection',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'Throughput vs direct', 'p50 added (ms)', 'Failures'], unloadedRows),
    '',
    `Target: the proxy adds < ${PROXY_TARGET_MS} ms at p50 to a lone request: ${unloadedVerdict}.`,
    '',
    `### The proxy at a steady ${rate(settings.pacedRate)} requests/s`,
    '',
    `Open loop: requests leave every ${ms(1000 / settings.pacedRate)} ms whatever the answers do, round-robin over that many kept-alive connections ` +
      '(one socket each), from a node:http client in the benchmark process; a request whose connection is still busy waits, and the wait counts. ' +
      'At a pace the server keeps up with, the p50 is what a request takes rather than the queue a closed loop builds.',
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'p50 added (ms)', 'Failures'], pacedRows),
    '',
    `Target: the proxy adds < ${PROXY_TARGET_MS} ms at p50. At a steady pace, ${pacedVerdicts.join('; ')}.`,
    '',
    'What the server does per request, beside the floor\'s one statement: `GET /connection/:id` and the proxy find the connection and its integration ' +
      'in the process\'s connection cache (`NANGO_CONNECTION_CACHE_SIZE`; the first read of a connection, and every read in the `=0` row, looks it up ' +
      'in PostgreSQL instead, with one prepared statement shared by the reads that arrive together), decrypt the credentials (the integration\'s client secret only when a refresh or an OAuth 1.0a signature needs it), check the secret key, and record an audit-trail entry: committed before ' +
      '`GET /connection/:id` answers (concurrent requests share one insert, whose commit does not wait for the disk flush unless ' +
      '`NANGO_AUDIT_SYNCHRONOUS_COMMIT=true`: the row so named), written beside the answer for the proxy, which then calls the upstream over a ' +
      'kept-alive socket. `GET /connections` reads the newest page of 100 joined with their integrations and returns them all (100 rows against the floor\'s one). ' +
      'The bare relay shows what one more hop through a Node.js process costs on this machine, before any of the proxy\'s own work.',
  ].join('\n');
}

/** A median row of the proxy's table: the relay is its floor. */
function proxyCells(row: MedianRow): string[] {
  const cells = medianCells(row);
  if (row.name === RELAY) cells[5] = '100 % (yardstick)';
  return cells;
}

/** A median row as table cells. */
function medianCells(row: MedianRow): string[] {
  const share = row.share === 1 && row.name.startsWith('floor') ? '100 % (floor)' : percent(row.share);
  const micros = (value: number | undefined): string => (value === undefined ? '–' : value.toFixed(0));
  return [
    row.name, String(row.connections), rate(row.requestsPerSecond), ms(row.p50Ms), ms(row.p99Ms), share,
    micros(row.serverCpuMicros), micros(row.postgresCpuMicros), row.generatorCpu.toFixed(2), String(row.failures),
  ];
}

/** CPU per request of what served each row, read from /proc: steadier than requests/s on a machine doing other work. */
const CPU_COLUMNS = ['Server CPU (µs/req)', 'PostgreSQL CPU (µs/req)'];

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

/** One request of each kind before measuring: the read returns the imported token, the proxy reaches the upstream with it. Returns the answer sizes. */
async function checkAnswers(api: ServerApi, targets: Record<'floor' | 'get' | 'proxy', LoadTarget>): Promise<{ floor: number; get: number }> {
  const connection = (await api.getJson(`/connection/${READER}?provider_config_key=${KEY}`)) as { credentials?: { access_token?: string } };
  if (connection.credentials?.access_token !== 'reader-access-token') throw new Error('GET /connection/:id did not return the imported token.');
  const list = (await api.getJson('/connections')) as { connections?: unknown[] };
  if (!Array.isArray(list.connections) || list.connections.length === 0) throw new Error('GET /connections returned no connections.');
  const response = await fetch(targets.proxy.url, { headers: targets.proxy.headers ?? {} });
  const body = await response.text();
  if (response.status !== 200 || !body.includes('Grace')) throw new Error(`The proxy answered ${response.status}: ${body.slice(0, 300)}`);
  const size = async (target: LoadTarget): Promise<number> => (await (await fetch(target.url, { headers: target.headers ?? {} })).arrayBuffer()).byteLength;
  return { floor: await size(targets.floor), get: await size(targets.get) };
}

/** The peer must answer its read with a 2xx before it is measured: a wrong URL or key would only measure errors. */
async function checkPeer(peer: LoadTarget): Promise<void> {
  const response = await fetch(peer.url, { headers: peer.headers ?? {} });
  if (response.status < 200 || response.status >= 300) throw new Error(`BENCH_PEER_URL answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
}
