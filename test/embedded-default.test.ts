import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { startServerUntil } from './support/server-run.js';

/**
 * The embedded default: with no database variables the server runs its own PostgreSQL, keeps the data in
 * NANGO_DATA_DIR, stops it with itself, and recovers from a `kill -9` that left the database running.
 */

/** Running, as opposed to gone or dead-but-unreaped (a zombie: this sandbox's PID 1 does not reap orphans). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe('the embedded PostgreSQL (no database variables)', () => {
  let root: string;
  let dataDir: string;
  let server: ServerProcess | undefined;
  const postmasterPids = new Set<number>();
  const github = { provider_config_key: 'github-embedded', provider: 'github', oauth_client_id: 'client-e', oauth_client_secret: 'secret-e', oauth_scopes: 'repo' };

  const postmasterPidFile = () => path.join(dataDir, 'postgres', 'postmaster.pid');
  function postmasterPid(): number {
    const pid = Number(readFileSync(postmasterPidFile(), 'utf8').split('\n')[0]);
    postmasterPids.add(pid);
    return pid;
  }

  async function start(): Promise<ServerProcess> {
    // No NANGO_DATABASE_URL / NANGO_DB_HOST: the embedded default.
    server = await startServerProcess({ NANGO_DATA_DIR: dataDir, TELEMETRY: 'false' }, 110_000);
    return server;
  }

  async function readConfig(running: ServerProcess): Promise<Response> {
    return fetch(`${running.baseUrl}/config/${github.provider_config_key}`);
  }

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'custody-embedded-'));
    // As root, the database runs as the OS user postgres, which must be able to enter the folder.
    chmodSync(root, 0o755);
    dataDir = path.join(root, 'data');
  });

  afterAll(async () => {
    await server?.stop('SIGTERM');
    if (existsSync(postmasterPidFile())) postmasterPid();
    for (const pid of postmasterPids) {
      if (isRunning(pid)) {
        process.kill(pid, 'SIGKILL');
        await waitUntil(() => !isRunning(pid), 5_000);
      }
    }
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('starts with its data in NANGO_DATA_DIR and stores an integration', async () => {
    const running = await start();
    expect(running.output()).toContain(`data in ${dataDir}`);
    expect(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    expect(isRunning(postmasterPid())).toBe(true);
    const create = await fetch(`${running.baseUrl}/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(github) });
    expect(create.status).toBe(200);
  }, 120_000);

  it('SIGTERM exits with code 0, says it stopped cleanly and leaves no PostgreSQL running', async () => {
    const running = server as ServerProcess;
    const pid = postmasterPid();
    const code = await running.stop('SIGTERM');
    server = undefined;
    expect(code).toBe(0);
    expect(running.output()).toMatch(/Stopped cleanly/);
    expect(isRunning(pid)).toBe(false);
    expect(existsSync(postmasterPidFile())).toBe(false);
  }, 60_000);

  it('a restart finds the integration again', async () => {
    const running = await start();
    const response = await readConfig(running);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { config: unknown }).config).toMatchObject({ unique_key: github.provider_config_key, oauth_client_secret: github.oauth_client_secret });
  }, 120_000);

  it('kill -9 of the server leaves its PostgreSQL running (an orphan)', async () => {
    const running = server as ServerProcess;
    const pid = postmasterPid();
    await running.stop('SIGKILL');
    server = undefined;
    // Give the postmaster a moment: it must not stop by itself.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(isRunning(pid)).toBe(true);
  }, 60_000);

  it('the next start on the same data directory stops the orphan and comes up with the data', async () => {
    const orphan = postmasterPid();
    const running = await start();
    expect(running.output()).toMatch(/left running by a server that was killed/);
    expect(isRunning(orphan)).toBe(false);
    expect(postmasterPid()).not.toBe(orphan);
    const response = await readConfig(running);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { config: unknown }).config).toMatchObject({ oauth_client_secret: github.oauth_client_secret });
  }, 120_000);

  it('a stop asked for while the database starts (Ctrl-C during a start) waits for it, stops it and exits with code 0', async () => {
    await server?.stop('SIGTERM');
    server = undefined;
    const starting = await startServerUntil({ NANGO_DATA_DIR: dataDir, TELEMETRY: 'false' }, /Embedded PostgreSQL is running/, { timeoutMs: 110_000 });
    const pid = postmasterPid();
    starting.child.kill('SIGTERM');
    const exited = await starting.exited;
    expect(exited.code, exited.stdout + exited.stderr).toBe(0);
    expect(exited.stdout).toMatch(/Stopped cleanly/);
    expect(exited.stdout).not.toMatch(/Server listening/);
    expect(isRunning(pid)).toBe(false);
  }, 120_000);
});
