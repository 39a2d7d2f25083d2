import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../package-root.js';
import { parseCatalogText } from './catalog-document.js';
import { ProviderNameSchema, ProviderTemplateSchema, RawCatalogSchema, type ProviderTemplate, type RawEntry } from './provider-schema.js';

export const BUILT_IN_CATALOG = path.join(PACKAGE_ROOT, 'providers.yaml');

export class ProviderCatalogError extends Error {
  override name = 'ProviderCatalogError';
}

export interface ProviderCatalog {
  get(name: string): ProviderTemplate | undefined;
  has(name: string): boolean;
  /** Every provider, sorted by name, aliases resolved. */
  list(): { name: string; template: ProviderTemplate }[];
}

/** Loads the built-in catalog and, if given, an operator's overlay whose entries replace built-in keys one by one. */
export function loadProviderCatalog(overlayFile?: string, builtInFile: string = BUILT_IN_CATALOG): ProviderCatalog {
  const entries = readCatalogFile(builtInFile);
  const fromOverlay = new Set<string>();
  if (overlayFile) {
    for (const [name, overlay] of Object.entries(readCatalogFile(overlayFile, OverlayCatalogSchema))) {
      entries[name] = mergeOverlay(entries[name], overlay);
      fromOverlay.add(name);
    }
  }
  const resolved = new Map<string, ProviderTemplate>();
  for (const name of Object.keys(entries).sort()) {
    // An error in an entry the overlay touched names the overlay file: that is where the operator must look.
    const where = overlayFile && fromOverlay.has(name) ? `The provider catalog ${overlayFile}: ` : '';
    let merged: Omit<RawEntry, 'alias'>;
    try {
      merged = resolveAlias(name, entries, []);
    } catch (error) {
      throw new ProviderCatalogError(`${where}${(error as Error).message}`);
    }
    // A new overlay entry may leave out its name and docs: it is shown by its key, without a docs link.
    const parsed = ProviderTemplateSchema.safeParse({ display_name: name, ...merged });
    if (!parsed.success) throw new ProviderCatalogError(`${where}Provider "${name}" is invalid: ${describeIssues(parsed.error)}`);
    resolved.set(name, parsed.data);
  }
  return {
    get: (name) => resolved.get(name),
    has: (name) => resolved.has(name),
    list: () => [...resolved].map(([name, template]) => ({ name, template })),
  };
}

/**
 * An overlay's entries are only checked for their shape here: one that overrides a single key of a built-in
 * field or of `proxy` is incomplete on its own, and is checked whole once merged.
 */
const OverlayCatalogSchema = z.record(ProviderNameSchema, z.record(z.string(), z.unknown()));

function readCatalogFile(file: string, schema: z.ZodType<Record<string, object>> = RawCatalogSchema): Record<string, RawEntry> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ProviderCatalogError(`Cannot read the provider catalog ${file}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseCatalogText(text);
  } catch (error) {
    throw new ProviderCatalogError(`The provider catalog ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = schema.safeParse(document ?? {});
  if (!parsed.success) throw new ProviderCatalogError(`The provider catalog ${file} is invalid: ${describeIssues(parsed.error)}`);
  return parsed.data as Record<string, RawEntry>;
}

function resolveAlias(name: string, entries: Record<string, RawEntry>, seen: string[]): Omit<RawEntry, 'alias'> {
  const entry = entries[name];
  if (!entry) throw new ProviderCatalogError(`Provider "${seen.at(-1)}" is an alias of "${name}", which does not exist.`);
  if (seen.includes(name)) throw new ProviderCatalogError(`Provider aliases form a loop: ${[...seen, name].join(' → ')}.`);
  const { alias, ...own } = entry;
  if (!alias) return own;
  return { ...resolveAlias(alias, entries, [...seen, name]), ...own };
}

/**
 * An overlay entry laid over the built-in one: objects (proxy, connection_config, a field, token_params) merge
 * key by key, so overriding one key of one field needs nothing else; lists and values replace.
 */
function mergeOverlay(base: RawEntry | undefined, overlay: RawEntry): RawEntry {
  return base ? (deepMerge(base, overlay) as RawEntry) : overlay;
}

function deepMerge(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) merged[key] = deepMerge(base[key], value);
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
