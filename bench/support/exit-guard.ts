import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * The last resort when the benchmark dies without running its cleanup (an uncaught error, a second Ctrl-C):
 * on process exit, synchronously kill every child still registered, stop every PostgreSQL cluster still
 * registered and remove the temporary folders. Only synchronous work is possible in an 'exit' listener.
 */
const pids = new Set<number>();
const clusterDirs = new Set<string>();
const tempDirs = new Set<string>();

process.on('exit', () => {
  for (const pid of pids) signal(pid, 'SIGKILL');
  // A postmaster runs in its own process group (detached), so killing our children does not reach it.
  for (const dir of clusterDirs) {
    const pid = postmasterPid(dir);
    if (pid !== undefined) signal(pid, 'SIGQUIT');
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Kill this process when we exit; call the returned function once it has stopped normally. */
export function guardPid(pid: number): () => void {
  pids.add(pid);
  return () => pids.delete(pid);
}

/** Stop the postmaster of this cluster directory (the one holding postmaster.pid) when we exit. */
export function guardCluster(clusterDir: string): () => void {
  clusterDirs.add(clusterDir);
  return () => clusterDirs.delete(clusterDir);
}

export function guardTempDir(dir: string): () => void {
  tempDirs.add(dir);
  return () => tempDirs.delete(dir);
}

export function postmasterPid(clusterDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}
