import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPort } from '../../src/db/free-port.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import type { Cleanup } from './cleanup.js';
import { guardPid } from './exit-guard.js';

/** The compiled server, as an operator runs it (`node dist/src/server.js`), never the TypeScript sources. */
export const SERVER_ENTRY = path.join(PACKAGE_ROOT, 'dist/src/server.js');

/**
 * The Node.js flags `npm start` gives the server (package.json's start script, the same as the Dockerfile's
 * CMD), so the benchmarks measure the process operators run. BENCH_NODE_FLAGS replaces them ("" for none),
 * to measure what a flag changes.
 */
export function serverNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env['BENCH_NODE_FLAGS'];
  if (override !== undefined) return override.split(/\s+/).filter(Boolean);
  const start = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'] ?? '';
  const words = start.trim().split(/\s+/);
  if (words[0] !== 'node' || words.at(-1) !== 'dist/src/server.js') throw new Error(`package.json's start script is not "node [flags] dist/src/server.js": ${start}`);
  return words.slice(1, -1);
}

export interface BuiltServer {
  pid: number;
  port: number;
  baseUrl: string;
  /** From spawn to the first `GET /health` answered 200. */
  startMs: number;
  /** stdout and stderr so far (little at LOG_LEVEL=warn), for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after the grace period; resolves with how long the stop took. */
  stop(): Promise<number>;
}

export interface ServerOptions {
  env: Record<string, string>;
  /** Working directory: a temporary one, so no `.env` file of the developer's is read. */
  cwd: string;
  logLevel: string;
  timeoutMs?: number;
}

export function assertBuilt(): void {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${path.relative(PACKAGE_ROOT, SERVER_ENTRY)} is missing: run \`npm run build\` first (the npm bench scripts do).`);
}

export async function startBuiltServer(options: ServerOptions, cleanup: Cleanup): Promise<BuiltServer> {
  assertBuilt();
  // SERVER_PORT=0 would hide the port: at LOG_LEVEL=warn the server does not log the one it got.
  const port = await freeLoopbackPort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const started = performance.now();
  // BENCH_CPU_PROFILE_DIR: each server writes a V8 CPU profile there when it stops (open it in Chrome's DevTools).
  const profileDir = process.env['BENCH_CPU_PROFILE_DIR'];
  const nodeArgs = [...serverNodeFlags(), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, SERVER_ENTRY], {
    cwd: options.cwd,
    // A clean environment: only what the benchmark sets, so a developer's own NANGO_* variables cannot leak in.
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', TELEMETRY: 'false', LOG_LEVEL: options.logLevel, ...options.env, SERVER_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('The server process could not be spawned.');
  const release = guardPid(pid);
  let output = '';
  const keep = (chunk: Buffer): void => {
    // The tail is enough to explain a failure; a chatty log must not grow without bound.
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    release();
  });

  let stopping: Promise<number> | undefined;
  const stop = (): Promise<number> =>
    (stopping ??= (async () => {
      const begun = performance.now();
      if (hasExited) return 0;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      return performance.now() - begun;
    })());
  cleanup.add(`server process ${pid}`, stop);

  const deadline = started + (options.timeoutMs ?? 120_000);
  for (;;) {
    if (hasExited) throw new Error(`The server exited before answering /health:\n${output}`);
    if (performance.now() > deadline) throw new Error(`The server did not answer /health within ${options.timeoutMs ?? 120_000} ms:\n${output}`);
    if (await healthy(baseUrl)) break;
    // Short polls: the first 200 is the figure the start-up benchmark reports.
    await sleep(5);
  }
  return { pid, port, baseUrl, startMs: performance.now() - started, output: () => output, stop };
}

async function healthy(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}
