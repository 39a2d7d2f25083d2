import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { scratchDir } from './scratch.js';

/**
 * An earlier release of the server, built from git: the sources, migrations and catalog of `commit`
 * (`git archive`) in a scratch folder, run under tsx. While that release asks for the same runtime
 * dependencies as this checkout, it uses this checkout's node_modules (linked beside it): seconds. Once they
 * differ, it gets its own, from its own lockfile (`npm ci --omit=dev`), so old code never runs on packages it
 * never knew.
 */
export interface OlderRelease {
  commit: string;
  /** Its `src/server.ts`, for startServerProcess. */
  entry: string;
}

const FILES = ['src', 'migrations', 'package.json', 'package-lock.json', 'providers.yaml', 'provider-logos.json', 'tsconfig.json'];

export function checkOutOlderRelease(commit: string): OlderRelease {
  const git = (args: string[], options: { input?: Buffer } = {}) => spawnSync('git', args, { cwd: PACKAGE_ROOT, maxBuffer: 256 * 1024 * 1024, ...options });
  if (git(['cat-file', '-e', `${commit}^{commit}`]).status !== 0) {
    throw new Error(`Commit ${commit} is not in this clone's history (a shallow clone?); the upgrade spec builds that release from git. Fetch the full history (git fetch --unshallow).`);
  }
  const olderPackage = git(['show', `${commit}:package.json`]).stdout.toString();
  const ours = readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8');
  const dependencies = (text: string) => JSON.stringify(((JSON.parse(text) as { dependencies?: unknown }).dependencies ?? {}));
  const dir = scratchDir('older-release');
  const archive = git(['archive', '--format=tar', commit, ...FILES]);
  if (archive.status !== 0) throw new Error(`git archive ${commit} failed: ${archive.stderr.toString()}`);
  const extract = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
  if (extract.status !== 0) throw new Error(`Extracting ${commit} failed: ${extract.stderr.toString()}`);
  if (dependencies(olderPackage) === dependencies(ours)) {
    symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  } else {
    // tsx itself still comes from this checkout (startServerProcess loads it by absolute URL).
    const install = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`npm ci for the release at ${commit} failed:\n${install.stderr}`);
  }
  const entry = path.join(dir, 'src', 'server.ts');
  if (!existsSync(entry)) throw new Error(`The release at ${commit} has no src/server.ts.`);
  return { commit, entry };
}
