import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * docs/performance.md: one section per benchmark between markers, so each `bench:<name>` script replaces
 * its own section and keeps the others' figures.
 */
export const SECTIONS = {
  reads: 'Reads beside the floor',
  startup: 'Cold start and memory',
  refresh: 'Refresh under contention',
  scale: 'Scale: 100,000 connections',
  keeper: 'Token keeper: one sweep over 100,000 connections',
  audit: 'Audit trail volume',
} as const;

export type SectionName = keyof typeof SECTIONS;

export function isSectionName(value: string): value is SectionName {
  return Object.hasOwn(SECTIONS, value);
}

const HEADER = `# Performance

Figures from the benchmarks in [\`bench/\`](../bench/README.md), taken against the built server
(\`node dist/src/server.js\`) on a PostgreSQL of the benchmark's own, every request on 127.0.0.1.
\`npm run bench\` measures everything and rewrites this file; \`npm run bench:reads\`, \`bench:startup\`,
\`bench:refresh\`, \`bench:scale\`, \`bench:keeper\` and \`bench:audit\` each replace only their own section. Each section says when, on what
and for how long it was measured: compare figures taken on the same machine only.
`;

const begin = (name: SectionName): string => `<!-- bench:${name}:begin -->`;
const end = (name: SectionName): string => `<!-- bench:${name}:end -->`;

export function updatePerformanceDoc(file: string, updated: Partial<Record<SectionName, string>>): void {
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // What precedes the first section is written by hand (how the figures are made) and kept as it is.
  const firstSection = existing.indexOf('<!-- bench:');
  const parts = [firstSection > 0 ? `${existing.slice(0, firstSection).trimEnd()}\n` : HEADER];
  for (const name of Object.keys(SECTIONS) as SectionName[]) {
    const body = updated[name] ?? previous(existing, name) ?? `## ${SECTIONS[name]}\n\n_Not measured yet: run \`npm run bench:${name}\`._`;
    parts.push(`${begin(name)}\n${body.trim()}\n${end(name)}\n`);
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, parts.join('\n'));
}

function previous(doc: string, name: SectionName): string | undefined {
  const from = doc.indexOf(begin(name));
  const to = doc.indexOf(end(name));
  if (from === -1 || to === -1 || to < from) return undefined;
  return doc.slice(from + begin(name).length, to);
}
