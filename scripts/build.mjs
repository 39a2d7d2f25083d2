#!/usr/bin/env node
// The build: the server (tsc → dist/src, dist/migrations) and the web UI (vite → dist/web), each announced in
// one line, since both steps are silent until they finish. Afterwards a fingerprint of the sources is kept in
// dist/, and `--if-stale` (what `npm start` runs first) builds only when the sources changed since, so a
// restart takes the time of a start, not of a build.
//   node scripts/build.mjs              build
//   node scripts/build.mjs --if-stale   build only if the sources changed or an output is missing
// Plain JavaScript rather than TypeScript: it runs before anything is compiled, on Node alone.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const fingerprintFile = path.join(dist, '.build-fingerprint');
/** Everything the build reads: a change to any of these makes the next start build again. */
const INPUTS = ['src', 'migrations', 'web', 'providers.yaml', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
/** What the server needs from the build; a missing one means building whatever the fingerprint says. */
const OUTPUTS = ['dist/src/server.js', 'dist/src/cli/main.js', 'dist/web/index.html', 'dist/web/connect/index.html'];

const ifStale = process.argv.includes('--if-stale');
const fingerprint = sourcesFingerprint();
if (ifStale && isFresh(fingerprint)) process.exit(0);

const started = Date.now();
console.log(ifStale && existsSync(fingerprintFile) ? 'The sources changed since the last build: building again.' : 'Building (first start: about half a minute).');
run('Compiling the server (tsc → dist/src)…', 'node_modules/typescript/bin/tsc', ['-p', 'tsconfig.build.json']);
run('Building the dashboard and the Connect UI (vite → dist/web)…', 'node_modules/vite/bin/vite.js', ['build', '--config', 'web/vite.config.ts']);
mkdirSync(dist, { recursive: true });
await precompileCatalog();
writeFileSync(fingerprintFile, `${fingerprint}\n`);
console.log(`Built in ${Math.round((Date.now() - started) / 1000)} s.`);

function run(announcement, script, args) {
  console.log(announcement);
  const result = spawnSync(process.execPath, [path.join(root, script), ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`The build failed (${path.basename(script)} exited with ${result.status ?? result.signal}); see the lines above.`);
    process.exit(1);
  }
}

/**
 * providers.yaml parsed once here, as JSON with the hash of the text it came from: the server reads it instead
 * of parsing the YAML at every start (src/providers/catalog-document.ts), and parses the YAML itself whenever
 * the hash no longer matches. A document that JSON cannot hold exactly is left to the YAML parser.
 */
async function precompileCatalog() {
  const { parse } = await import('yaml');
  const text = readFileSync(path.join(root, 'providers.yaml'), 'utf8');
  const document = parse(text);
  const json = JSON.stringify({ sha256: createHash('sha256').update(text, 'utf8').digest('hex'), document });
  if (!isDeepStrictEqual(JSON.parse(json).document, document)) {
    console.log('providers.yaml holds values JSON cannot represent: the server will parse the YAML at each start.');
    rmSync(path.join(dist, 'providers.json'), { force: true });
    return;
  }
  writeFileSync(path.join(dist, 'providers.json'), `${json}\n`);
}

function isFresh(current) {
  if (!OUTPUTS.every((output) => existsSync(path.join(root, output)))) return false;
  try {
    return readFileSync(fingerprintFile, 'utf8').trim() === current;
  } catch {
    return false;
  }
}

/** A hash of every input file's path and content: checking out another branch and back does not force a build. */
function sourcesFingerprint() {
  const hash = createHash('sha256');
  const add = (relative) => {
    const full = path.join(root, relative);
    if (!existsSync(full)) return;
    if (statSync(full).isDirectory()) {
      for (const name of readdirSync(full).sort()) add(path.join(relative, name));
    } else {
      hash.update(relative).update('\0').update(readFileSync(full)).update('\0');
    }
  };
  for (const input of INPUTS) add(input);
  return hash.digest('hex');
}
