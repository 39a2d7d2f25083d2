import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of processes, read from /proc (Linux): what a request cost the serving process and PostgreSQL,
 * a figure the machine's other load disturbs far less than requests per second. Elsewhere it reads nothing and
 * the tables say so.
 */

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

interface ProcessTimes {
  parent: number;
  /** utime + stime of the process (all its threads), in seconds. */
  own: number;
  /** cutime + cstime: its children that have exited and been waited for, in seconds. */
  reapedChildren: number;
}

function timesOf(pid: number): ProcessTimes | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after its last ')'. Field 4 is the parent,
  // 14 and 15 utime and stime, 16 and 17 cutime and cstime (proc(5), counted from 1).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const field = (n: number): number => fields[n - 3] ?? 0;
  return { parent: field(4), own: (field(14) + field(15)) / TICKS_PER_SECOND, reapedChildren: (field(16) + field(17)) / TICKS_PER_SECOND };
}

/** Seconds of CPU one process has used so far (every thread), or undefined when /proc cannot tell. */
export function processCpuSeconds(pid: number): number | undefined {
  return timesOf(pid)?.own;
}

/**
 * Seconds of CPU a PostgreSQL cluster has used so far: its postmaster and every process it started (backends,
 * WAL writer, checkpointer…), those still running and those that have exited (counted in the postmaster's
 * children's times), and nothing of any other cluster on the machine.
 */
export function clusterCpuSeconds(postmaster: number): number | undefined {
  const root = timesOf(postmaster);
  if (!root) return undefined;
  let total = root.own + root.reapedChildren;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = timesOf(Number(entry));
    if (child?.parent === postmaster) total += child.own;
  }
  return total;
}

/** CPU per request, in microseconds, of each named process group over a run: start it before the run, call the result with the run's request count after. */
export function cpuPerRequestMeter(groups: Record<string, () => number | undefined>): (requests: number) => Record<string, number | undefined> {
  const before = Object.fromEntries(Object.entries(groups).map(([name, read]) => [name, read()]));
  return (requests) =>
    Object.fromEntries(
      Object.entries(groups).map(([name, read]) => {
        const start = before[name];
        const end = read();
        return [name, start === undefined || end === undefined || requests <= 0 ? undefined : ((end - start) / requests) * 1e6];
      }),
    );
}
