import { readFileSync } from 'node:fs';

/**
 * CPU time (user + system) another process has used so far, in microseconds, read from Linux's
 * `/proc/<pid>/stat`; undefined where that file cannot be read (another system, a process that has exited).
 * CPU per request is disturbed less by other work on the machine than requests per second are.
 */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which is in parentheses and may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ: Linux reports CPU time in hundredths of a second on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Starts measuring `pid`'s CPU; call the result with the requests answered meanwhile for the CPU per request in µs. */
export function serverCpuMeter(pid: number | undefined): (requests: number) => number | undefined {
  const start = pid === undefined ? undefined : processCpuMicros(pid);
  return (requests) => {
    if (pid === undefined || start === undefined || requests <= 0) return undefined;
    const end = processCpuMicros(pid);
    return end === undefined ? undefined : (end - start) / requests;
  };
}
