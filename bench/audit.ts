import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createKnex } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { AuditLogStore, type AuditEntry } from '../src/store/audit-log-store.js';
import type { Cleanup } from './support/cleanup.js';
import { machineContext } from './support/machine.js';
import { table } from './support/markdown.js';
import { startBenchPostgres } from './support/postgres.js';
import { progress } from './support/progress.js';
import type { BenchSettings } from './support/settings.js';

/**
 * Benchmark 5: what the audit trail costs on disk. `auditEntries` credential-read entries (1,000,000 by default),
 * shaped as `GET /connection/:connectionId` writes them (a UUID connection id, one of 1,000), go through the
 * store's own group insert, 1,000 per statement as under load; then the trail's size with its indexes, over
 * every partition, per entry, and a year at 100 reads/s projected from it. Dropping the day that holds them is
 * timed beside.
 */
const PER_INSERT = 1_000;
const CONNECTIONS = 1_000;
const READS_PER_SECOND = 100;
const YEAR_SECONDS = 365 * 24 * 60 * 60;
const DAY_MS = 24 * 60 * 60 * 1000;
const RETAINED_DAYS = 365;
const PAGE_REPEATS = 21;

async function medianMs(work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let repeat = 0; repeat < PAGE_REPEATS; repeat += 1) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0;
}

export async function benchmarkAudit(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const database = await startBenchPostgres(cleanup);
  const knex = createKnex(database.connection, 0, 4);
  cleanup.add('the audit benchmark pool', () => knex.destroy());
  await migrateToLatest(knex);
  const store = new AuditLogStore(knex);
  const connectionIds = Array.from({ length: CONNECTIONS }, () => randomUUID());

  progress(`audit: writing ${settings.auditEntries.toLocaleString('en')} entries`);
  const started = performance.now();
  for (let written = 0; written < settings.auditEntries; written += PER_INSERT) {
    const entries: AuditEntry[] = Array.from({ length: Math.min(PER_INSERT, settings.auditEntries - written) }, (_, index) => ({
      action: 'credentials.read',
      route: 'GET /connection/:connectionId',
      principal: 'secret_key',
      providerConfigKey: 'github-prod',
      connectionId: connectionIds[(written + index) % CONNECTIONS] ?? null,
    }));
    await store.record(entries);
  }
  const writeSeconds = (performance.now() - started) / 1000;
  await knex.raw('VACUUM ANALYZE nango._custody_audit_log');

  const size = (await knex.raw(
    `SELECT sum(pg_total_relation_size(relid))::bigint AS total, sum(pg_indexes_size(relid))::bigint AS indexes
       FROM pg_partition_tree('nango._custody_audit_log'::regclass)`,
  )) as { rows: { total: string; indexes: string }[] };
  const [rows] = (await knex('_custody_audit_log').count({ count: '*' })) as { count: string }[];
  const count = Number(rows?.count);
  const total = Number(size.rows[0]?.total);
  const indexes = Number(size.rows[0]?.indexes);
  const perRead = total / count;
  const perDay = perRead * READS_PER_SECOND * 24 * 60 * 60;
  const perYear = perRead * READS_PER_SECOND * YEAR_SECONDS;

  // A year of day partitions, as a server at the default retention keeps: what the dashboard's newest page and one
  // connection's page cost when every day's index is consulted. Days are created only ahead (never over a range
  // an existing partition may hold rows of), so the year lies ahead of the entries, all written today.
  for (let ahead = 0; ahead < RETAINED_DAYS; ahead += 8) await store.partitions.createAhead(new Date(Date.now() + ahead * DAY_MS));
  const partitionCount = (await store.partitions.names()).length;
  const newestPageMs = await medianMs(() => store.page({ limit: 50 }, {}));
  const connectionPageMs = await medianMs(() => store.page({ limit: 50, providerConfigKey: 'github-prod', connectionId: connectionIds[0] as string }, {}));

  // Retention once the whole year is past: every partition but the default one dropped, the one holding the entries among them.
  const dropStarted = performance.now();
  const outcome = await store.partitions.dropOlderThan(new Date(Date.now() + (RETAINED_DAYS + 8) * DAY_MS));
  const dropMs = performance.now() - dropStarted;

  const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  const mibOf = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
  return [
    '## Audit trail volume',
    '',
    `_${context.date}, Node ${context.node}, ${context.cores} cores (${context.cpu}), load average ${context.loadAverage.toFixed(2)} at the start. ` +
      `${count.toLocaleString('en')} credential-read entries written in ${writeSeconds.toFixed(1)} s by the benchmark process through the store's group insert, ${PER_INSERT} per statement, then \`VACUUM ANALYZE\`._`,
    '',
    table(
      ['', 'Figure'],
      [
        ['Trail with its indexes, every partition (`pg_total_relation_size`)', `${mibOf(total)} (indexes ${mibOf(indexes)})`],
        ['Bytes per credential read', `${perRead.toFixed(0)} B`],
        [`A day at ${READS_PER_SECOND} reads/s`, gib(perDay)],
        [`A year at ${READS_PER_SECOND} reads/s (NANGO_AUDIT_RETENTION_DAYS=365)`, gib(perYear)],
        [`Dashboard's newest page of 50, over ${partitionCount} partitions (a year of days), median of ${PAGE_REPEATS}`, `${newestPageMs.toFixed(1)} ms`],
        [`One connection's newest page of 50, same partitions`, `${connectionPageMs.toFixed(1)} ms`],
        [`Retention dropping ${outcome.dropped.length} partitions, one of them holding all ${count.toLocaleString('en')} entries`, `${dropMs.toFixed(0)} ms`],
      ],
    ),
    '',
    'Run with `npm run bench:audit` (`BENCH_AUDIT_ENTRIES` sets the count). The entries carry UUID connection ids (36',
    'characters; shorter ids make smaller rows, which is why an earlier soak with short ids saw about 210 B). A row',
    'weighs the same in every partition: each has a primary key on id and the indexes on `at` and on (integration,',
    'connection, id). One partition per UTC day: retention drops whole partitions (one `DROP TABLE` each, timed above',
    'with the files of the one holding every entry to unlink), where the trail used to DELETE its old rows batch by',
    'batch; only the partition from before partitioning and the default one are pruned in batches of 5,000 rows.',
    'Keeping a year still costs what a year of entries weighs: at 100 reads/s, size the disk for the retention you keep',
    '(30 days ≈ a twelfth of the yearly figure). The price of days: a page of the dashboard that no time filter narrows',
    "consults every day's index (the page timings above, with a year of days); a time filter reads only the days it covers.",
    '',
    'Each entry here names a connection of its own, so none is folded: the figures are the most a read can weigh.',
    'Entries of one group insert that agree in every column (one connection read by one caller, one endpoint proxied',
    'with one answer status) are one row that counts them (`count`, docs/security.md "Audit trail durability"), so a',
    'connection read over and over costs a row per insert rather than a row per read.',
  ].join('\n');
}
