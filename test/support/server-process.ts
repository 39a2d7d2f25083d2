import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { scratchDir } from './scratch.js';
import { noteEnvironmentSecrets, noteLog } from './secret-watch.js';

/** A real server process (`src/server.ts` under tsx), as an operator runs it. */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit code (SIGKILL included). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ExitedProcess {
  code: number | null;
  output: string;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function spawnServer(env: Record<string, string>, entry = path.join(PACKAGE_ROOT, 'src/server.ts')): ChildProcess {
  // The loader by absolute URL: `--import tsx` would be resolved from the working directory, which a test may move.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), entry], {
    // An empty working directory, so a developer's own .env in the clone cannot leak in (the server reads ./.env),
    // and a clean environment: only what the test sets, so neither can their NANGO_* shell variables.
    // The token keeper is off unless the spec turns it on, so its sweeps never change what another spec counts.
    // No readiness grace on SIGTERM: nothing polls /ready here, and each stop would wait for it (the rolling-restart spec sets it).
    cwd: env['CWD'] ?? scratchDir('server-cwd'),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', SERVER_PORT: '0', LOG_LEVEL: 'debug', NANGO_REFRESH_SWEEP_SECONDS: '0', NANGO_SHUTDOWN_GRACE_SECONDS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  watchForSecrets(child, env);
  return child;
}

/** Hands the environment's secrets and, once the process is gone, all it wrote to the suite's secret watch. */
function watchForSecrets(child: ChildProcess, env: Record<string, string>): void {
  noteEnvironmentSecrets('server process', env);
  let written = '';
  child.stdout?.on('data', (chunk: Buffer) => (written += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (written += chunk.toString()));
  child.once('close', () => noteLog(`server process ${child.pid ?? ''}`, written));
}

/**
 * Starts the server and resolves once it logs the port it listens on. `entry`: another release's
 * `src/server.ts` (test/support/older-release.ts), run with this checkout's dependencies.
 */
export async function startServerProcess(env: Record<string, string>, timeoutMs = 60_000, entry?: string): Promise<ServerProcess> {
  const child = spawnServer(env, entry);
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`The server did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Server listening on port (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The server exited with code ${code} before listening:\n${output}`));
    });
  });
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** Runs the server expecting it to refuse to start; resolves with its exit code and output. */
export function runServerUntilExit(env: Record<string, string>, timeoutMs = 60_000): Promise<ExitedProcess> {
  const child = spawnServer(env);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The server kept running for ${timeoutMs} ms instead of exiting:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
