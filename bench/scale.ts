import { performance } from 'node:perf_hooks';
import type { Cleanup } from './support/cleanup.js';
import { decodeListCursor } from '../src/routes/modern/list-cursor.js';
import { measure, type LoadResult, type LoadTarget } from './support/load.js';
import { describeContext, machineContext } from './support/machine.js';
import { ms, rate, table, verdict } from './support/markdown.js';
import { median } from './support/percentile.js';
import { startBenchPostgres } from './support/postgres.js';
import { progress } from './support/progress.js';
import { localOAuth2Provider, writeProvidersFile } from './support/providers-file.js';
import { planStoreQueries } from './support/query-plans.js';
import { seedConnections } from './support/seed-connections.js';
import { freshKeys, startServerOnDatabase } from './support/server-on-database.js';
import type { BenchSettings } from './support/settings.js';
import { makeTempDir } from './support/temp-dir.js';

/**
 * Benchmark 4: get and list latency with `scaleConnections` connections (100,000 by default), inserted
 * in SQL in one transaction, and the plans PostgreSQL uses for the store's get and list queries.
 */
const KEY = 'bench';
/** One connection: a request's own time; ten: the same under a closed-loop load, where the p50 includes the queue. */
const CONCURRENCIES = [1, 10];
/** Issue 23, item 4: any page of the list in under 20 ms at the p50. */
const PAGE_TARGET_MS = 20;
const PAGE_SIZE = 100;
const FULL_LIST_REQUESTS = 3;

export async function benchmarkScale(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const count = settings.scaleConnections;
  const dir = makeTempDir('scale', cleanup);
  const database = await startBenchPostgres(cleanup);
  // No provider is called here; the template only has to exist (and point at 127.0.0.1).
  const providersFile = writeProvidersFile(dir, { 'bench-api': localOAuth2Provider('http://127.0.0.1:9') });
  const keys = freshKeys();
  const { server, api } = await startServerOnDatabase({ database, keys, providersFile, cwd: dir, logLevel: settings.logLevel }, cleanup);
  await api.createIntegration(KEY, 'bench-api');

  progress(`scale: inserting ${count} connections`);
  const seeded = await seedConnections(database.connection, { providerConfigKey: KEY, prefix: 'user-', count, encryptionKey: keys.encryptionKey });
  const middle = `user-${Math.ceil(count / 2)}`;
  const deepPage = Math.floor(count / 2 / PAGE_SIZE);

  // The cursor of the same deep page, as a client walking the list would hold it.
  const deepLink = (await fetch(`${server.baseUrl}/connections?limit=${PAGE_SIZE}&page=${Math.max(0, deepPage - 1)}`, { headers: api.authorization })).headers.get('link');
  const deepCursorUrl = /^<([^>]+)>; rel="next"$/.exec(deepLink ?? '')?.[1];
  if (!deepCursorUrl) throw new Error(`GET /connections gave no next link before page ${deepPage}.`);
  const deepPosition = decodeListCursor(new URL(deepCursorUrl, server.baseUrl).searchParams.get('cursor') ?? '');

  const plans = await planStoreQueries(database.connection, keys.encryptionKey, [
    { label: 'get (one connection)', run: (store) => store.find(KEY, middle) },
    { label: 'list, first page', run: (store) => store.listDetailed({ limit: PAGE_SIZE, offset: 0 }) },
    { label: `list, page ${deepPage}`, run: (store) => store.listDetailed({ limit: PAGE_SIZE, offset: deepPage * PAGE_SIZE }) },
    { label: `list, page ${deepPage} by cursor`, run: (store) => store.listDetailed({ limit: PAGE_SIZE, offset: 0, after: deepPosition }) },
    { label: 'seed list (every connection)', run: (store) => store.list({}) },
  ]);

  const auth = api.authorization;
  const targets: { name: string; target: LoadTarget }[] = [
    { name: '`GET /connection/:id` (seed, decrypts)', target: { url: `${server.baseUrl}/connection/${middle}?provider_config_key=${KEY}`, headers: auth } },
    { name: '`GET /connections/:id` (modern, decrypts)', target: { url: `${server.baseUrl}/connections/${middle}?provider_config_key=${KEY}`, headers: auth } },
    { name: `\`GET /connections\` (first page of ${PAGE_SIZE})`, target: { url: `${server.baseUrl}/connections?limit=${PAGE_SIZE}`, headers: auth } },
    { name: `\`GET /connections?page=${deepPage}\` (offset ${(deepPage * PAGE_SIZE).toLocaleString('en-US')})`, target: { url: `${server.baseUrl}/connections?limit=${PAGE_SIZE}&page=${deepPage}`, headers: auth } },
    { name: `\`GET /connections?cursor=…\` (the same page by cursor)`, target: { url: `${server.baseUrl}${deepCursorUrl}`, headers: auth } },
  ];
  const results: { name: string; result: LoadResult }[] = [];
  for (const connections of CONCURRENCIES) {
    for (const { name, target } of targets) {
      progress(`scale: ${name} at ${connections} connection${connections === 1 ? '' : 's'}`);
      results.push({ name, result: await measure(target, connections, settings.durationSeconds, settings.warmupSeconds) });
    }
  }

  // The seed list has no paging: every connection in one answer. Timed a few times, one at a time.
  progress('scale: the unpaged seed list');
  const fullList: { ms: number; bytes: number }[] = [];
  for (let index = 0; index < FULL_LIST_REQUESTS; index++) {
    const started = performance.now();
    const response = await fetch(`${server.baseUrl}/connection`, { headers: auth });
    const body = await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`GET /connection answered ${response.status}.`);
    fullList.push({ ms: performance.now() - started, bytes: body.byteLength });
  }

  const rows = results.map(({ name, result }) => [name, String(result.connections), rate(result.requestsPerSecond), ms(result.p50Ms), ms(result.p99Ms), String(result.failures)]);
  const pageVerdicts = CONCURRENCIES.map((connections) => {
    // The first page and a page by cursor: how the list is walked. A deep page by offset is reported, not judged (below).
    const pages = results.filter(({ name, result }) => result.connections === connections && (name.startsWith('`GET /connections`') || name.startsWith('`GET /connections?cursor')));
    const slowest = Math.max(...pages.map(({ result }) => result.p50Ms));
    return `at ${connections} connection${connections === 1 ? '' : 's'}, the slowest page's p50 is ${ms(slowest)} ms ${verdict(slowest < PAGE_TARGET_MS)}`;
  });
  const fullListMs = median(fullList.map((run) => run.ms));
  const fullListMiB = (fullList[0]?.bytes ?? 0) / 1024 / 1024;
  return [
    `## Scale: ${count.toLocaleString('en-US')} connections`,
    '',
    describeContext(
      context,
      `${count.toLocaleString('en-US')} connections (inserted in ${ms(seeded.ms)} ms with generate_series in one transaction, then ANALYZE); ` +
        `each figure is ${settings.durationSeconds} s of autocannon at ${CONCURRENCIES.join(' and ')} connections after a ${settings.warmupSeconds} s warm-up; encryption on; LOG_LEVEL=${settings.logLevel}.`,
    ),
    '',
    table(['Route', 'Connections', 'Requests/s', 'p50 (ms)', 'p99 (ms)', 'Failures'], rows),
    '',
    `Target: any page of the list in < ${PAGE_TARGET_MS} ms at the p50; ${pageVerdicts.join('; ')}. ` +
      'On one connection the p50 is what a page costs; at ten, in a closed loop, each request also waits for the nine before it ' +
      '(the p50 is about connections ÷ requests/s), so that figure measures the throughput as much as the page. ' +
      `A deep page by offset (\`page=${deepPage}\`, kept for the clients that send it) costs what PostgreSQL spends walking past the ` +
      `${(deepPage * PAGE_SIZE).toLocaleString('en-US')} rows before it; the same page by cursor (the \`Link\` header's \`rel="next"\`) is one index seek.`,
    '',
    `\`GET /connection\` (the seed list, unpaged: all ${count.toLocaleString('en-US')} connections, ${fullListMiB.toFixed(1)} MiB of JSON): ` +
      `median ${ms(fullListMs)} ms over ${FULL_LIST_REQUESTS} requests made one at a time.`,
    '',
    '### Query plans (EXPLAIN ANALYZE of the store\'s own SQL)',
    '',
    table(
      ['Query', 'Plan (pre-order)', 'Sequential scan of connections', 'Execution (ms)'],
      plans.map((plan) => [plan.label, plan.nodes, plan.sequentialScanOfConnections ? 'yes' : 'no', ms(plan.executionMs)]),
    ),
  ].join('\n');
}
