import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { inject } from 'vitest';
import { freePort } from './free-port.js';
import { scratchDir } from './scratch.js';

/** Debian's PgBouncer (`apt-get install pgbouncer`; CI's .ci/run installs it), or undefined when it is not installed. */
export const PGBOUNCER_BINARY = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((candidate) => existsSync(candidate));

export interface PgBouncer {
  port: number;
  /** postgres://… of `database` through the pooler, for NANGO_DATABASE_URL. */
  urlOf(database: string): string;
  /** What PgBouncer logged (its refusals and the server errors it saw). */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A real PgBouncer in transaction mode in front of the suite's PostgreSQL, on a free loopback port: each
 * transaction may run on any of `poolSize` server connections, as behind Supabase's port 6543 or RDS Proxy.
 * PgBouncer refuses to run as root, so under root (CI) it runs as the `postgres` OS user, as the database does.
 */
export async function startPgBouncer(options: { poolSize?: number } = {}): Promise<PgBouncer> {
  if (!PGBOUNCER_BINARY) throw new Error('pgbouncer is not installed (apt-get install pgbouncer).');
  const server = inject('postgres');
  const dir = scratchDir('pgbouncer');
  chmodSync(dir, 0o777);
  const port = await freePort();
  const logPath = path.join(dir, 'pgbouncer.log');
  const authFile = path.join(dir, 'userlist.txt');
  writeFileSync(authFile, `"${server.user}" "${server.password}"\n`, { mode: 0o644 });
  const configPath = path.join(dir, 'pgbouncer.ini');
  writeFileSync(
    configPath,
    [
      '[databases]',
      `* = host=${server.host} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = md5',
      `auth_file = ${authFile}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 10}`,
      'max_client_conn = 500',
      `logfile = ${logPath}`,
      'log_connections = 0',
      'log_disconnections = 0',
    ].join('\n'),
    { mode: 0o644 },
  );
  const ids = asRoot() ? { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()) } : {};
  const child = spawn(PGBOUNCER_BINARY, [configPath], { stdio: ['ignore', 'ignore', 'pipe'], ...ids });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const log = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pgbouncer did not start: ${stderr}${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    urlOf: (database) => `postgres://${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@127.0.0.1:${port}/${database}`,
    log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGINT is PgBouncer's immediate shutdown.
      child.kill('SIGINT');
      await exited;
    },
  };
}

function asRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
