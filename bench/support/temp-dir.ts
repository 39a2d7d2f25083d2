import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cleanup } from './cleanup.js';
import { guardTempDir } from './exit-guard.js';

/** A temporary folder removed when the benchmark ends. */
export function makeTempDir(prefix: string, cleanup: Cleanup): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `custody-bench-${prefix}-`));
  // mkdtemp makes it private; run as root, PostgreSQL runs as its own OS user, which must be able to enter it.
  chmodSync(dir, 0o755);
  const release = guardTempDir(dir);
  cleanup.add(`temporary folder ${dir}`, () => {
    rmSync(dir, { recursive: true, force: true });
    release();
  });
  return dir;
}
