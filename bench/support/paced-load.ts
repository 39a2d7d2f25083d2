import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterWarmup, generatorCpuMeter, latencyPercentiles, type LoadResult, type LoadTarget } from './load.js';
import { serverCpuMeter } from './process-cpu.js';

/**
 * An open-loop load: requests leave at a steady pace whatever the answers do, spread round-robin over
 * `connections` kept-alive connections (one socket each, like that many clients). Under autocannon's
 * closed loop every connection sends its next request the moment an answer arrives, so once the server
 * is busy the p50 is mostly time spent queueing; at a pace the server keeps up with, the p50 is the time
 * a request takes, which is what "the proxy adds under 1 ms" is about. autocannon's own rate limit is no
 * substitute: it sends each second's quota as one burst.
 *
 * Latency runs from the moment a request is handed to node:http (a late timer is not counted: the
 * generator's timer resolution, about 1 ms, would otherwise swamp what is measured) to its last byte. A
 * request whose connection is still busy waits for it, and that wait is counted.
 */
export async function runPaced(target: LoadTarget, connections: number, ratePerSecond: number, durationSeconds: number): Promise<LoadResult> {
  const agents = Array.from({ length: connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const latencies: number[] = [];
  let failures = 0;
  const pending = new Set<Promise<void>>();
  const send = (agent: http.Agent): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      let settled = false;
      // A request that fails after its answer began can report both a response and a request error: count it once.
      const settle = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        if (ok) latencies.push(performance.now() - started);
        else failures++;
        resolve();
      };
      const request = http.get(target.url, { agent, headers: target.headers ?? {} }, (response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        response.once('end', () => settle(status >= 200 && status < 300));
        response.on('error', () => settle(false));
      });
      request.setTimeout(30_000, () => request.destroy(new Error('timed out')));
      request.on('error', () => settle(false));
    });

  const intervalMs = 1000 / ratePerSecond;
  const total = Math.round(ratePerSecond * durationSeconds);
  const begin = performance.now();
  const cpu = generatorCpuMeter();
  const serverCpu = serverCpuMeter(target.pid);
  try {
    for (let sent = 0; sent < total; sent++) {
      const due = begin + sent * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const exchange = send(agents[sent % connections]!);
      pending.add(exchange);
      void exchange.then(() => pending.delete(exchange));
    }
    await Promise.all(pending);
  } finally {
    for (const agent of agents) agent.destroy();
  }
  const elapsedSeconds = (performance.now() - begin) / 1000;
  return {
    connections,
    durationSeconds: elapsedSeconds,
    requestsPerSecond: latencies.length / elapsedSeconds,
    ...latencyPercentiles(latencies),
    failures,
    generatorCpu: cpu(),
    serverCpuMicros: serverCpu(latencies.length),
  };
}

/** A paced warm-up whose figures are thrown away, then the measured paced run. */
export function measurePaced(target: LoadTarget, connections: number, ratePerSecond: number, durationSeconds: number, warmupSeconds: number): Promise<LoadResult> {
  return afterWarmup(target, durationSeconds, warmupSeconds, (seconds) => runPaced(target, connections, ratePerSecond, seconds));
}
