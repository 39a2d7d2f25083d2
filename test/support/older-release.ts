import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { scratchDir } from './scratch.js';

/**
 * An earlier release of the server, built from git: the sources, migrations and catalog of `commit`
 * (`git archive`) in a scratch folder, run under tsx with this checkout's node_modules (linked beside them),
 * which is seconds instead of an `npm ci`. Valid while that release's package.json asks for the same
 * dependencies as this one; the caller checks that, so a spec never runs old code on packages it never knew.
 */
export interface OlderRelease {
  commit: string;
  /** Its `src/server.ts`, for startServerProcess. */
  entry: string;
}

const FILES = ['src', 'migrations', 'package.json', 'providers.yaml', 'provider-logos.json', 'tsconfig.json'];

export function checkOutOlderRelease(commit: string): OlderRelease {
  const git = (args: string[], options: { input?: Buffer } = {}) => spawnSync('git', args, { cwd: PACKAGE_ROOT, maxBuffer: 256 * 1024 * 1024, ...options });
  if (git(['cat-file', '-e', `${commit}^{commit}`]).status !== 0) {
    throw new Error(`Commit ${commit} is not in this clone's history (a shallow clone?); the upgrade spec builds that release from git. Fetch the full history (git fetch --unshallow).`);
  }
  const olderPackage = git(['show', `${commit}:package.json`]).stdout.toString();
  const ours = readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8');
  const dependencies = (text: string) => JSON.stringify(((JSON.parse(text) as { dependencies?: unknown }).dependencies ?? {}));
  if (dependencies(olderPackage) !== dependencies(ours)) {
    throw new Error(`The release at ${commit} depends on other package versions than this checkout; it cannot run on this node_modules.`);
  }
  const dir = scratchDir('older-release');
  const archive = git(['archive', '--format=tar', commit, ...FILES]);
  if (archive.status !== 0) throw new Error(`git archive ${commit} failed: ${archive.stderr.toString()}`);
  const extract = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
  if (extract.status !== 0) throw new Error(`Extracting ${commit} failed: ${extract.stderr.toString()}`);
  symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const entry = path.join(dir, 'src', 'server.ts');
  if (!existsSync(entry)) throw new Error(`The release at ${commit} has no src/server.ts.`);
  return { commit, entry };
}
