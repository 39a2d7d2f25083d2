import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';

/**
 * Every knob of the benchmarks, from the environment, so a quick check (`BENCH_DURATION_SECONDS=2
 * BENCH_SCALE_CONNECTIONS=5000`) runs the same code as the full measurement.
 */
export interface BenchSettings {
  /** Length of each measured autocannon run. */
  durationSeconds: number;
  /** Unmeasured run before each measured one: JIT, pools and keep-alive sockets are warm when measuring starts. */
  warmupSeconds: number;
  /** Alternating rounds of the read benchmark's floor and routes; figures are medians over them. */
  rounds: number;
  /** Another server measured beside ours (BENCH_PEER_URL: the full URL of one credential read there; BENCH_PEER_AUTH: its Authorization header). */
  peer: { url: string; authorization: string | undefined } | undefined;
  /** autocannon connection counts for the read benchmark. */
  concurrencies: number[];
  /** Requests per second of the paced (open-loop) proxy runs, spread over each of `concurrencies`. */
  pacedRate: number;
  /** Connections present while `GET /connections` is measured. */
  listConnections: number;
  /** Connections present for the scale benchmark. */
  scaleConnections: number;
  /** Concurrent readers of the expired connection, and how many times the race is run. */
  refreshReaders: number;
  refreshRounds: number;
  /** How long the local token endpoint takes to answer, standing in for a real provider's latency. */
  tokenDelayMs: number;
  /** Starts on the existing data directory after the fresh one. */
  startupRepeats: number;
  /** LOG_LEVEL of the servers under benchmark. */
  logLevel: string;
  /** The markdown file the figures go to. */
  output: string;
  /** BENCH_READS_ONLY=proxy: `bench:reads` measures only the proxy, the bare relay and the upstream (no read or list rounds). */
  readsOnlyProxy: boolean;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const durationSeconds = integer(env, 'BENCH_DURATION_SECONDS', 10, 1);
  return {
    durationSeconds,
    warmupSeconds: integer(env, 'BENCH_WARMUP_SECONDS', Math.min(2, durationSeconds), 0),
    rounds: integer(env, 'BENCH_ROUNDS', 3, 1),
    peer: peerOf(env),
    concurrencies: integerList(env, 'BENCH_CONCURRENCIES', [10, 50]),
    pacedRate: integer(env, 'BENCH_PACED_RATE', 500, 1),
    listConnections: integer(env, 'BENCH_LIST_CONNECTIONS', 10_000, 1),
    scaleConnections: integer(env, 'BENCH_SCALE_CONNECTIONS', 100_000, 1),
    refreshReaders: integer(env, 'BENCH_REFRESH_READERS', 200, 2),
    refreshRounds: integer(env, 'BENCH_REFRESH_ROUNDS', 5, 1),
    tokenDelayMs: integer(env, 'BENCH_TOKEN_DELAY_MS', 100, 0),
    startupRepeats: integer(env, 'BENCH_STARTUP_REPEATS', 3, 1),
    logLevel: env['BENCH_LOG_LEVEL'] ?? 'warn',
    output: path.resolve(PACKAGE_ROOT, env['BENCH_OUTPUT'] ?? 'docs/performance.md'),
    readsOnlyProxy: readsOnly(env),
  };
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min} (got "${raw}").`);
  return value;
}

function integerList(env: NodeJS.ProcessEnv, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.some((value) => !Number.isInteger(value) || value < 1)) throw new Error(`${name} must be a comma-separated list of positive integers (got "${raw}").`);
  return values;
}

function readsOnly(env: NodeJS.ProcessEnv): boolean {
  const value = env['BENCH_READS_ONLY']?.trim();
  if (value === undefined || value === '') return false;
  if (value === 'proxy') return true;
  throw new Error(`BENCH_READS_ONLY must be "proxy" (measure only the proxy rows of bench:reads) or unset (got "${value}").`);
}

function peerOf(env: NodeJS.ProcessEnv): BenchSettings['peer'] {
  const url = env['BENCH_PEER_URL']?.trim();
  if (!url) return undefined;
  if (!URL.canParse(url)) throw new Error(`BENCH_PEER_URL must be the full URL of one credential read on the other server (got "${url}").`);
  return { url, authorization: env['BENCH_PEER_AUTH']?.trim() || undefined };
}
