import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { scratchDir } from './scratch.js';
import { noteEnvironmentSecrets, noteLog } from './secret-watch.js';

/**
 * Like `server-process.ts`, but keeps stdout and stderr apart and can run the server in any working
 * directory (for `.env` files): tsx is loaded by its absolute URL, since `--import tsx` would be resolved
 * from the working directory.
 */
export interface RunningServer {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  /** Sends a signal (SIGTERM by default) and waits for the exit code; null when killed by the signal. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ExitedServer {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  /** Default: a new empty folder, so a developer's own .env in the clone is never read. */
  cwd?: string;
  timeoutMs?: number;
}

const TSX_LOADER = pathToFileURL(createRequire(path.join(PACKAGE_ROOT, 'package.json')).resolve('tsx')).href;
const SERVER_ENTRY = path.join(PACKAGE_ROOT, 'src/server.ts');

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  output: () => string;
  onData: (listener: () => void) => void;
}

function spawnServer(env: Record<string, string>, cwd: string): Spawned {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, SERVER_ENTRY], {
    cwd,
    // A clean environment: only what the test sets.
    // No readiness grace on SIGTERM: nothing polls /ready here, and each stop would wait for it (the rolling-restart spec sets it).
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', SERVER_PORT: '0', LOG_LEVEL: 'debug', NANGO_SHUTDOWN_GRACE_SECONDS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  let output = '';
  const listeners: (() => void)[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    output += chunk.toString();
    for (const listener of listeners) listener();
  });
  noteEnvironmentSecrets('server process', env);
  child.once('close', () => noteLog(`server process ${child.pid ?? ''}`, output));
  return { child, stdout: () => stdout, stderr: () => stderr, output: () => output, onData: (listener) => listeners.push(listener) };
}

/** Runs the server expecting it to exit by itself (a refused start); kills it after the timeout. */
export function runServerToExit(env: Record<string, string>, options: RunOptions = {}): Promise<ExitedServer> {
  const started = Date.now();
  const spawned = spawnServer(env, options.cwd ?? scratchDir('server-cwd'));
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      spawned.child.kill('SIGKILL');
      reject(new Error(`The server kept running for ${timeoutMs} ms instead of exiting:\n${spawned.output()}`));
    }, timeoutMs);
    // 'close' rather than 'exit': every byte of stdout and stderr has been read by then.
    spawned.child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: spawned.stdout(), stderr: spawned.stderr(), durationMs: Date.now() - started });
    });
  });
}

/** A server caught in the middle of its start, to be signalled there. */
export interface StartingServer {
  child: ChildProcess;
  output(): string;
  /** Resolves when the process has exited and all it wrote was read. */
  exited: Promise<ExitedServer>;
}

/** Starts the server and resolves as soon as its output matches `pattern` (a line of a start-up step). */
export async function startServerUntil(env: Record<string, string>, pattern: RegExp, options: RunOptions = {}): Promise<StartingServer> {
  const started = Date.now();
  const spawned = spawnServer(env, options.cwd ?? scratchDir('server-cwd'));
  const exited = new Promise<ExitedServer>((resolve) =>
    spawned.child.once('close', (code, signal) => resolve({ code, signal, stdout: spawned.stdout(), stderr: spawned.stderr(), durationMs: Date.now() - started })),
  );
  const timeoutMs = options.timeoutMs ?? 60_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      spawned.child.kill('SIGKILL');
      reject(new Error(`The server did not print ${pattern} within ${timeoutMs} ms:\n${spawned.output()}`));
    }, timeoutMs);
    spawned.onData(() => {
      if (!pattern.test(spawned.output())) return;
      clearTimeout(timer);
      resolve();
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`The server exited before printing ${pattern}:\n${spawned.output()}`));
    });
  });
  return { child: spawned.child, output: spawned.output, exited };
}

/** Starts the server and resolves once it logs the port it listens on. */
export async function startServer(env: Record<string, string>, options: RunOptions = {}): Promise<RunningServer> {
  const spawned = spawnServer(env, options.cwd ?? scratchDir('server-cwd'));
  const { child } = spawned;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The server did not start within ${timeoutMs} ms:\n${spawned.output()}`));
    }, timeoutMs);
    spawned.onData(() => {
      const match = /Server listening on port (\d+)/.exec(spawned.output());
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The server exited with code ${code} before listening:\n${spawned.output()}`));
    });
  });
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    stdout: spawned.stdout,
    stderr: spawned.stderr,
    output: spawned.output,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('close', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}
