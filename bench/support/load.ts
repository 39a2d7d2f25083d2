import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { percentile } from './percentile.js';
import { serverCpuMeter } from './process-cpu.js';

/**
 * One autocannon run. autocannon's own latency histogram counts whole milliseconds, too coarse for
 * "the proxy adds under 1 ms", so the fractional latency of every 2xx response is kept and the
 * percentiles are computed from those.
 */
export interface LoadTarget {
  url: string;
  headers?: Record<string, string>;
  /** Several requests cycled through by each connection (instead of GET `url`). */
  requests?: autocannon.Request[];
  /** The process that answers: its CPU per request is measured beside the load (Linux only). */
  pid?: number;
}

export interface LoadResult {
  connections: number;
  durationSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx answers, socket errors and timeouts: anything but 0 makes the run suspect. */
  failures: number;
  /** CPU the load generator (this process) used during the run, as a share of one core: what it took from the server. */
  generatorCpu: number;
  /** CPU (user + system) the answering process (`LoadTarget.pid`) used per 2xx answer, in µs; undefined when not measured. */
  serverCpuMicros: number | undefined;
}

/** Measures this process's CPU from now on: call the result at the end of a run for its share of one core. */
export function generatorCpuMeter(): () => number {
  const startCpu = process.cpuUsage();
  const startWall = performance.now();
  return () => {
    const used = process.cpuUsage(startCpu);
    const wallMicros = (performance.now() - startWall) * 1000;
    return wallMicros > 0 ? (used.user + used.system) / wallMicros : 0;
  };
}

export function runLoad(target: LoadTarget, connections: number, durationSeconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const cpu = generatorCpuMeter();
  const serverCpu = serverCpuMeter(target.pid);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        connections,
        duration: durationSeconds,
        pipelining: 1,
        timeout: 30,
        ...(target.headers ? { headers: target.headers } : {}),
        ...(target.requests ? { requests: target.requests } : {}),
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          connections,
          durationSeconds: result.duration,
          requestsPerSecond: result['2xx'] / result.duration,
          ...latencyPercentiles(latencies),
          failures: result.non2xx + result.errors + result.timeouts,
          generatorCpu: cpu(),
          serverCpuMicros: serverCpu(result['2xx']),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
    });
  });
}

/** A warm-up run whose figures are thrown away, then the measured run. */
export function measure(target: LoadTarget, connections: number, durationSeconds: number, warmupSeconds: number): Promise<LoadResult> {
  return afterWarmup(target, durationSeconds, warmupSeconds, (seconds) => runLoad(target, connections, seconds));
}

/** `run` for `warmupSeconds`, figures thrown away (JIT, pools and kept-alive sockets warm up), then for `durationSeconds`. */
export async function afterWarmup(target: LoadTarget, durationSeconds: number, warmupSeconds: number, run: (seconds: number) => Promise<LoadResult>): Promise<LoadResult> {
  if (warmupSeconds > 0) {
    const warmup = await run(warmupSeconds);
    // A setup mistake (wrong key, unknown connection) shows up here, before a whole run is wasted on it.
    if (warmup.requestsPerSecond === 0) throw new Error(`Every warm-up request to ${target.url} failed.`);
  }
  return run(durationSeconds);
}

/** p50 and p99 of the 2xx responses' own latencies, in fractional milliseconds. */
export function latencyPercentiles(latencies: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = Float64Array.from(latencies).sort();
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}
