import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';

/**
 * A new folder inside this run's temporary folder, for files a fixture leaves behind: the whole run's folder
 * is removed when the run ends (a worker's own exit hooks do not always run).
 */
export function scratchDir(prefix: string): string {
  return mkdtempSync(path.join(inject('scratchRoot'), `${prefix}-`));
}
