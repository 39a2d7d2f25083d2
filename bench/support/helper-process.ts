import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from './cleanup.js';
import { guardPid } from './exit-guard.js';

/**
 * The floor and the upstream run in processes of their own, as the server does: sharing the load
 * generator's event loop would slow them down and make the comparison unfair.
 */
export interface HelperProcess {
  pid: number;
  origin: string;
}

const HELPERS_DIR = fileURLToPath(new URL('../helpers/', import.meta.url));
// By absolute URL: `--import tsx` would be resolved from the working directory.
const TSX_LOADER = import.meta.resolve('tsx');

/** Starts `bench/helpers/<name>.ts`, which prints `LISTENING <port>` once it listens on 127.0.0.1. */
export async function startHelper(name: string, env: Record<string, string>, cleanup: Cleanup): Promise<HelperProcess> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(HELPERS_DIR, `${name}.ts`)], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`The ${name} helper could not be spawned.`);
  const release = guardPid(pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanup.add(`${name} helper ${pid}`, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    release();
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`The ${name} helper did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /^LISTENING (\d+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`The ${name} helper exited before listening:\n${output}`));
    });
  });
  return { pid, origin: `http://127.0.0.1:${port}` };
}
