import { spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { scratchDir } from './scratch.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAIN = path.join(PACKAGE_ROOT, 'src/cli/main.ts');
// An absolute loader URL, so the CLI can run in any working directory (init writes relative to it).
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
let links: string | undefined;

/**
 * The CLI as a real process, started through a link named `custody` or `nango` (as npm installs its bin), so
 * it calls itself by that name; with only the environment given (PATH and HOME aside; undefined leaves one out).
 */
export function runCliProcess(
  name: 'custody' | 'nango',
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; stdin?: string } = {},
): Promise<CliResult> {
  if (!links) {
    links = scratchDir('cli-bin');
    for (const link of ['custody', 'nango']) symlinkSync(MAIN, path.join(links, link));
  }
  const env: Record<string, string> = {};
  for (const [variable, value] of Object.entries({ PATH: process.env['PATH'], HOME: process.env['HOME'], ...options.env })) {
    if (value !== undefined) env[variable] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, path.join(links ?? '', name), ...args], {
      cwd: options.cwd ?? PACKAGE_ROOT,
      env,
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
