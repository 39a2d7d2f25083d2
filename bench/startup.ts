import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serverNodeFlags, startBuiltServer } from './support/built-server.js';
import type { Cleanup } from './support/cleanup.js';
import { guardCluster, postmasterPid } from './support/exit-guard.js';
import { runLoad } from './support/load.js';
import { describeContext, machineContext } from './support/machine.js';
import { mib, ms, rate, table } from './support/markdown.js';
import { median } from './support/percentile.js';
import { progress } from './support/progress.js';
import { localOAuth2Provider, writeProvidersFile } from './support/providers-file.js';
import { readMemory } from './support/rss.js';
import { ServerApi } from './support/server-api.js';
import type { BenchSettings } from './support/settings.js';
import { makeTempDir } from './support/temp-dir.js';

/**
 * Benchmark 2: the embedded default (no database settings). Time from spawning `node dist/src/server.js`
 * to the first `GET /health` 200, on a fresh NANGO_DATA_DIR (initdb, database, migrations) and then on the
 * existing one; the server process's RSS when idle and right after a burst of load.
 */
const KEY = 'bench';
const IDLE_SETTLE_MS = 2_000;
/**
 * A server left without requests: V8 gives back what start-up used once it has been idle for a while (a
 * memory-reducing collection some 20 s in), so RSS 2 s after start is what a server just started holds and RSS
 * after this long is what an idle server holds. Both are reported.
 */
const IDLE_QUIET_MS = 30_000;
const LOAD_CONNECTIONS = 50;
/** Nango v0.16's idle RSS, measured on the same machine (issue 23): ours must not be larger. */
const IDLE_TARGET_MIB = 90;

interface Run {
  dataDir: string;
  startMs: number;
  idleRssMiB: number;
  quietRssMiB: number;
  loadedRssMiB: number;
  peakRssMiB: number;
  loadRequestsPerSecond: number;
  loadFailures: number;
  stopMs: number;
}

export async function benchmarkStartup(settings: BenchSettings, cleanup: Cleanup): Promise<string> {
  const context = machineContext();
  const dir = makeTempDir('startup', cleanup);
  const dataDir = path.join(dir, 'nango-data');
  const clusterDir = path.join(dataDir, 'postgres');
  // The server stops its own database; should a server die without doing so, its postmaster is stopped here.
  const release = guardCluster(clusterDir);
  cleanup.add('an orphaned embedded PostgreSQL', () => {
    const pid = postmasterPid(clusterDir);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // not running
      }
    }
    release();
  });
  // No provider is ever called here; the template only has to exist (and, like all of them, point at 127.0.0.1).
  const providersFile = writeProvidersFile(dir, { 'bench-api': localOAuth2Provider('http://127.0.0.1:9') });
  const secretKey = randomBytes(16).toString('hex');

  const runs: Run[] = [];
  for (let index = 0; index <= settings.startupRepeats; index++) {
    const fresh = index === 0;
    progress(`startup: ${fresh ? 'fresh' : 'existing'} data directory (${index + 1} of ${settings.startupRepeats + 1})`);
    const server = await startBuiltServer({ cwd: dir, logLevel: settings.logLevel, env: { NANGO_DATA_DIR: dataDir, NANGO_SECRET_KEY: secretKey, NANGO_PROVIDERS_FILE: providersFile } }, cleanup);
    const api = new ServerApi(server.baseUrl, secretKey);
    if (fresh) {
      await api.createIntegration(KEY, 'bench-api');
      await api.importOAuth2(KEY, 'load-user', { access_token: 'load-access-token' });
    }
    await sleep(IDLE_SETTLE_MS);
    const idle = readMemory(server.pid);
    await sleep(IDLE_QUIET_MS - IDLE_SETTLE_MS);
    const quiet = readMemory(server.pid);
    // A credential read and a list page, alternately, from every connection.
    const load = await runLoad(
      {
        url: server.baseUrl,
        headers: api.authorization,
        requests: [
          { method: 'GET', path: `/connection/load-user?provider_config_key=${KEY}` },
          { method: 'GET', path: '/connections' },
        ],
      },
      LOAD_CONNECTIONS,
      settings.durationSeconds,
    );
    const loaded = readMemory(server.pid);
    const stopMs = await server.stop();
    runs.push({
      dataDir: fresh ? 'fresh (initdb, migrations)' : 'existing',
      startMs: server.startMs,
      idleRssMiB: idle.rssMiB,
      quietRssMiB: quiet.rssMiB,
      loadedRssMiB: loaded.rssMiB,
      peakRssMiB: loaded.peakRssMiB,
      loadRequestsPerSecond: load.requestsPerSecond,
      loadFailures: load.failures,
      stopMs,
    });
  }

  const existing = runs.slice(1);
  const flags = serverNodeFlags();
  const worstIdle = Math.max(...runs.map((run) => run.quietRssMiB));
  const medianIdle = median(runs.map((run) => run.quietRssMiB));
  const medianJustStarted = median(runs.map((run) => run.idleRssMiB));
  const rows = runs.map((run, index) => [
    String(index + 1),
    run.dataDir,
    ms(run.startMs),
    mib(run.idleRssMiB),
    mib(run.quietRssMiB),
    mib(run.loadedRssMiB),
    mib(run.peakRssMiB),
    `${rate(run.loadRequestsPerSecond)} (${run.loadFailures} failed)`,
    ms(run.stopMs),
  ]);
  return [
    '## Cold start and memory',
    '',
    describeContext(
      context,
      `The embedded default (no database settings, NANGO_DATA_DIR in a temporary folder, LOG_LEVEL=${settings.logLevel}): one start on a fresh data directory, ` +
        `then ${settings.startupRepeats} on the existing one. RSS of the server process (\`VmRSS\` in /proc/<pid>/status; the PostgreSQL processes are not counted) ` +
        `${IDLE_SETTLE_MS / 1000} s after start-up, again after ${IDLE_QUIET_MS / 1000} s without a request, and right after ${settings.durationSeconds} s of autocannon at ${LOAD_CONNECTIONS} connections ` +
        'alternating `GET /connection/:id` and `GET /connections`; peak is `VmHWM`. ' +
        `The server is started as \`npm start\` and the Dockerfile start it: \`node ${flags.map((flag) => `${flag} `).join('')}dist/src/server.js\`.`,
    ),
    '',
    table(['Run', 'Data directory', 'Spawn → first /health 200 (ms)', `RSS ${IDLE_SETTLE_MS / 1000} s after start`, `RSS idle ${IDLE_QUIET_MS / 1000} s`, 'RSS after load', 'Peak RSS', 'Load (requests/s)', 'SIGTERM → exit (ms)'], rows),
    '',
    `**Idle RSS target: at most ${IDLE_TARGET_MIB} MiB** (Nango v0.16's idle RSS on this machine): ` +
      (medianIdle <= IDLE_TARGET_MIB ? `met, median ${mib(medianIdle)}` : `**not met**, median ${mib(medianIdle)}`) +
      ` after ${IDLE_QUIET_MS / 1000} s without a request (largest ${mib(worstIdle)}); ${IDLE_SETTLE_MS / 1000} s after start, before V8 gives back what start-up used, the median is ${mib(medianJustStarted)}.` +
      ' RSS under load is in the "after load" and "peak" columns.',
    '',
    `Start on the existing data directory: median ${ms(median(existing.map((run) => run.startMs)))} ms. ` +
      'The time includes Node.js starting, the provider catalog, the embedded PostgreSQL (initdb on the fresh directory), migrations and the encryption check; ' +
      'the stop drains requests and stops the embedded PostgreSQL.',
  ].join('\n');
}
