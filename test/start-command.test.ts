import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/package-root.js';

/** package.json's start script as words: `node`, its flags, the entry point. */
function npmStart(): string[] {
  const scripts = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  return (scripts['start'] ?? '').trim().split(/\s+/);
}

/** The Dockerfile's last exec-form CMD (the HEALTHCHECK's CMD comes before it). */
function dockerCmd(): string[] {
  const commands = readFileSync(path.join(PACKAGE_ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('CMD '));
  return JSON.parse((commands.at(-1) ?? 'CMD []').slice('CMD '.length)) as string[];
}

// docs/performance.md ("How the figures are made", Node.js flags): the figures are measured with npm start's
// flags, so every documented way of starting the server runs it with them.
describe('the command that starts the server', () => {
  it('is the same in the Docker image as in npm start, flags included', () => {
    expect(dockerCmd()).toEqual(npmStart());
    expect(npmStart().at(-1)).toBe('dist/src/server.js');
  });

  it('has flags this Node.js accepts', () => {
    const flags = npmStart().slice(1, -1);
    expect(flags.length).toBeGreaterThan(0);
    expect(execFileSync(process.execPath, [...flags, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' })).toBe('ok');
  });
});
