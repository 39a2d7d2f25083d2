#!/usr/bin/env node
import { programNameFrom, runCli } from './run.js';

/** The `custody` executable (alias `nango`): the seed-era Nango CLI commands and Custody's own, against NANGO_HOSTPORT. */
const exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  programName: programNameFrom(process.argv[1]),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
});
// Set, not process.exit(): stdout piped to another program is flushed before the process ends.
process.exitCode = exitCode;
