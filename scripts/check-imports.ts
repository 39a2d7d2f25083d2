/**
 * Fails when files import each other in a loop, type imports included: a cycle means two files share one
 * concept, or a low layer reaches up into a higher one. Checks the server (`src/`) and the web UI (`web/src/`);
 * run by `npm run lint`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOTS = ['src', 'web/src'];

const SOURCE = /\.tsx?$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The file a relative specifier names: `./x.js` is `./x.ts` under NodeNext, `./x` is `./x.ts(x)` or its index under the web build. */
function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.join(path.dirname(from), specifier);
  const stem = base.replace(/\.(js|jsx|ts|tsx)$/, '');
  const candidates = [`${stem}.ts`, `${stem}.tsx`, path.join(base, 'index.ts'), path.join(base, 'index.tsx')];
  return candidates.find((candidate) => existsSync(candidate));
}

function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const targets = info.importedFiles.map((imported) => resolve(file, imported.fileName)).filter((target): target is string => target !== undefined);
  return [...new Set(targets)];
}

/** Tarjan's strongly connected components: every component of more than one file (or a file importing itself) is a cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

const graph = new Map<string, string[]>();
for (const root of ROOTS) for (const file of sourceFiles(root)) graph.set(file, importsOf(file));
const found = cycles(graph);
if (found.length === 0) {
  process.stdout.write(`No import cycles among ${graph.size} files of ${ROOTS.join(' and ')}.\n`);
} else {
  for (const component of found) {
    const members = new Set(component);
    process.stderr.write(`Import cycle among ${component.length} files (type imports count too):\n`);
    for (const file of component) {
      const inside = (graph.get(file) ?? []).filter((target) => members.has(target));
      process.stderr.write(`  ${file} -> ${inside.join(', ')}\n`);
    }
  }
  process.stderr.write('Move what these files share into a file of its own that none of them imports back.\n');
  process.exitCode = 1;
}
