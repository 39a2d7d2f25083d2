import { benchmarkAudit } from './audit.js';
import { benchmarkKeeper } from './keeper.js';
import { benchmarkReads } from './reads.js';
import { benchmarkRefresh } from './refresh.js';
import { benchmarkScale } from './scale.js';
import { benchmarkStartup } from './startup.js';
import { assertBuilt } from './support/built-server.js';
import { withCleanup, type Cleanup } from './support/cleanup.js';
import { isSectionName, SECTIONS, updatePerformanceDoc, type SectionName } from './support/performance-doc.js';
import { progress } from './support/progress.js';
import { readSettings, type BenchSettings } from './support/settings.js';

/**
 * `tsx bench/run.ts <reads|startup|refresh|scale|keeper|audit|all>`: runs the benchmarks named and writes their sections
 * of docs/performance.md. A benchmark that fails is reported and the others still run.
 */
const BENCHMARKS: Record<SectionName, (settings: BenchSettings, cleanup: Cleanup) => Promise<string>> = {
  reads: benchmarkReads,
  startup: benchmarkStartup,
  refresh: benchmarkRefresh,
  scale: benchmarkScale,
  keeper: benchmarkKeeper,
  audit: benchmarkAudit,
};

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const names = requested.length === 0 || requested.includes('all') ? (Object.keys(SECTIONS) as SectionName[]) : requested;
  const unknown = names.filter((name) => !isSectionName(name));
  if (unknown.length > 0) {
    process.stderr.write(`Unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(SECTIONS).join(', ')} or all.\n`);
    return 2;
  }
  const settings = readSettings();
  assertBuilt();
  let failed = 0;
  for (const name of names as SectionName[]) {
    progress(`${name}: starting`);
    try {
      const section = await withCleanup((cleanup) => BENCHMARKS[name](settings, cleanup));
      // Written after each benchmark, so a later failure keeps the figures already taken.
      updatePerformanceDoc(settings.output, { [name]: section });
      progress(`${name}: done, written to ${settings.output}`);
    } catch (error) {
      failed++;
      process.stderr.write(`bench: ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

// Exit explicitly: kept-alive client sockets must not hold the process open once everything is stopped.
process.exit(await main());
