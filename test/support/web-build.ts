import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { WEB_ROOT } from '../../src/routes/static-web.js';

const SOURCES = path.join(PACKAGE_ROOT, 'web');
const STAMP = path.join(WEB_ROOT, '.source-hash');
const LOCK = path.join(PACKAGE_ROOT, 'dist', '.web-build.lock');

/**
 * The web UI built into dist/web from the current sources, as `npm run build:web` does. Test files that
 * need it call this first; it builds only when web/ changed since the last build (a hash of the sources is
 * kept beside the build), and two test files running at once build it once (a lock directory).
 */
export function ensureWebBuild(): void {
  const hash = sourceHash();
  if (readStamp() === hash) return;
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Another test file is building; a lock older than two minutes is left over from a killed run.
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('Timed out waiting for another web build to finish.');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      if (readStamp() === hash) return;
    }
  }
  try {
    if (readStamp() === hash) return;
    const result = spawnSync(process.execPath, [path.join(PACKAGE_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(SOURCES, 'vite.config.ts')], {
      cwd: PACKAGE_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (result.status !== 0) throw new Error(`The web build failed:\n${result.stdout}\n${result.stderr}`);
    writeFileSync(STAMP, hash);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function readStamp(): string | undefined {
  try {
    return existsSync(path.join(WEB_ROOT, 'index.html')) ? readFileSync(STAMP, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else hash.update(path.relative(SOURCES, full)).update('\0').update(readFileSync(full)).update('\0');
    }
  };
  walk(SOURCES);
  return hash.digest('hex');
}
